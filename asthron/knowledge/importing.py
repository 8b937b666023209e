"""Choosing and reading the files ``asthron kb import`` may turn into articles.

Whatever is imported can be quoted to any anonymous visitor, so a file is read only when it is
a regular file of an accepted type (``knowledge.documents``: PDF, DOCX, Markdown, HTML, plain
text, its content agreeing with its name) that really lies inside the folder it was found in:
no symlinks (a link to ``var/secrets.json`` or ``/etc/shadow`` is refused, not followed), no
hard links to the secrets, nothing from ``var/`` or the secrets file's folder, no binary file
posing as text, nothing over the size cap (read no further than the cap).
Each refusal names its file, so the operator can see what was left out and why.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from asthron.knowledge.documents import (
    MAX_DOCUMENT_BYTES,
    TYPES,
    Document,
    DocumentError,
    read_document,
)

IMPORT_SUFFIXES = frozenset(TYPES)
KINDS_TEXT = "PDF, DOCX, Markdown, HTML or text file"


@dataclass(frozen=True)
class ImportFile:
    path: Path
    # The path relative to the folder given ("a/faq.md"), or the file's name when the file
    # itself was given: the article's source, which tells a/faq.md and b/faq.md apart.
    name: str
    document: Document


@dataclass
class ImportPlan:
    files: list[ImportFile] = field(default_factory=list)
    refused: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


NOT_SEARCHED = "is var/ or the secrets folder, so it is not searched"


class _Refused(Exception):
    pass


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _private_inodes(private_dirs: list[Path], private_files: list[Path]) -> set[tuple[int, int]]:
    """(device, inode) of every file under the private folders: a hard link to one of them
    has an innocent path but the secret's content."""
    inodes = set()
    for file in private_files:
        try:
            info = file.stat()
        except OSError:
            continue
        inodes.add((info.st_dev, info.st_ino))
    for folder in private_dirs:
        for root, _dirs, names in os.walk(folder):
            for name in names:
                try:
                    info = os.lstat(os.path.join(root, name))
                except OSError:
                    continue
                inodes.add((info.st_dev, info.st_ino))
    return inodes


def _read_document(path: Path, private_inodes: set[tuple[int, int]], max_bytes: int) -> Document:
    # O_NOFOLLOW: a file swapped for a symlink after the walk is still refused, not followed.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _Refused("is a symlink" if os.path.islink(path) else exc.strerror) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        # A FIFO or a device (/dev/zero) is not a document, and reading one could block forever.
        if not stat.S_ISREG(info.st_mode):
            raise _Refused("is not a regular file")
        if (info.st_dev, info.st_ino) in private_inodes:
            raise _Refused("is a link to a file in var/ or the secrets folder")
        # A 50 MB file is refused from its size, before anything is read or parsed.
        if info.st_size > max_bytes:
            raise _Refused(f"is larger than {max_bytes:,} bytes, the most a file may have")
        data = handle.read(max_bytes + 1)
    try:
        return read_document(path.name, data, max_bytes)
    except DocumentError as exc:
        raise _Refused(str(exc)) from None


def plan_import(
    paths: list[Path],
    private_dirs: list[Path],
    private_files: list[Path] = (),
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> ImportPlan:
    """Which of ``paths`` (files, or folders searched recursively) may be imported.

    ``private_dirs`` (var/ and the secrets file's folder) are never read from, whatever path
    leads there.
    """
    plan = ImportPlan()
    private = [Path(os.path.realpath(p)) for p in private_dirs]
    private_inodes = _private_inodes(private, [Path(p) for p in private_files])

    def consider(path: Path, folder: Path, name: str, listed_in_folder: bool) -> None:
        if path.is_symlink():
            plan.refused.append((path, "is a symlink"))
            return
        if path.suffix.lower() not in IMPORT_SUFFIXES:
            if listed_in_folder:
                plan.skipped.append((path, f"not a {KINDS_TEXT}"))
            else:
                plan.refused.append((path, f"is not a {KINDS_TEXT}, so it cannot be imported"))
            return
        resolved = Path(os.path.realpath(path))
        if not _inside(resolved, folder):
            plan.refused.append((path, f"leaves the folder {folder}"))
            return
        if any(_inside(resolved, p) for p in private):
            plan.refused.append((path, "is in var/ or the secrets folder"))
            return
        try:
            document = _read_document(path, private_inodes, max_bytes)
            plan.files.append(ImportFile(path, name, document))
        except _Refused as exc:
            plan.refused.append((path, str(exc)))

    for given in paths:
        if given.is_symlink():
            plan.refused.append((given, "is a symlink"))
            continue
        folder = Path(os.path.realpath(given if given.is_dir() else given.parent))
        if any(_inside(folder, p) for p in private):
            plan.refused.append((given, "is in var/ or the secrets folder"))
            continue
        if not given.is_dir():
            consider(given, folder, given.name, listed_in_folder=False)
            continue
        # followlinks=False: a symlinked folder is reported, never entered.
        for root, dirs, names in os.walk(given, followlinks=False):
            root_path = Path(root)
            searched = []
            for name in sorted(dirs):
                child = root_path / name
                if child.is_symlink():
                    plan.refused.append((child, "is a symlink"))
                elif any(_inside(Path(os.path.realpath(child)), p) for p in private):
                    plan.refused.append((child, NOT_SEARCHED))
                else:
                    searched.append(name)
            dirs[:] = searched
            for name in sorted(names):
                path = root_path / name
                consider(path, folder, path.relative_to(given).as_posix(), listed_in_folder=True)
    return plan

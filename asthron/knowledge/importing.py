"""Choosing and reading the files ``asthron kb import`` may turn into articles.

Whatever is imported can be quoted to any anonymous visitor, so a file is read only when it is
a regular text file of an accepted type that really lies inside the folder it was found in:
no symlinks (a link to ``var/secrets.json`` or ``/etc/shadow`` is refused, not followed), no
hard links to the secrets, nothing from ``var/`` or the secrets file's folder, nothing binary.
Each refusal names its file, so the operator can see what was left out and why.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from asthron.text import has_controls

IMPORT_SUFFIXES = frozenset({".md", ".markdown", ".txt"})
MAX_IMPORT_BYTES = 1_000_000
# Text may hold tabs, line breaks and form feeds; any other control character means the file
# is binary (or crafted), not an article.
ALLOWED_CONTROLS = "\t\n\r\f"


@dataclass(frozen=True)
class ImportFile:
    path: Path
    text: str


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


def _read_text(path: Path, private_inodes: set[tuple[int, int]]) -> str:
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
        data = handle.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise _Refused(f"is larger than {MAX_IMPORT_BYTES:,} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused("is not UTF-8 text") from None
    if has_controls(text, keep=ALLOWED_CONTROLS):
        raise _Refused("contains control characters, so it is not a text document")
    return text


def plan_import(
    paths: list[Path], private_dirs: list[Path], private_files: list[Path] = ()
) -> ImportPlan:
    """Which of ``paths`` (files, or folders searched recursively) may be imported.

    ``private_dirs`` (var/ and the secrets file's folder) are never read from, whatever path
    leads there.
    """
    plan = ImportPlan()
    private = [Path(os.path.realpath(p)) for p in private_dirs]
    private_inodes = _private_inodes(private, [Path(p) for p in private_files])

    def consider(path: Path, folder: Path, listed_in_folder: bool) -> None:
        if path.is_symlink():
            plan.refused.append((path, "is a symlink"))
            return
        if path.suffix.lower() not in IMPORT_SUFFIXES:
            if listed_in_folder:
                plan.skipped.append((path, "not a .md, .markdown or .txt file"))
            else:
                plan.refused.append((path, "only .md, .markdown and .txt files can be imported"))
            return
        resolved = Path(os.path.realpath(path))
        if not _inside(resolved, folder):
            plan.refused.append((path, f"leaves the folder {folder}"))
            return
        if any(_inside(resolved, p) for p in private):
            plan.refused.append((path, "is in var/ or the secrets folder"))
            return
        try:
            plan.files.append(ImportFile(path, _read_text(path, private_inodes)))
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
            consider(given, folder, listed_in_folder=False)
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
                consider(root_path / name, folder, listed_in_folder=True)
    return plan

"""``asthron kb import``: what a folder of files may and may not put in front of visitors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.fixtures.cli import Cli


def _articles(cli: Cli) -> list[tuple[str, bool, str]]:
    engine = sa.create_engine(cli.database_url)
    try:
        with engine.connect() as connection:
            return [
                (row.title, bool(row.published), row.body)
                for row in connection.execute(
                    sa.text("SELECT title, published, body FROM articles ORDER BY title")
                )
            ]
    finally:
        engine.dispose()


@pytest.fixture
def docs(tmp_path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "delivery.md").write_text("# Delivery\n\nWe deliver on Tuesdays.\n")
    return folder


def _refusals(output: str) -> dict[str, str]:
    found = {}
    for line in output.splitlines():
        if line.startswith("refused: "):
            path, _, reason = line.removeprefix("refused: ").rpartition(": ")
            found[Path(path).name] = reason
    return found


def test_a_symlink_to_the_secrets_file_is_refused_and_nothing_is_imported(
    ready_cli, tmp_path, docs
):
    secrets = tmp_path / "var" / "secrets.json"
    (docs / "faq.md").symlink_to(secrets)
    (docs / "passwd.md").symlink_to("/etc/passwd")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "private.md").write_text("# Private\n\nnot for visitors\n")
    (docs / "more").symlink_to(outside, target_is_directory=True)
    before = _articles(ready_cli)

    result = ready_cli("kb", "import", str(docs))

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    refused = _refusals(result.output)
    assert refused == {
        "faq.md": "is a symlink",
        "passwd.md": "is a symlink",
        "more": "is a symlink",
    }, result.output
    assert result.output.splitlines()[-1].startswith("Error: 3 path(s) refused")
    # Not even the good file: the operator fixes the folder and runs the import again.
    assert _articles(ready_cli) == before
    secret = secrets.read_text()
    assert all(secret not in body for _title, _published, body in _articles(ready_cli))


def test_a_file_named_directly_is_refused_when_it_is_a_symlink(ready_cli, tmp_path, docs):
    (docs / "notes.md").symlink_to(tmp_path / "var" / "secrets.json")

    result = ready_cli("kb", "import", str(docs / "notes.md"))

    assert result.exit_code == 1
    assert _refusals(result.output) == {"notes.md": "is a symlink"}


def test_a_hard_link_to_the_secrets_file_is_refused(ready_cli, tmp_path, docs):
    os.link(tmp_path / "var" / "secrets.json", docs / "notes.md")

    result = ready_cli("kb", "import", str(docs))

    assert result.exit_code == 1
    assert _refusals(result.output) == {
        "notes.md": "is a link to a file in var/ or the secrets folder"
    }


def test_var_and_the_secrets_folder_are_never_read(ready_cli, tmp_path):
    var = tmp_path / "var"
    (var / "notes.md").write_text("# Notes\n\nfrom var\n")

    direct = ready_cli("kb", "import", str(var / "notes.md"))
    folder = ready_cli("kb", "import", str(var))
    # A folder that holds var/ is searched, but var/ itself is not.
    (tmp_path / "readme.md").write_text("# Readme\n\nhello\n")
    parent = ready_cli("kb", "import", str(tmp_path), "--publish")

    assert direct.exit_code == 1 and folder.exit_code == 1
    assert _refusals(direct.output) == {"notes.md": "is in var/ or the secrets folder"}
    assert _refusals(folder.output) == {"var": "is in var/ or the secrets folder"}
    assert parent.exit_code == 1
    assert _refusals(parent.output) == {
        "var": "is var/ or the secrets folder, so it is not searched"
    }
    assert "Notes" not in [title for title, _p, _b in _articles(ready_cli)]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            b"# Title\n\x00\x01\x02binary",
            "contains control characters, so it is not a text document",
        ),
        (b"# Title\n\xff\xfe not utf-8", "is not UTF-8 text"),
        (b"# Title\n\x1b]0;PWNED\x07", "contains control characters, so it is not a text document"),
    ],
)
def test_files_that_are_not_text_are_refused(ready_cli, docs, content, reason):
    (docs / "odd.md").write_bytes(content)

    result = ready_cli("kb", "import", str(docs))

    assert result.exit_code == 1
    assert _refusals(result.output) == {"odd.md": reason}


def test_a_fifo_is_refused_without_blocking(ready_cli, docs):
    os.mkfifo(docs / "pipe.md")

    result = ready_cli("kb", "import", str(docs))

    assert result.exit_code == 1
    assert _refusals(result.output) == {"pipe.md": "is not a regular file"}


def test_other_file_types_in_a_folder_are_skipped_and_said_so(ready_cli, docs):
    (docs / "logo.png").write_bytes(b"\x89PNG\r\n")

    result = ready_cli("kb", "import", str(docs))

    assert result.exit_code == 0, result.output
    assert (
        f"skipped: {docs / 'logo.png'}: not a PDF, DOCX, Markdown, HTML or text file"
        in result.output
    )


def test_imports_are_drafts_unless_published(ready_cli, docs):
    (docs / "returns.txt").write_text("Returns are free within 30 days.\n")

    drafts = ready_cli("kb", "import", str(docs))

    assert drafts.exit_code == 0, drafts.output
    assert "created (draft): Delivery" in drafts.output
    imported = {t: p for t, p, _b in _articles(ready_cli) if t in ("Delivery", "Returns")}
    assert imported == {"Delivery": False, "Returns": False}
    # Drafts are not retrieved, so the assistant cannot quote them yet.
    assert "Delivery" not in ready_cli("kb", "search", "deliver tuesdays").output

    published = ready_cli("kb", "import", str(docs), "--publish")

    assert published.exit_code == 0, published.output
    assert "updated (published): Delivery" in published.output
    imported = {t: p for t, p, _b in _articles(ready_cli) if t in ("Delivery", "Returns")}
    assert imported == {"Delivery": True, "Returns": True}
    assert "Delivery" in ready_cli("kb", "search", "deliver tuesdays").output


SAMPLES = Path(__file__).parents[1] / "knowledge" / "samples"
READABLE_SAMPLES = [
    "price-list.pdf",
    "opening-hours.docx",
    "warranty.md",
    "rental.html",
    "parking.txt",
    "horaires-atelier.md",
]


def _sources(cli: Cli) -> dict[str, tuple[str, str, str]]:
    engine = sa.create_engine(cli.database_url)
    try:
        with engine.connect() as connection:
            return {
                row.title: (row.source_kind, row.source_file, row.source_type)
                for row in connection.execute(
                    sa.text("SELECT title, source_kind, source_file, source_type FROM articles")
                )
            }
    finally:
        engine.dispose()


def test_pdf_docx_markdown_html_and_text_files_become_articles_with_their_source(
    ready_cli, tmp_path
):
    folder = tmp_path / "handbook"
    folder.mkdir()
    for name in READABLE_SAMPLES:
        (folder / name).write_bytes((SAMPLES / name).read_bytes())

    result = ready_cli("kb", "import", str(folder))

    assert result.exit_code == 0, result.output
    assert "Imported 6 file(s) as draft: 6 new, 0 updated." in result.output
    assert _sources(ready_cli) == {
        "Bicycle repair price list": ("file", "price-list.pdf", "pdf"),
        "Opening hours and holidays": ("file", "opening-hours.docx", "docx"),
        "Warranty": ("file", "warranty.md", "markdown"),
        "Bike rental": ("file", "rental.html", "html"),
        "Parking": ("file", "parking.txt", "text"),
        "Horaires de l'atelier": ("file", "horaires-atelier.md", "markdown"),
    }
    # Importing the same files again updates their articles rather than adding new ones.
    again = ready_cli("kb", "import", str(folder))
    assert "Imported 6 file(s) as draft: 0 new, 6 updated." in again.output


def test_files_of_one_name_in_two_subfolders_are_two_articles_known_by_their_paths(
    ready_cli, tmp_path
):
    folder = tmp_path / "handbook"
    (folder / "shipping").mkdir(parents=True)
    (folder / "rental").mkdir()
    (folder / "shipping" / "faq.md").write_text("# Shipping FAQ\n\nWe ship in two days.\n")
    (folder / "rental" / "faq.md").write_text("# Rental FAQ\n\nBikes rent for 20 euros.\n")

    result = ready_cli("kb", "import", str(folder))

    assert result.exit_code == 0, result.output
    assert "Imported 2 file(s) as draft: 2 new, 0 updated." in result.output
    assert _sources(ready_cli) == {
        "Rental FAQ": ("file", "rental/faq.md", "markdown"),
        "Shipping FAQ": ("file", "shipping/faq.md", "markdown"),
    }
    # Each file again updates its own article.
    (folder / "rental" / "faq.md").write_text("# Rental FAQ\n\nBikes rent for 25 euros.\n")
    again = ready_cli("kb", "import", str(folder))
    assert "Imported 2 file(s) as draft: 0 new, 2 updated." in again.output
    bodies = {title: body for title, _published, body in _articles(ready_cli)}
    assert bodies["Rental FAQ"] == "Bikes rent for 25 euros."
    assert bodies["Shipping FAQ"] == "We ship in two days."


def test_bad_files_are_refused_with_a_clear_message_and_a_non_zero_exit(ready_cli, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "encrypted.pdf").write_bytes((SAMPLES / "encrypted.pdf").read_bytes())
    (folder / "damaged.pdf").write_bytes((SAMPLES / "damaged-filter.pdf").read_bytes())
    (folder / "notes.md").write_bytes((SAMPLES / "opening-hours.docx").read_bytes())
    huge = folder / "scan.pdf"
    with huge.open("wb") as handle:  # 50 MB, sparse: refused from its size, never read
        handle.write(b"%PDF-1.7\n")
        handle.truncate(50 * 1024 * 1024)
    (folder / "warranty.md").write_bytes((SAMPLES / "warranty.md").read_bytes())
    before = _articles(ready_cli)

    result = ready_cli("kb", "import", str(folder))

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert _refusals(result.output) == {
        "encrypted.pdf": "is an encrypted (password-protected) PDF; save a copy without a "
        "password and import that",
        "damaged.pdf": "is not a readable PDF (it may be damaged)",
        "notes.md": "is a binary file (a PDF or an office document), not text",
        "scan.pdf": "is larger than 20,971,520 bytes, the most a file may have",
    }
    assert result.output.splitlines()[-1].startswith("Error: 4 path(s) refused")
    assert _articles(ready_cli) == before

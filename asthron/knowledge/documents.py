"""Reading an uploaded or imported file into an article: PDF, DOCX, Markdown, HTML, plain text.

The name says which reader is meant; the content must agree (a binary file named .md, or a
ZIP named .pdf, is refused with a message saying so). Every reader keeps the document's
sections as markdown headings, which the chunker splits at. Whatever reaches an article may be
quoted to anonymous visitors, so nothing here runs code from the file or follows its links.

PDF, DOCX and HTML are parsed in a child process under a time and a memory limit
(``knowledge.bounded``: why there); cheap checks first refuse the shapes known to be slow
(a DOCX whose parts unpack past 20 MB, a PDF whose pages hold more than 100 MB of drawing
instructions, HTML over 5 MB). Whatever goes wrong while reading, the caller gets a
DocumentError saying the file could not be read, never another exception.
"""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass
from pathlib import PurePath

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph
from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import ArrayObject

from asthron.knowledge.bounded import ReadLimitExceeded, run_bounded
from asthron.knowledge.extraction import MAX_HTML_BYTES, page_text
from asthron.text import has_controls

log = logging.getLogger(__name__)

# Generous for a price list or a handbook; a 50 MB scan is refused before anything parses it.
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
MAX_PDF_PAGES = 500
# A page's content stream (its drawing instructions, text included) is parsed whole, at about
# 10 MB a second: a long text document has well under 100 KB a page.
MAX_PDF_CONTENT = 100 * 1024 * 1024
# A DOCX is a ZIP: what it unpacks to is capped too, so a small bomb cannot fill memory. Its
# pictures may be large; its XML (the text and layout, parsed into a tree costing ~25 times
# its size) is capped much lower: a 300-page handbook's document.xml has a few MB.
MAX_DOCX_UNPACKED = 100 * 1024 * 1024
MAX_DOCX_XML = 20 * 1024 * 1024
MAX_TEXT_CHARS = 200_000  # the knowledge service's longest article
ALLOWED_CONTROLS = "\t\n\r\f"

TYPES = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
}
SUPPORTED = "PDF, DOCX, Markdown (.md), HTML and plain text (.txt) files"
KIND_NAMES = {"pdf": "PDF", "docx": "DOCX file", "html": "HTML page"}


class DocumentError(ValueError):
    """The file cannot become an article; the message (without the file name) says why."""


@dataclass(frozen=True)
class Document:
    title: str | None  # None: the caller names it after the file
    body: str  # markdown
    source_type: str  # pdf, docx, markdown, html, text


def document_type(name: str) -> str | None:
    return TYPES.get(PurePath(name).suffix.lower())


def read_document(name: str, data: bytes, max_bytes: int = MAX_DOCUMENT_BYTES) -> Document:
    """The article text of the file ``name`` whose content is ``data``; DocumentError if not."""
    kind = document_type(name)
    if kind is None:
        raise DocumentError(f"is not a supported type: {SUPPORTED} can be imported")
    if len(data) > max_bytes:
        raise DocumentError(f"is larger than {max_bytes:,} bytes, the most a file may have")
    if not data.strip():
        raise DocumentError("is empty")
    if kind == "html" and len(data) > MAX_HTML_BYTES:
        raise DocumentError(
            f"is an HTML page larger than {MAX_HTML_BYTES // 2**20} MB, too large to read"
        )
    if kind in ("markdown", "text"):
        return _read(kind, data)  # decoded, not parsed: nothing to bound
    try:
        return run_bounded(_read, kind, data)
    except DocumentError:
        raise
    except ReadLimitExceeded as exc:
        raise DocumentError(f"could not be read: {exc.reason}") from None
    except Exception as exc:
        # The readers raise all sorts on damaged files (pypdf's NotImplementedError for an
        # unsupported filter, among others); none is the user's to read, all mean the same.
        log.info("a %s file could not be read: %s: %s", kind, type(exc).__name__, exc)
        raise DocumentError(f"is not a readable {KIND_NAMES[kind]} (it may be damaged)") from None


def _read(kind: str, data: bytes) -> Document:
    reader = {
        "pdf": _read_pdf,
        "docx": _read_docx,
        "markdown": _read_markdown,
        "html": _read_html,
        "text": _read_plain,
    }[kind]
    document = reader(data)
    if not document.body.strip():
        raise DocumentError("has no text to import")
    if len(document.body) > MAX_TEXT_CHARS:
        raise DocumentError(
            f"holds more than {MAX_TEXT_CHARS:,} characters of text; split it into smaller files"
        )
    return document


# -- text ------------------------------------------------------------------------------------


def _text(data: bytes) -> str:
    if data[:4] in (b"%PDF", b"PK\x03\x04") or data[:4] == b"\xd0\xcf\x11\xe0":
        raise DocumentError("is a binary file (a PDF or an office document), not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DocumentError("is not UTF-8 text") from None
    if has_controls(text, keep=ALLOWED_CONTROLS):
        raise DocumentError("contains control characters, so it is not a text document")
    return text.lstrip("\ufeff").replace("\r\n", "\n")


def _read_markdown(data: bytes) -> Document:
    text = _text(data)
    lines = text.split("\n")
    first = lines[0].strip() if lines else ""
    if first.startswith("# "):
        return Document(first[2:].strip()[:200], "\n".join(lines[1:]).strip(), "markdown")
    return Document(None, text.strip(), "markdown")


def _read_plain(data: bytes) -> Document:
    return Document(None, _text(data).strip(), "text")


def _read_html(data: bytes) -> Document:
    if data[:4] in (b"%PDF", b"PK\x03\x04") or b"\x00" in data[:4096]:
        raise DocumentError("is a binary file, not an HTML page")
    page = page_text(data)
    if page is None:
        raise DocumentError("has no readable text")
    return Document(page.title or None, page.body, "html")


# -- PDF -------------------------------------------------------------------------------------


def _outline_headings(reader) -> dict[int, list[str]]:
    """The PDF's bookmarks (its sections, when the author made any), by page."""
    headings: dict[int, list[str]] = {}

    def walk(items):
        for item in items:
            if isinstance(item, list):
                walk(item)
                continue
            try:
                page = reader.get_destination_page_number(item)
            except Exception:  # noqa: S112 - a broken bookmark only loses its heading
                continue
            title = " ".join(str(getattr(item, "title", "") or "").split())
            if title and page is not None:
                headings.setdefault(page, []).append(title[:200])

    try:
        walk(reader.outline)
    except Exception:
        return {}
    return headings


def _page_markdown(text: str, headings: list[str], title: str | None) -> list[str]:
    """A page's lines as paragraphs, a line that is one of the page's bookmarks made a
    heading there (bookmarks not found in the text head the page)."""
    wanted = list(headings)
    parts: list[str] = []
    paragraph: list[str] = []

    def close():
        if paragraph:
            parts.append(" ".join(paragraph))
            paragraph.clear()

    for raw in text.split("\n"):
        line = " ".join(raw.split())
        if not line:
            close()
        elif line in wanted:
            close()
            wanted.remove(line)
            parts.append(f"## {line}")
        elif title and line == title and not parts and not paragraph:
            continue  # the title printed at the top of the first page
        else:
            paragraph.append(line)
            # A line ending a sentence usually ends a paragraph in extracted PDF text.
            if line.endswith((".", "!", "?", ":")) and len(line) < 70:
                close()
    close()
    return [f"## {h}" for h in wanted] + parts


def _check_content_size(pages) -> None:
    """Refuse, before any page is parsed, a PDF whose pages' content streams add up to more
    than MAX_PDF_CONTENT unpacked. Pages may share one stream, and each page parses it again,
    so each counts it (pypdf unpacks a stream once and keeps it)."""
    total = 0
    for page in pages:
        contents = page.get("/Contents")
        if contents is None:
            continue  # a blank page
        contents = contents.get_object()
        for stream in contents if isinstance(contents, ArrayObject) else [contents]:
            total += len(stream.get_object().get_data())
            if total > MAX_PDF_CONTENT:
                raise DocumentError(
                    "is too complex to read: its pages hold more than "
                    f"{MAX_PDF_CONTENT // 2**20} MB of drawing instructions"
                )


def _read_pdf(data: bytes) -> Document:
    if b"%PDF-" not in data[:1024]:
        raise DocumentError("is not a PDF (its content does not start like one)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # An owner password alone (printing restrictions) still opens with an empty one.
            try:
                opened = reader.decrypt("")
            except (PyPdfError, NotImplementedError, ValueError):
                opened = 0
            if not opened:
                raise DocumentError(
                    "is an encrypted (password-protected) PDF; save a copy without a password "
                    "and import that"
                )
        pages = reader.pages
        if len(pages) > MAX_PDF_PAGES:
            raise DocumentError(f"has more than {MAX_PDF_PAGES} pages; split it first")
        _check_content_size(pages)
        title = None
        metadata = reader.metadata
        if metadata is not None and metadata.title:
            title = " ".join(str(metadata.title).split())[:200] or None
        headings = _outline_headings(reader)
        parts: list[str] = []
        size = 0
        for number, page in enumerate(pages):
            text = page.extract_text() or ""
            parts.extend(
                _page_markdown(text, headings.get(number, []), title if number == 0 else None)
            )
            size += len(text)
            if size > MAX_TEXT_CHARS:
                break
    except (DocumentError, MemoryError):
        raise
    except Exception:
        # pypdf raises a variety of errors on damaged files (NotImplementedError for a filter
        # it does not support, among others); all of them mean the same thing.
        raise DocumentError("is not a readable PDF (it may be damaged)") from None
    body = "\n\n".join(parts)
    if not body.strip() or all(p.startswith("#") for p in parts):
        raise DocumentError("has no text to import (a scanned PDF holds only pictures of text)")
    if has_controls(body, keep=ALLOWED_CONTROLS):
        body = "".join(c if c.isprintable() or c in ALLOWED_CONTROLS else " " for c in body)
    return Document(title, body, "pdf")


# -- DOCX ------------------------------------------------------------------------------------


def _read_docx(data: bytes) -> Document:
    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise DocumentError(
            "is an encrypted or old-format Word file; save it as an unprotected .docx"
        )
    if data[:4] != b"PK\x03\x04":
        raise DocumentError("is not a DOCX file (its content is not a Word document)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            parts = archive.infolist()
            if sum(info.file_size for info in parts) > MAX_DOCX_UNPACKED:
                raise DocumentError("unpacks to more than 100 MB, which is not a plain document")
            xml = sum(i.file_size for i in parts if i.filename.endswith((".xml", ".rels")))
            if xml > MAX_DOCX_XML:
                raise DocumentError(
                    f"holds more than {MAX_DOCX_XML // 2**20} MB of text and layout (unpacked), "
                    "more than a document to import; split it into smaller files"
                )
    except zipfile.BadZipFile:
        raise DocumentError("is not a readable DOCX file (it may be damaged)") from None
    if "word/document.xml" not in names:
        raise DocumentError("is not a DOCX file (it has no Word document inside)")

    try:
        document = docx.Document(io.BytesIO(data))
        title = (document.core_properties.title or "").strip() or None
        lines: list[str] = []
        for element in document.element.body.iterchildren():
            tag = element.tag.rsplit("}", 1)[-1]
            if tag == "p":
                paragraph = Paragraph(element, document)
                text = " ".join(paragraph.text.split())
                if not text:
                    continue
                style = (paragraph.style.name if paragraph.style is not None else "") or ""
                if style == "Title":
                    title = title or text[:200]
                    continue
                if style.startswith("Heading"):
                    level = style.removeprefix("Heading").strip()
                    depth = int(level) if level.isdigit() else 1
                    lines.append(f"\n{'#' * min(depth + 1, 6)} {text[:200]}\n")
                elif style.startswith("List"):
                    lines.append(f"- {text}")
                else:
                    lines.append(f"\n{text}\n")
            elif tag == "tbl":
                table = Table(element, document)
                for row in table.rows:
                    cells = [" ".join(c.text.split()) for c in row.cells]
                    lines.append(" | ".join(c for c in cells if c))
                lines.append("")
    except (DocumentError, MemoryError):
        raise
    except Exception:
        # python-docx raises a variety of errors on damaged parts; none of them is the user's
        # to read, all of them mean the same thing.
        raise DocumentError("is not a readable DOCX file (it may be damaged)") from None
    body = "\n".join(lines)
    body = "\n\n".join(p.strip() for p in body.split("\n\n") if p.strip())
    if has_controls(body, keep=ALLOWED_CONTROLS):
        body = "".join(c if c.isprintable() or c in ALLOWED_CONTROLS else " " for c in body)
    return Document(title, body, "docx")

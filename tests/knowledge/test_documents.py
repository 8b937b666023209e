"""Reading files into articles: real sample files (tests/knowledge/samples, made by
make_samples.py there) and files that pretend to be what they are not."""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

import pytest

from asthron.knowledge.chunking import chunk_markdown
from asthron.knowledge.documents import DocumentError, read_document

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str):
    return read_document(name, (SAMPLES / name).read_bytes())


def headings(body: str) -> list[str]:
    return [chunk.heading for chunk in chunk_markdown(body)]


def test_a_pdf_keeps_its_title_text_and_bookmarked_sections():
    document = sample("price-list.pdf")

    assert document.source_type == "pdf"
    assert document.title == "Bicycle repair price list"
    assert "We repair a puncture while you wait for 12 euros" in document.body
    assert headings(document.body) == ["Puncture repair", "Full service"]
    full_service = chunk_markdown(document.body)[1]
    assert "Book two days ahead." in full_service.text


def test_a_docx_keeps_headings_lists_and_tables():
    document = sample("opening-hours.docx")

    assert document.source_type == "docx"
    assert document.title == "Opening hours and holidays"
    assert headings(document.body) == ["Opening hours", "Holidays"]
    assert "- Saturday 9:00 to 13:00" in document.body
    assert "Christmas | closed 24-26 December" in document.body


def test_markdown_html_and_text_files():
    warranty = sample("warranty.md")
    assert (warranty.title, warranty.source_type) == ("Warranty", "markdown")
    assert headings(warranty.body) == ["", "How long", "What it does not cover"]

    rental = sample("rental.html")
    assert (rental.title, rental.source_type) == ("Bike rental", "html")
    assert "Deposit" in headings(rental.body)
    assert "100 euros" in rental.body
    assert "tracking" not in rental.body and "Mill Street" not in rental.body

    parking = sample("parking.txt")
    assert (parking.title, parking.source_type) == (None, "text")
    assert "park for free" in parking.body


def test_an_article_in_another_language_is_imported_as_it_is():
    document = sample("horaires-atelier.md")

    assert document.title == "Horaires de l'atelier"
    assert "Réparations express" in headings(document.body)
    assert "Prix : 12 €." in document.body


def test_an_encrypted_pdf_is_refused_with_a_clear_message():
    with pytest.raises(DocumentError, match="encrypted \\(password-protected\\) PDF"):
        sample("encrypted.pdf")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.md", (SAMPLES / "price-list.pdf").read_bytes(), "is a binary file"),
        ("notes.md", b"# Notes\n\x00\x01\x02\x03binary", "contains control characters"),
        ("notes.md", b"\xff\xfe\x00n\x00o", "is not UTF-8 text"),
        ("page.html", b"\x00\x01PNG\x00\x00binary", "is a binary file"),
        ("prices.pdf", b"# Not a PDF at all\n", "is not a PDF"),
        ("prices.pdf", b"%PDF-1.7\n garbage that is no PDF structure", "not a readable PDF"),
        ("hours.docx", b"plain text named docx", "is not a DOCX file"),
        ("hours.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old-format"),
        ("logo.png", b"\x89PNG", "is not a supported type"),
        ("empty.txt", b"  \n ", "is empty"),
    ],
)
def test_content_that_is_not_what_its_name_says_is_refused(name, content, message):
    with pytest.raises(DocumentError, match=message):
        read_document(name, content)


def test_a_docx_that_unpacks_to_a_bomb_is_refused_before_it_is_parsed():
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"<w:document/>" + b" " * (101 * 1024 * 1024))

    with pytest.raises(DocumentError, match="unpacks to more than 100 MB"):
        read_document("bomb.docx", packed.getvalue())


def test_a_pdf_the_reader_cannot_decode_is_refused_with_a_clear_message():
    # pypdf raises NotImplementedError ("Unsupported filter") here, none of its own errors.
    with pytest.raises(DocumentError, match=r"^is not a readable PDF \(it may be damaged\)$"):
        sample("damaged-filter.pdf")


def pdf_sharing_one_content_stream(content: bytes, pages: int) -> bytes:
    """A PDF whose ``pages`` pages all draw the one compressed content stream ``content``."""
    packed = zlib.compress(content, 9)
    kids = " ".join(f"{4 + i} 0 R" for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed + b"\nendstream",
    ]
    objects += [
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R /Resources "
        b"<< /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>"
    ] * pages
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_a_small_pdf_whose_pages_share_a_huge_content_stream_is_refused_before_parsing():
    # 40 MB of drawing instructions packs to ~40 KB; three pages draw it: 120 MB to parse.
    data = pdf_sharing_one_content_stream(b"q Q\n" * (10 * 1024 * 1024), pages=3)
    assert len(data) < 200_000

    with pytest.raises(DocumentError, match="more than 100 MB of drawing instructions"):
        read_document("brochure.pdf", data)


def test_a_docx_whose_text_and_layout_unpack_past_20_mb_is_refused_before_it_is_parsed():
    original = zipfile.ZipFile(SAMPLES / "opening-hours.docx")
    head, _, rest = original.read("word/document.xml").partition(b"<w:body>")
    empty_paragraphs = b"<w:p/>" * (21 * 1024 * 1024 // 6)
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in original.infolist():
            part = original.read(info.filename)
            if info.filename == "word/document.xml":
                part = head + b"<w:body>" + empty_paragraphs + rest
            archive.writestr(info.filename, part)
    assert len(packed.getvalue()) < 200_000

    with pytest.raises(DocumentError, match="holds more than 20 MB of text and layout"):
        read_document("bomb.docx", packed.getvalue())


def test_an_html_file_over_5_mb_is_refused_before_its_text_is_extracted():
    # Nested tags: trafilatura's time grows faster than the page (2 MB of these took 22 s).
    tags = b"<div><span>a</span></div>" * (6 * 1024 * 1024 // 25)
    page = b"<html><body><main>" + tags + b"</main></body></html>"

    with pytest.raises(DocumentError, match="is an HTML page larger than 5 MB"):
        read_document("handbook.html", page)


def test_a_file_over_the_cap_is_refused_from_its_size():
    with pytest.raises(DocumentError, match="is larger than 1,000 bytes"):
        read_document("big.pdf", b"%PDF-1.4\n" + b"0" * 2000, max_bytes=1000)

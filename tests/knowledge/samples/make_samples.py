"""How the sample files beside this script were made (they are committed; the tests do not
run this). Needs reportlab, python-docx and pypdf:

    python tests/knowledge/samples/make_samples.py
"""

from pathlib import Path

import docx
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import Paragraph, SimpleDocTemplate

HERE = Path(__file__).parent


class _Outlined(SimpleDocTemplate):
    """Adds a bookmark (the PDF's outline) for every heading, as word processors do."""

    def afterFlowable(self, flowable):
        if isinstance(flowable, Paragraph) and flowable.style.name.startswith("Heading"):
            key = f"h{id(flowable)}"
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(flowable.getPlainText(), key, level=0)


def make_pdf(path: Path) -> None:
    styles = getSampleStyleSheet()
    doc = _Outlined(str(path), pagesize=A4, title="Bicycle repair price list")
    story = [
        Paragraph("Bicycle repair price list", styles["Title"]),
        Paragraph("Puncture repair", styles["Heading2"]),
        Paragraph(
            "We repair a puncture while you wait for 12 euros, inner tube included.",
            styles["Normal"],
        ),
        Paragraph("Full service", styles["Heading2"]),
        Paragraph(
            "A full service costs 79 euros: brakes, gears, chain and wheels are checked "
            "and adjusted. Book two days ahead.",
            styles["Normal"],
        ),
    ]
    doc.build(story)


def make_encrypted_pdf(source: Path, path: Path) -> None:
    writer = PdfWriter(clone_from=PdfReader(source))
    writer.encrypt(user_password="s3cret", owner_password="owner", algorithm="AES-128")
    with path.open("wb") as handle:
        writer.write(handle)


def make_damaged_filter_pdf(source: Path, path: Path) -> None:
    """The price list with one filter name misspelt: pypdf raises NotImplementedError
    ("Unsupported filter") on it, not one of its own errors."""
    data = source.read_bytes()
    assert data.count(b"/FlateDecode ]") == 1
    path.write_bytes(data.replace(b"/FlateDecode ]", b"/FlateDecodX ]"))


def make_docx(path: Path) -> None:
    document = docx.Document()
    document.core_properties.title = "Opening hours and holidays"
    document.add_heading("Opening hours and holidays", level=0)
    document.add_heading("Opening hours", level=1)
    document.add_paragraph("The workshop is open Monday to Friday from 8:00 to 18:00.")
    document.add_paragraph("Saturday 9:00 to 13:00", style="List Bullet")
    document.add_heading("Holidays", level=1)
    document.add_paragraph("We close for two weeks in August; bikes left with us are safe.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Christmas", "closed 24-26 December"
    table.cell(1, 0).text, table.cell(1, 1).text = "Easter", "closed Good Friday"
    document.save(str(path))


if __name__ == "__main__":
    make_pdf(HERE / "price-list.pdf")
    make_encrypted_pdf(HERE / "price-list.pdf", HERE / "encrypted.pdf")
    make_damaged_filter_pdf(HERE / "price-list.pdf", HERE / "damaged-filter.pdf")
    make_docx(HERE / "opening-hours.docx")

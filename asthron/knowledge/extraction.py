"""The readable main text of a web page, as markdown whose headings the chunker splits at.

trafilatura does the extraction (menus, footers, cookie banners and scripts left out). It is
given the bytes we fetched ourselves and never fetches anything. Link discovery for the crawler
reads the raw page with lxml, because the navigation that holds the links is exactly what the
extraction leaves out.

trafilatura's time grows faster than the page (2 MB of nested tags took 22 s, 8 MB more than
400 s): callers read pages through ``knowledge.bounded`` and refuse one over MAX_HTML_BYTES.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin

import lxml.html
import trafilatura
from trafilatura.settings import use_config

from asthron.text import has_controls

# Small FAQ pages are normal on a business site: trafilatura's defaults drop a page with fewer
# than 250 extracted characters, which would lose "Opening hours: 9–17".
_CONFIG = use_config()
_CONFIG.set("DEFAULT", "MIN_EXTRACTED_SIZE", "20")
_CONFIG.set("DEFAULT", "MIN_OUTPUT_SIZE", "10")
_CONFIG.set("DEFAULT", "MIN_EXTRACTED_COMM_SIZE", "1")
_CONFIG.set("DEFAULT", "MIN_OUTPUT_COMM_SIZE", "1")
_CONFIG.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")  # signals only work in the main thread

# Far above a real page's size (a crawled page is capped at 2 MB by default), far below where
# extraction takes minutes.
MAX_HTML_BYTES = 5 * 1024 * 1024

_BLANK_LINES = re.compile(r"\n{3,}")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
# The WHATWG encoding standard reads these labels as windows-1252, as every browser does.
_AS_WINDOWS_1252 = {"ascii", "iso8859-1"}
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")


@dataclass(frozen=True)
class PageText:
    title: str
    body: str  # markdown: "# heading" lines and paragraphs


def _clean_markdown(text: str) -> str:
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        match = _HEADING.match(line.strip())
        # trafilatura marks emphasis with ** and *: keep headings and text, drop the markers.
        if match:
            line = f"{match.group(1)} {match.group(2).replace('**', '').strip()}"
        lines.append(line.rstrip())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def page_text(html: bytes | str, url: str | None = None) -> PageText | None:
    """The page's title and main text, or None when it has no readable text."""
    if not html:
        return None
    try:
        body = trafilatura.extract(
            html,
            url=url,
            output_format="markdown",
            include_comments=False,
            include_tables=True,
            include_images=False,
            include_links=False,
            include_formatting=True,
            config=_CONFIG,
        )
        body = _clean_markdown(body or "")
        if not body or has_controls(body, keep="\t\n\r\f"):
            return None
        metadata = trafilatura.extract_metadata(html, default_url=url, extensive=False)
    except (ValueError, TypeError, lxml.etree.ParserError):
        return None
    title = (getattr(metadata, "title", None) or "").strip()
    return PageText(title=" ".join(title.split())[:200], body=body)


def page_links(html: bytes | str, base_url: str) -> list[str]:
    """The absolute http(s) addresses the page links to, without fragments, in page order."""
    try:
        tree = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return []
    base = tree.xpath("string(//base/@href)").strip()
    base_url = urljoin(base_url, base) if base else base_url
    # A dict keeps the page's order without duplicates; a list's "not in" made a page of
    # 150,000 links (2 MB) take two minutes.
    links: dict[str, None] = {}
    for href in tree.xpath("//a/@href"):
        href = str(href).strip()
        if not href or href.startswith(("#", "mailto:", "tel:", "javascript:")):
            continue
        absolute, _fragment = urldefrag(urljoin(base_url, href))
        if absolute.startswith(("http://", "https://")):
            links.setdefault(absolute)
    return list(links)


def decoded(html: bytes, charset: str | None) -> bytes | str:
    """The page as text, decoded with the charset its Content-Type header names, which wins
    over a <meta charset> (and without one, lxml would guess from the bytes: a windows-1252
    "complète" came out "complčte"). Without a usable header charset, or with a byte order
    mark (which wins over the header), the bytes are left to the parsers to sniff."""
    if not charset or html.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return html
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        return html
    if codec in _AS_WINDOWS_1252:
        codec = "cp1252"
    # lxml refuses a str that still declares an encoding of its own.
    return _XML_DECLARATION.sub("", html.decode(codec, "replace"), count=1)


def read_page(html: bytes | str, url: str) -> tuple[PageText | None, list[str]]:
    """A crawled page's text and links, in one call (run in a bounded child process)."""
    return page_text(html, url), page_links(html, url)

"""Reading a crawled page's links (``extraction.page_links``)."""

from __future__ import annotations

from asthron.knowledge.bounded import run_bounded
from asthron.knowledge.extraction import page_links


def test_a_page_of_150_000_links_gives_each_once_in_page_order():
    count = 150_000  # 2.3 MB of HTML
    anchors = "".join(f"<a href=/{i}>" for i in range(count))
    repeats = '<a href="/0#top"><a href="/1"><a href="mailto:shop@example.com">'
    html = f"<html><body>{anchors}{repeats}</body></html>".encode()

    # The bound is the watchdog, far above what the page needs (about 2 s on a busy machine);
    # checking each link against a list of those found made it take two minutes.
    links = run_bounded(page_links, html, "http://example.com/", seconds=60)

    assert len(links) == count
    assert links[:3] == ["http://example.com/0", "http://example.com/1", "http://example.com/2"]
    assert links[-1] == f"http://example.com/{count - 1}"

"""9. Knowledge import: fetching and extracting website pages, and reading the sample files.

A loopback site (http.server on 127.0.0.1) serves 100 generated pages of about 8 KB each (a
menu, a footer and an article with sections, as a small business's CMS makes them). Each page
goes through the crawler's own path: ``SiteFetcher.get`` (SSRF check, pinned connection,
capped streamed read) and ``read_page`` (trafilatura's text and lxml's links) in a bounded child
process (``knowledge.bounded``), whose cost is also measured alone (the same extraction called
in this process). No database: this measures what a crawl spends per page, apart from its one
short write. The sample PDF and DOCX of tests/knowledge/samples are read with
``read_document`` (in a bounded child process too).
"""

from __future__ import annotations

import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from asthron.knowledge.bounded import run_bounded
from asthron.knowledge.documents import read_document
from asthron.knowledge.extraction import decoded, read_page
from asthron.knowledge.fetching import FetchLimits, SiteFetcher
from bench.harness import Result, Section

NAME = "knowledge_import"
TITLE = "Knowledge import, per page and per file"
GOAL_PAGE_MS = 100
PAGES = 100
SAMPLES = Path(__file__).parents[1] / "tests" / "knowledge" / "samples"


def _page(number: int) -> bytes:
    menu = "".join(f'<li><a href="/page-{n}">Page {n}</a></li>' for n in range(40))
    sections = "".join(
        f"<h2>Section {s} of page {number}</h2>"
        + "".join(
            f"<p>Paragraph {p}: we repair bicycles, service e-bikes and sell parts; "
            f"opening hours, prices and delivery are explained here in detail.</p>"
            for p in range(6)
        )
        for s in range(8)
    )
    return (
        f"<!doctype html><html><head><title>Page {number} | Shop</title>"
        "<script>var tracking = 1;</script></head><body>"
        f"<header><nav><ul>{menu}</ul></nav></header>"
        f"<main><article><h1>Page {number}</h1>{sections}</article></main>"
        "<footer><p>Shop · Mill Street 4 · all rights reserved</p></footer></body></html>"
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = _page(int(self.path.rsplit("-", 1)[-1]) if "-" in self.path else 0)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _time(fn, runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def run(ctx) -> Section:
    section = Section(TITLE)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    fetcher = SiteFetcher(base + "/", frozenset({"127.0.0.1"}), FetchLimits())
    pages = 20 if ctx.quick else PAGES
    fetch_ms, extract_ms, in_process_ms = [], [], []
    size = 0
    run_bounded(read_page, _page(0), base + "/")  # starts the forkserver, once per process
    try:
        for number in range(pages):
            started = time.perf_counter()
            fetched = fetcher.get(f"{base}/page-{number}")
            fetch_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            html = decoded(fetched.body, fetched.charset)
            text, links = run_bounded(read_page, html, fetched.url)
            extract_ms.append((time.perf_counter() - started) * 1000)
            if text is None or "Section 7" not in text.body or len(links) != 40:
                raise AssertionError("the page was not extracted as expected")
            started = time.perf_counter()
            read_page(html, fetched.url)
            in_process_ms.append((time.perf_counter() - started) * 1000)
            size = len(fetched.body)
    finally:
        server.shutdown()
        server.server_close()
    per_page = [f + e for f, e in zip(fetch_ms, extract_ms, strict=True)]
    section.results.append(
        Result(TITLE, "page: fetch + extract, median", statistics.median(per_page), "ms",
               ("<=", GOAL_PAGE_MS))
    )  # fmt: skip
    section.results.append(Result(TITLE, "page: fetch, median", statistics.median(fetch_ms), "ms"))
    section.results.append(
        Result(TITLE, "page: extract, median", statistics.median(extract_ms), "ms")
    )
    section.results.append(
        Result(
            TITLE,
            "page: extract in this process (no child), median",
            statistics.median(in_process_ms),
            "ms",
        )
    )
    runs = 5 if ctx.quick else 20
    for name in ("price-list.pdf", "opening-hours.docx"):
        data = (SAMPLES / name).read_bytes()
        timings = _time(lambda data=data, name=name: read_document(name, data), runs)
        section.results.append(
            Result(TITLE, f"file: {name}, median", statistics.median(timings), "ms")
        )
    section.notes.append(
        f"knowledge_import: {pages} pages of {size / 1024:.0f} KB over loopback, each fetched "
        "through the SSRF guard and extracted with trafilatura (the goal is per page, without "
        "the database write); files: the committed samples (1-page PDF, 1-page DOCX), median "
        f"of {runs} reads."
    )
    return section

"""Running one crawl of a website source, in the worker.

The crawl reads robots.txt, then either the sitemap (when the source's URL is one) or the
start page and the same-site pages it links to, breadth first. No transaction is open while
a page downloads: each page's result is written in a short transaction of its own, so staff
see the crawl advance. Limits: pages per crawl, seconds per crawl, and the fetcher's bytes,
seconds and redirects per page. A page that fails is recorded with its reason and the crawl
goes on. When the crawl got through the whole site, pages it knew but did not meet again are
fetched once more; those that are gone (404/410) or now disallowed are retired. A known page
that now redirects elsewhere on the site (removed, or moved to a new address) is retired too.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import lxml.etree
from protego import Protego

from asthron.db import new_transaction
from asthron.knowledge import sources
from asthron.knowledge.bounded import ReadLimitExceeded, run_bounded
from asthron.knowledge.documents import DocumentError, read_document
from asthron.knowledge.extraction import MAX_HTML_BYTES, decoded, read_page
from asthron.knowledge.fetching import ROBOTS_AGENT, FetchFailed, FetchLimits, SiteFetcher
from asthron.knowledge.source_models import KnowledgeCrawl, KnowledgeSource

log = logging.getLogger(__name__)

MAX_SITEMAPS = 20
MAX_CRAWL_DELAY = 5.0
HTML_TYPES = ("text/html", "application/xhtml+xml")
XML_TYPES = ("application/xml", "text/xml")
# Links to these are files, not pages; they are not fetched while following links.
NOT_PAGES = (
    ".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg", ".ico", ".css", ".js", ".zip", ".gz",
    ".mp3", ".mp4", ".webm", ".woff", ".woff2", ".ttf", ".xml", ".json", ".docx", ".xlsx",
)  # fmt: skip


@dataclass(frozen=True)
class CrawlLimits:
    max_seconds: float = 1800.0
    page: FetchLimits = field(default_factory=FetchLimits)


class CrawlStopped(Exception):
    """The crawl cannot go on (robots.txt unreadable, the start address refused)."""


def normalized(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, "")
    )


def _robots(fetcher: SiteFetcher, start_url: str) -> Protego:
    """robots.txt of the site (RFC 9309, read by protego, which knows its ``*`` and ``$``
    wildcards and longest-match precedence; the standard library's parser matches plain
    prefixes only, so ``Disallow: /*.pdf$`` disallowed nothing): missing (4xx) allows
    everything; unreachable stops the crawl, since we cannot know what the owner allows."""
    robots_url = urljoin(start_url, "/robots.txt")
    try:
        fetched = fetcher.get(robots_url)
    except FetchFailed as exc:
        if exc.status is not None and 400 <= exc.status < 500:
            return Protego.parse("")
        raise CrawlStopped(f"robots.txt could not be read: {exc.reason}") from None
    # RFC 9309 asks parsers to read at least 500 KiB.
    return Protego.parse(fetched.body[:512_000].decode("utf-8", "replace"))


MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps protocol's own limit, unpacked


def _sitemap_urls(body: bytes) -> tuple[str, list[str]] | None:
    """("urlset" or "sitemapindex", the <loc> addresses), or None if it is not a sitemap.
    A gzipped sitemap (sitemap.xml.gz) is unpacked, at most to the protocol's 50 MB."""
    if body[:2] == b"\x1f\x8b":
        try:
            body = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body, MAX_SITEMAP_BYTES)
        except zlib.error:
            return None
    parser = lxml.etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = lxml.etree.fromstring(body, parser=parser)
    except lxml.etree.XMLSyntaxError:
        return None
    kind = lxml.etree.QName(root).localname if isinstance(root.tag, str) else ""
    if kind not in ("urlset", "sitemapindex"):
        return None
    locs = [
        (element.text or "").strip()
        for element in root.iter()
        if isinstance(element.tag, str) and lxml.etree.QName(element).localname == "loc"
    ]
    return kind, [loc for loc in locs if loc]


class Crawl:
    def __init__(self, registry, crawl_id: int, limits: CrawlLimits, clock=time.monotonic):
        self.registry = registry
        self.crawl_id = crawl_id
        self.limits = limits
        self.clock = clock
        self.deadline = clock() + limits.max_seconds
        settings = registry["app_settings"]
        with new_transaction(registry) as db:
            crawl = db.get(KnowledgeCrawl, crawl_id)
            source = db.get(KnowledgeSource, crawl.source_id)
            self.source_id, self.start_url = source.id, source.url
            self.max_pages = source.max_pages
            self.known = {
                url: (page.etag, page.last_modified, page.retired_at is not None)
                for url, page in sources.known_pages(db, source.id).items()
            }
        self.fetcher = SiteFetcher(
            self.start_url, settings.outbound_allowed_private_hosts, limits.page, clock
        )
        self.seen: set[str] = set()
        self.fetched_pages = 0
        self.delay = 0.0

    # -- writing results -------------------------------------------------------------------

    def _record(self, result: sources.PageResult) -> None:
        with new_transaction(self.registry) as db:
            sources.record_page(db, self.crawl_id, result)

    def _note(self, note: str) -> None:
        with new_transaction(self.registry) as db:
            sources.note_progress(db, self.crawl_id, note)

    # -- the crawl -------------------------------------------------------------------------

    def run(self) -> tuple[str, str]:
        """Crawl; returns the final status and a note for staff."""
        try:
            robots = _robots(self.fetcher, self.start_url)
        except CrawlStopped as exc:
            return "failed", str(exc)
        delay = robots.crawl_delay(ROBOTS_AGENT)
        self.delay = min(float(delay), MAX_CRAWL_DELAY) if delay else 0.0
        self.robots = robots
        if not self.allowed(self.start_url):
            return "failed", "robots.txt disallows the start address."
        queue: deque[str] = deque()
        follow_links = True
        try:
            first = self.fetcher.get(self.start_url)
        except FetchFailed as exc:
            return "failed", f"The start address could not be fetched: {exc.reason}"
        sitemap = _sitemap_urls(first.body) if first.content_type not in HTML_TYPES else None
        if sitemap is not None:
            follow_links = False
            queue.extend(self._pages_of_sitemap(sitemap))
            self._note(f"Sitemap read: {len(queue)} page(s) listed.")
        else:
            queue.append(self.start_url)
        complete = self._crawl(queue, follow_links, first if sitemap is None else None)
        if not complete:
            return "done", self.stop_note
        # Pages known from earlier crawls that were not met again: gone, or only unlinked?
        revisit = deque(
            url
            for url, (_etag, _modified, retired) in self.known.items()
            if not retired and url not in self.seen
        )
        if revisit:
            complete = self._crawl(revisit, follow_links=False, first=None)
            if not complete:
                return "done", self.stop_note
        return "done", ""

    def allowed(self, url: str) -> bool:
        return self.robots.can_fetch(url, ROBOTS_AGENT)

    def _pages_of_sitemap(self, sitemap) -> list[str]:
        """The same-site pages the sitemap (and the sitemaps it indexes, those robots.txt
        allows) lists."""
        kind, locs = sitemap
        pages: dict[str, None] = {}  # ordered, without duplicates
        children = 0
        pending = deque([(kind, locs)])
        while pending:
            kind, locs = pending.popleft()
            for loc in locs:
                if not self.fetcher.same_site(loc):
                    continue
                if kind == "urlset":
                    pages.setdefault(normalized(loc))
                elif (
                    children < MAX_SITEMAPS
                    and self.clock() < self.deadline
                    and self.allowed(normalized(loc))
                ):
                    children += 1
                    try:
                        child = _sitemap_urls(self.fetcher.get(loc).body)
                    except FetchFailed:
                        child = None
                    if child is not None:
                        pending.append(child)
        return list(pages)

    def _out_of_budget(self) -> str | None:
        if self.fetched_pages >= self.max_pages:
            return f"Stopped at the page limit ({self.max_pages} pages)."
        if self.clock() >= self.deadline:
            return f"Stopped at the time limit ({self.limits.max_seconds:g} seconds)."
        return None

    def _crawl(self, queue: deque, follow_links: bool, first) -> bool:
        """Work through ``queue``; False when a limit stopped it (``stop_note`` says which)."""
        while queue:
            url = normalized(queue.popleft())
            if url in self.seen:
                continue
            self.stop_note = self._out_of_budget()
            if self.stop_note:
                return False
            self.seen.add(url)
            if not self.allowed(url):
                known = url in self.known and not self.known[url][2]
                self._record(
                    sources.PageResult(
                        url,
                        "retired" if known else "skipped",
                        "disallowed by robots.txt",
                    )
                )
                continue
            if self.delay and self.fetched_pages:
                time.sleep(self.delay)
            self.fetched_pages += 1
            links = self._page(url, first if url == normalized(self.start_url) else None)
            first = None
            if follow_links:
                for link in links:
                    link = normalized(link)
                    if (
                        link not in self.seen
                        and self.fetcher.same_site(link)
                        and not urlsplit(link).path.lower().endswith(NOT_PAGES)
                    ):
                        queue.append(link)
        return True

    def _page(self, url: str, prefetched) -> list[str]:
        """Fetch, extract and record one page; returns the links it holds."""
        etag, modified, retired = self.known.get(url, (None, None, False))
        try:
            fetched = prefetched or self.fetcher.get(
                url, None if retired else etag, None if retired else modified
            )
        except FetchFailed as exc:
            known = url in self.known and not retired
            outcome = "retired" if exc.gone and known else "failed"
            self._record(sources.PageResult(url, outcome, exc.reason))
            return []
        if fetched.status == 304:
            self._record(sources.PageResult(url, "unchanged", "not modified"))
            return []
        final = normalized(fetched.url)
        if final != url:
            # A redirect within the site: the page is known by the address it ends at. An
            # address that had a page of its own and now redirects was removed or moved: its
            # article is retired, and the page it leads to is an article of its own.
            reason = f"redirects to {final[:300]}"
            had_a_page = url in self.known and not retired
            if had_a_page:
                self._record(sources.PageResult(url, "retired", reason))
            if final in self.seen:
                if not had_a_page:
                    self._record(sources.PageResult(url, "skipped", reason))
                return []
            self.seen.add(final)
            url = final
        try:
            result, links = self._read(url, fetched)
        except Exception as exc:
            # Whatever a page does to the readers, it is one failed page, not a failed crawl.
            log.exception("knowledge crawl %s: reading %s failed", self.crawl_id, url)
            reason = f"could not be read (unexpected {type(exc).__name__})"
            result, links = sources.PageResult(url, "failed", reason), []
        self._record(result)
        return links

    def _read(self, url: str, fetched) -> tuple[sources.PageResult, list[str]]:
        """What to record for a fetched page, and the links it holds."""
        if fetched.content_type in HTML_TYPES or (
            not fetched.content_type and fetched.body.lstrip()[:1] == b"<"
        ):
            if len(fetched.body) > MAX_HTML_BYTES:
                reason = f"is larger than {MAX_HTML_BYTES:,} bytes, too large to read"
                return sources.PageResult(url, "failed", reason), []
            try:
                html = decoded(fetched.body, fetched.charset)
                text, links = run_bounded(read_page, html, fetched.url)
            except ReadLimitExceeded as exc:
                return sources.PageResult(url, "failed", f"could not be read: {exc.reason}"), []
            if text is None:
                return sources.PageResult(url, "skipped", "no readable text on the page"), links
            title, body, kind = text.title, text.body, "html"
        elif fetched.content_type == "application/pdf":
            try:
                document = read_document("page.pdf", fetched.body, self.limits.page.max_bytes)
            except DocumentError as exc:
                return sources.PageResult(url, "failed", f"the PDF {exc}"), []
            title, body, kind, links = document.title, document.body, "pdf", []
        else:
            reason = f"not a web page ({fetched.content_type or 'no content type'})"
            return sources.PageResult(url, "skipped", reason), []
        fetched_page = sources.PageResult(
            url,
            "fetched",
            title=title,
            body=body,
            source_type=kind,
            etag=fetched.etag,
            last_modified=fetched.last_modified,
        )
        return fetched_page, links


def run_crawl(registry, crawl_id: int, limits: CrawlLimits | None = None) -> str | None:
    """Run the queued crawl ``crawl_id`` to the end; returns its final status (None when it
    was not queued: already run, or taken by another worker)."""
    with new_transaction(registry) as db:
        if not sources.claim_crawl(db, crawl_id):
            return None
    if limits is None:
        settings = registry["app_settings"]
        limits = CrawlLimits(
            max_seconds=settings.knowledge_crawl_seconds,
            page=FetchLimits(
                max_bytes=settings.knowledge_page_max_bytes,
                request_timeout=settings.knowledge_request_timeout,
                page_seconds=settings.knowledge_page_seconds,
            ),
        )
    try:
        status, note = Crawl(registry, crawl_id, limits).run()
    except Exception:
        log.exception("knowledge crawl %s failed", crawl_id)
        status, note = "failed", "An unexpected error stopped the crawl (see the worker's log)."
    with new_transaction(registry) as db:
        sources.finish_crawl(db, crawl_id, status, note)
    return status

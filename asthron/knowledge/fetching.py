"""Fetching pages of one website for the knowledge import, through the SSRF guard.

Every request, every redirect hop included, is checked with ``security.ssrf.check_url`` and
sent over a connection pinned to the checked address. Redirects are followed by hand, only
within the site, at most ``max_redirects`` hops, never in a loop. A page is read in pieces
under a byte cap, and the whole exchange (connecting, the status line and headers, the body)
is under one deadline, so a page that never ends, or a server that drips a byte of its
headers or body every second, fails with a reason instead of holding the crawl.
"""

from __future__ import annotations

import contextlib
import email.message
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from asthron.security.ssrf import SSRFError, check_url, pinned_connection

USER_AGENT = "AsthronBot/1.0 (knowledge import of the site owner's own pages)"
ROBOTS_AGENT = "AsthronBot"
REDIRECTS = {301, 302, 303, 307, 308}
READ_PIECE = 64 * 1024


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int = 2 * 1024 * 1024  # per page
    request_timeout: float = 10.0  # per connect and per read
    page_seconds: float = 30.0  # one page, redirects included
    max_redirects: int = 5


@dataclass(frozen=True)
class Fetched:
    url: str  # after same-site redirects
    status: int  # 200, or 304 when the conditional request says "unchanged"
    content_type: str
    body: bytes
    etag: str | None = None
    last_modified: str | None = None
    charset: str | None = None  # as the Content-Type header names it, if it does


class FetchFailed(Exception):
    """The page could not be fetched; ``reason`` is safe to show staff. ``gone`` means the
    site answered 404 or 410: the page was removed."""

    def __init__(self, reason: str, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.gone = status in (404, 410)


def site_key(url: str) -> tuple[str, int] | None:
    """The site an address belongs to: its host (without ``www.``) and port. http and https
    of one host are one site, so an http start URL may redirect to https."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".").removeprefix("www.")
    if port is None or port == {"http": 80, "https": 443}[parts.scheme]:
        port = 0  # the default port of either scheme
    return host, port


def _charset(content_type: str) -> str | None:
    """The charset parameter of a Content-Type header ("text/html; charset=windows-1252")."""
    message = email.message.Message()
    message["Content-Type"] = content_type[:300]
    charset = message.get_content_charset()
    return charset[:40] if charset else None


class SiteFetcher:
    """Fetches addresses of the site of ``start_url``; anything else is refused."""

    def __init__(self, start_url: str, allowed_private, limits: FetchLimits, clock=time.monotonic):
        self.site = site_key(start_url)
        self.allowed_private = allowed_private
        self.limits = limits
        self.clock = clock

    def same_site(self, url: str) -> bool:
        return self.site is not None and site_key(url) == self.site

    def get(self, url: str, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        """GET ``url``, following same-site redirects; FetchFailed says why it could not."""
        deadline = self.clock() + self.limits.page_seconds
        seen = [url]
        current = url
        for _hop in range(self.limits.max_redirects + 1):
            if not self.same_site(current):
                raise FetchFailed(f"redirects to another site ({current[:200]})")
            answer = self._request(current, etag, last_modified, deadline)
            if isinstance(answer, Fetched):
                return answer
            target = urljoin(current, answer)
            if target in seen:
                raise FetchFailed("redirect loop")
            seen.append(target)
            current = target
        raise FetchFailed(f"more than {self.limits.max_redirects} redirects")

    # -- one hop ---------------------------------------------------------------------------

    def _request(self, url, etag, last_modified, deadline) -> Fetched | str:
        """One request: the page, or the Location a redirect points to."""
        try:
            resolved = check_url(url, self.allowed_private)
        except SSRFError as exc:
            raise FetchFailed(f"refused by the outbound address rules: {exc}") from None
        remaining = deadline - self.clock()
        if remaining <= 0:
            raise FetchFailed(f"took longer than {self.limits.page_seconds:g} seconds")
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {
            "User-Agent": USER_AGENT,
            "Accept": "text/html,application/xhtml+xml,application/xml,text/xml,"
            "application/pdf;q=0.9,text/plain;q=0.8,*/*;q=0.1",
            "Accept-Encoding": "identity",
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        connection = pinned_connection(
            resolved, timeout=min(self.limits.request_timeout, remaining)
        )
        # The socket timeout bounds each read, not their sum: a server sending one byte of
        # its headers (or body) every few seconds never trips it. A timer shuts the socket
        # down at the page's deadline instead, which ends whatever read is under way (the
        # status line, the headers, the TLS handshake, the body) with an EOF or an error; the
        # flag says it was the deadline, so a body cut short there is never taken as a page.
        expired = threading.Event()

        def expire():
            expired.set()
            sock = connection.sock
            if sock is not None:
                with contextlib.suppress(OSError):  # already closed
                    sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(remaining, expire)
        timer.daemon = True
        timer.start()
        try:
            answer = self._exchange(connection, url, target, headers, etag, last_modified, deadline)
        except (FetchFailed, OSError, http.client.HTTPException) as exc:
            raise self._too_slow() if expired.is_set() else self._failed(exc) from None
        finally:
            timer.cancel()
            connection.close()
        if expired.is_set():
            raise self._too_slow()
        return answer

    def _failed(self, exc: Exception) -> FetchFailed:
        if isinstance(exc, FetchFailed):
            return exc
        if isinstance(exc, TimeoutError):
            return FetchFailed(f"no answer within {self.limits.request_timeout:g} seconds")
        if isinstance(exc, ssl.SSLError):
            return FetchFailed(f"TLS failed ({exc.reason or exc})")
        return FetchFailed(f"the connection failed ({type(exc).__name__})")

    def _too_slow(self) -> FetchFailed:
        return FetchFailed(
            f"did not finish within {self.limits.page_seconds:g} seconds "
            "(a page that never ends, or a server that answers a byte at a time?)"
        )

    def _exchange(self, connection, url, target, headers, etag, last_modified, deadline):
        connection.request("GET", target, headers=headers)
        response = connection.getresponse()
        if response.status in REDIRECTS:
            location = response.getheader("Location")
            if not location:
                raise FetchFailed(f"HTTP {response.status} without a Location")
            return location.strip()
        if response.status == 304:
            return Fetched(url, 304, "", b"", etag, last_modified)
        if response.status in (404, 410):
            raise FetchFailed(f"not found (HTTP {response.status})", response.status)
        if response.status != 200:
            raise FetchFailed(f"the site answered HTTP {response.status}", response.status)
        body = self._read_capped(response, deadline)
        content_type = response.getheader("Content-Type") or ""
        return Fetched(
            url,
            200,
            content_type.split(";")[0].strip().lower(),
            body,
            (response.getheader("ETag") or "").strip()[:300] or None,
            (response.getheader("Last-Modified") or "").strip()[:100] or None,
            _charset(content_type),
        )

    def _read_capped(self, response, deadline) -> bytes:
        cap = self.limits.max_bytes
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > cap:
            raise FetchFailed(f"is larger than {cap:,} bytes")
        pieces: list[bytes] = []
        total = 0
        while True:
            if self.clock() > deadline:
                raise self._too_slow()
            piece = response.read1(READ_PIECE)
            if not piece:
                return b"".join(pieces)
            total += len(piece)
            if total > cap:
                raise FetchFailed(f"is larger than {cap:,} bytes (a page that never ends?)")
            pieces.append(piece)

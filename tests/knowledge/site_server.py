"""A small business website on 127.0.0.1 for the crawler's tests, and a second site beside it
(another port: another site) that must never be fetched.

The site has a sitemap, a robots.txt disallowing /private/, an off-site link, a redirect loop,
a same-site redirect, a redirect off-site, a page that never ends (a chunked stream), one that
drips a byte at a time, one that drips its headers a byte at a time, a 404, and ETags. Tests change ``pages`` between crawls.
"""

from __future__ import annotations

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def html_page(title: str, body: str, links: list[str] = ()) -> str:
    nav = "".join(f'<a href="{href}">{href}</a> ' for href in links)
    return (
        f"<!doctype html><html><head><title>{title} | Spoke & Wheel</title></head><body>"
        f"<nav>{nav}</nav><main>{body}</main>"
        "<footer>Spoke & Wheel bicycle workshop · all rights reserved</footer></body></html>"
    )


class Site:
    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.requests: list[str] = []
        self.pages: dict[str, tuple[str, str | bytes]] = {}  # path → (content type, body)
        self.redirects: dict[str, str] = {}
        self.etags = True  # False: a site that never answers 304
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Site:
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                site.requests.append(self.path)
                if self.path in site.redirects:
                    self.send_response(302)
                    self.send_header("Location", site.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path == "/forever":
                    return self._forever()
                if self.path == "/drip":
                    return self._drip()
                if self.path == "/drip-headers":
                    return self._drip_headers()
                if self.path not in site.pages:
                    self._send(404, "text/html", b"<html><body>Not found</body></html>")
                    return
                content_type, body = site.pages[self.path]
                data = body if isinstance(body, bytes) else body.encode()
                etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"' if site.etags else None
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self._send(200, content_type, data, etag)

            def _send(self, status, content_type, data, etag=None):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                if etag:
                    self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(data)

            def _forever(self):
                """A page that never ends: chunks as fast as the client reads them."""
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"<p>" + b"more " * 1600 + b"</p>"
                frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
                try:
                    self.wfile.write(b"c\r\n<html><body>\r\n")
                    while not site.stop.is_set():
                        self.wfile.write(frame)
                except OSError:
                    pass  # the crawler hung up, as it should
                self.close_connection = True

            def _drip(self):
                """A page that never ends slowly: a byte at a time, well inside any timeout."""
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Connection", "close")  # no length: read until closed
                self.end_headers()
                try:
                    while not site.stop.is_set():
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(0.05)
                except OSError:
                    pass
                self.close_connection = True

            def _drip_headers(self):
                """The status line, then a header a byte at a time: the body never starts."""
                try:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    while not site.stop.is_set():
                        self.wfile.write(b"y")
                        self.wfile.flush()
                        time.sleep(0.05)
                except OSError:
                    pass
                self.close_connection = True

        return Handler


def bicycle_shop(offsite_url: str) -> Site:
    """The site as the first crawl finds it."""
    site = Site()
    base = site.url
    links = [
        "/delivery",
        "/returns",
        "/private/staff-notes",
        f"{offsite_url}/partner-offer",
        "/loop-a",
        "/forever",
        "/missing",
        "/moved",
        "/away",
        "/logo.png",
    ]
    site.pages = {
        "/robots.txt": ("text/plain", "User-agent: *\nDisallow: /private/\n"),
        "/": (
            "text/html",
            html_page(
                "Welcome",
                "<h1>Welcome to Spoke & Wheel</h1><p>We repair and service bicycles of every "
                "kind in our workshop on Mill Street.</p>",
                links,
            ),
        ),
        "/delivery": (
            "text/html",
            html_page(
                "Delivery",
                "<h1>Delivery</h1><p>We deliver repaired bicycles within two working days.</p>"
                "<h2>Costs</h2><p>Delivery is free within the city; outside it costs 15 "
                "euros.</p>",
                ["/"],
            ),
        ),
        "/returns": (
            "text/html",
            html_page(
                "Returns",
                "<h1>Returns</h1><p>Parts can be returned unused within 30 days with the "
                "receipt.</p>",
                ["/"],
            ),
        ),
        "/private/staff-notes": (
            "text/html",
            html_page("Staff notes", "<p>The alarm code is 4711.</p>"),
        ),
        "/logo.png": ("image/png", "not really a png"),
    }
    site.redirects = {
        "/loop-a": "/loop-b",
        "/loop-b": "/loop-a",
        "/moved": "/returns",
        "/away": f"{offsite_url}/elsewhere",
    }
    sitemap_urls = [
        "/",
        "/delivery",
        "/returns",
        "/private/staff-notes",
        "/loop-a",
        "/forever",
        "/missing",
        "/away",
    ]
    locs = "".join(f"<url><loc>{base}{path}</loc></url>" for path in sitemap_urls)
    locs += f"<url><loc>{offsite_url}/partner-offer</loc></url>"
    site.pages["/sitemap.xml"] = (
        "application/xml",
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>',
    )
    return site

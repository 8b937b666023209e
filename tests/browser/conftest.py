"""Browser tests: the built asthron/static/widget.js in Chromium, embedded in a page from
another origin, talking to the app served by a real waitress server.

Chromium comes from the system (/usr/bin/chromium) and Playwright from pip; without either the
tests are skipped, unless ASTHRON_REQUIRE_SERVICES=1 (CI), which makes that a failure.
SQLite only: the subject here is the widget, not the database.
"""

from __future__ import annotations

import datetime as dt
import http.server
import os
import threading
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SERVICES, ROOT

CHROMIUM = os.environ.get("ASTHRON_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDGET_JS = ROOT / "asthron" / "static" / "widget.js"
SCREENSHOT_DIR = Path(os.environ.get("ASTHRON_SCREENSHOT_DIR", "/tmp"))
PRIVACY_NOTICE = "We keep this chat to answer you. Details: https://shop.example.com/privacy"
HOSTILE_CSS = "* { all: unset; color: red !important }\nhtml, body { display: block }\n"


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} and ASTHRON_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install -e '.[dev]')")
    assert WIDGET_JS.exists(), "asthron/static/widget.js is missing: run scripts/build-widget"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def db_url(sqlite_url):
    """Browser tests run once, on SQLite (overrides the parametrised fixture)."""
    return sqlite_url


@pytest.fixture
def server(app):
    """The app in waitress on 127.0.0.1:<free port>, in a background thread."""
    import waitress

    srv = waitress.create_server(app, host="127.0.0.1", port=0, threads=16)
    stopping = threading.Event()

    def serve():
        while not stopping.is_set():
            srv.asyncore.loop(timeout=0.1, map=srv._map, count=1)

    thread = threading.Thread(target=serve, name="waitress", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.effective_port}"
    stopping.set()
    thread.join(5)
    # Close the connections still open (event streams end within a second once their client
    # is gone), then the listening socket and the worker threads.
    for channel in list(srv._map.values()):
        if channel is not srv and hasattr(channel, "requests"):
            channel.handle_close()
    srv.close()
    srv.task_dispatcher.shutdown(timeout=3)


class HostSite:
    """A stand-in customer website on another origin (localhost vs 127.0.0.1, another port)
    that embeds the snippet under a strict Content Security Policy."""

    def __init__(self, api: str):
        self.api = api
        self.pages: dict[str, bytes] = {}
        self.styles: dict[str, bytes] = {"/hostile.css": HOSTILE_CSS.encode()}
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?")[0]
                if path in site.pages:
                    body, content_type = site.pages[path], "text/html; charset=utf-8"
                elif path in site.styles:
                    body, content_type = site.styles[path], "text/css"
                else:
                    self.send_response(404 if path != "/favicon.ico" else 204)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Security-Policy", site.csp)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.origin = f"http://localhost:{self.httpd.server_address[1]}"
        # No inline script or style is allowed: the widget must live with that.
        self.csp = (
            f"default-src 'self'; script-src {api}; connect-src {api}; style-src 'self'; "
            "img-src 'self'; frame-src 'none'"
        )
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def page(self, path: str, site_key: str | None, hostile: bool = False) -> str:
        snippet = (
            f'<script src="{self.api}/widget.js" data-site="{site_key}" async></script>'
            if site_key
            else ""
        )
        css = '<link rel="stylesheet" href="/hostile.css">' if hostile else ""
        html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme Shop</title>{css}</head>
<body>
<header><a href="/">Acme Shop</a> <a href="/products">Products</a></header>
<main><h1>Handmade teapots</h1>
<p>Porcelain and cast iron teapots, shipped across Europe. Ask us anything in the chat.</p>
<p><button type="button">Add to basket</button></p></main>
{snippet}
</body></html>"""
        self.pages[path] = html.encode()
        return self.origin + path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def host_site(server):
    site = HostSite(server)
    yield site
    site.close()


@pytest.fixture
def make_site(run_in_tm):
    """A registered site (as in tests/fixtures/visitors.py), for the host page's origin."""
    from asthron.audit.service import Actor
    from asthron.sites import service

    def make(origin, name="Acme Shop", **extra):
        extra.setdefault("title", "Acme Support")
        extra.setdefault("accent_color", "#0f766e")
        extra.setdefault("privacy_notice", PRIVACY_NOTICE)
        extra.setdefault("privacy_url", "https://shop.example.com/privacy")

        def create(db):
            site = service.create_site(db, Actor.cli(), service.SiteInput(name, [origin], **extra))
            return {"id": site.id, "key": site.public_key}

        return run_in_tm(create)

    return make


class Page:
    """A browser page plus what went wrong on it: dialogs and console errors."""

    def __init__(self, page):
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def shadow(self, script: str, arg=None):
        """Evaluate ``script`` (a function of the widget's shadow root and ``arg``)."""
        return self.page.evaluate(
            f"([arg]) => ({script})(document.getElementById('asthron-widget').shadowRoot, arg)",
            [arg],
        )


@pytest.fixture
def open_page(browser):
    contexts = []

    def open_(url, widget=True, **context_options):
        context_options.setdefault("viewport", {"width": 1280, "height": 800})
        context_options.setdefault("timezone_id", "Europe/Madrid")
        context = browser.new_context(**context_options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = Page(context.new_page())
        page.page.goto(url)
        if widget:
            page.page.locator(".launcher").wait_for()
        return page

    yield open_
    for context in contexts:
        context.close()


def closed_days() -> list[str]:
    """Yesterday, today and tomorrow (UTC) as holidays: closed now, whatever the time."""
    today = dt.datetime.now(dt.UTC).date()
    return [(today + dt.timedelta(days=n)).isoformat() for n in (-1, 0, 1)]

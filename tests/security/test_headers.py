"""Security headers on every kind of response, and templates that a strict CSP can serve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import webtest

from tests.security.support import cookie_attributes, cookie_header

ROOT = Path(__file__).resolve().parents[2]


def parse_csp(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def assert_secure_headers(response, production: bool = False):
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] in {
        "no-referrer",
        "same-origin",
        "strict-origin-when-cross-origin",
    }
    csp = parse_csp(headers["Content-Security-Policy"])
    assert csp["script-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in headers["Content-Security-Policy"]
    if production:
        hsts = headers["Strict-Transport-Security"]
        max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))
        assert max_age >= 365 * 24 * 3600
    else:
        assert "Strict-Transport-Security" not in headers


def _responses(browser):
    yield browser.get("/login")
    yield browser.get("/no-such-page", status=404)
    yield browser.get("/", status=303)
    yield browser.post("/login", {"email": "x"}, status=400)  # no CSRF token
    yield browser.get("/audit?since=not-a-date", status=303)
    yield browser.get("/static/dashboard.css")


def test_headers_on_every_kind_of_response(testapp, make_user, login):
    for response in _responses(testapp):
        assert_secure_headers(response)
    login(make_user("owner"))
    for path, status in [("/", 200), ("/team", 200), ("/audit?since=bad", 400), ("/x", 404)]:
        response = testapp.get(path, status=status)
        assert_secure_headers(response)
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Cache-Control"] == "no-store"


@pytest.fixture
def production_app(ini_settings):
    from asthron import main

    application = main({}, **dict(ini_settings, **{"asthron.production": "true"}))
    yield application
    application.registry["db_engine"].dispose()


def test_production_adds_hsts_and_secure_cookies(production_app, make_user):
    # The browser talks HTTPS to the proxy in front of us, as in production.
    browser = webtest.TestApp(
        production_app,
        extra_environ={
            "REMOTE_ADDR": "192.0.2.10",
            "wsgi.url_scheme": "https",
            "HTTP_HOST": "localhost",
        },
    )
    page = browser.get("/login")
    assert_secure_headers(page, production=True)
    assert "secure" in cookie_attributes(cookie_header(page, "__Host-asthron_csrf"))
    user = make_user("staff")
    from tests.conftest import csrf_from

    response = browser.post(
        "/login",
        {"email": user["email"], "password": user["password"], "csrf_token": csrf_from(page)},
        headers={"Origin": "https://localhost"},
        status=303,
    )
    assert_secure_headers(response, production=True)
    for name in ("asthron_session", "asthron_device"):
        attributes = cookie_attributes(cookie_header(response, name))
        assert {"secure", "httponly", "samesite"} <= attributes
    assert "samesite=lax" in cookie_header(response, "asthron_session").lower()
    assert_secure_headers(browser.get("/", status=200), production=True)


# -- templates ------------------------------------------------------------------------------

INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I | re.S)
JS_URL = re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.I)


def _templates() -> list[Path]:
    files = [p for p in (ROOT / "templates").rglob("*") if p.suffix in {".html", ".jinja2", ".pt"}]
    files += list((ROOT / "asthron" / "static").rglob("*.html"))
    return sorted(files)


def test_the_template_checks_catch_what_they_should():
    assert INLINE_SCRIPT.search("<script>alert(1)</script>")
    assert INLINE_SCRIPT.search('<SCRIPT type="module">x</SCRIPT>')
    assert not INLINE_SCRIPT.search('<script src="/static/app.js"></script>')
    assert EVENT_HANDLER.search('<img src=x onerror="alert(1)">')
    assert EVENT_HANDLER.search('<button\n  onclick="go()">')
    assert not EVENT_HANDLER.search('<input name="one" data-confirm="x">')
    assert JS_URL.search('<a href="javascript:alert(1)">')
    assert INLINE_STYLE.search('<p style="color:red">')


def test_templates_need_no_unsafe_inline():
    templates = _templates()
    assert len(templates) >= 10
    problems = []
    for path in templates:
        text = path.read_text()
        for name, pattern in [
            ("inline <script>", INLINE_SCRIPT),
            ("on* event handler", EVENT_HANDLER),
            ("javascript: URL", JS_URL),
            ("inline style", INLINE_STYLE),
        ]:
            for match in pattern.finditer(text):
                problems.append(f"{path.relative_to(ROOT)}: {name}: {match.group(0)[:60]!r}")
    assert not problems, "\n".join(problems)

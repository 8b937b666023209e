"""Anonymous clients cannot take the web process's threads or memory: long polls share the
streams' slots (per visitor, per address, per process), and request bodies have a limit, in
waitress as ``asthron serve`` runs it and in the app itself for any other server."""

from __future__ import annotations

import contextlib
import io
import threading
import time

import pytest
import webob

from tests.fixtures.visitors import LiveServer, Visitor

API = "/api/widget/v1"
# The outside test: after=999999999 means nothing ever arrives, so every poll waits.
NEVER = "after=999999999&wait=10"


@pytest.fixture
def served(app):
    """The app behind waitress, configured exactly as ``asthron serve`` configures it."""
    import waitress
    from waitress import wasyncore

    from asthron.cli.serve import waitress_options

    options = waitress_options(app.registry["app_settings"], "127.0.0.1", 0)
    server = waitress.create_server(app, **options)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    yield LiveServer(app, server.effective_port)
    wasyncore.close_all(server._map)
    thread.join(timeout=15)


def _poll_all(served, polls) -> list[tuple[int, str | None]]:
    """Run (visitor, conversation_id) long polls at once; (status, Retry-After) of each."""
    results = []

    def poll(visitor, conversation_id):
        status, headers, _ = served.request(
            "GET", f"{API}/conversations/{conversation_id}/events?{NEVER}", headers=visitor.headers
        )
        results.append((status, headers.get("Retry-After")))

    threads = [threading.Thread(target=poll, args=p) for p in polls]
    for thread in threads:
        thread.start()
    return threads, results


def _login_page_seconds(served) -> float:
    started = time.monotonic()
    status, _headers, _body = served.request("GET", "/login")
    assert status == 200
    return time.monotonic() - started


@pytest.mark.app_settings(**{"waitress.threads": 8, "widget.max_wait": 4})
def test_long_polls_from_one_address_cannot_take_the_threads(served, testapp, site):
    settings = served.app.registry["app_settings"]
    assert (settings.stream_capacity, settings.stream_capacity_per_ip) == (6, 3)
    visitors = [Visitor(testapp, site) for _ in range(12)]
    polls = [(v, v.open()["id"]) for v in visitors]

    threads, results = _poll_all(served, polls)
    deadline = time.monotonic() + 10
    while len(results) < 9 and time.monotonic() < deadline:
        time.sleep(0.02)
    # Three wait (this address's share); the rest are told to come back later, at once.
    assert sorted(results) == [(429, "30")] * 9, results
    assert served.app.registry["stream_counter"].total == 3
    # The dashboard still answers while they wait.
    assert _login_page_seconds(served) < 1.5
    for thread in threads:
        thread.join(timeout=15)
    assert sorted(results)[:3] == [(200, None)] * 3
    assert served.app.registry["stream_counter"].total == 0


@pytest.mark.app_settings(**{"waitress.threads": 8, "widget.max_wait": 2})
def test_one_visitor_token_holds_at_most_its_share(served, testapp, site):
    visitor = Visitor(testapp, site)
    conversation_id = visitor.open()["id"]

    threads, results = _poll_all(served, [(visitor, conversation_id)] * 5)
    for thread in threads:
        thread.join(timeout=15)

    per_visitor = served.app.registry["app_settings"].widget_max_streams_per_visitor
    assert sorted(s for s, _ in results) == [200] * per_visitor + [429] * (5 - per_visitor)


@pytest.mark.app_settings(**{"widget.max_streams_per_ip": 1, "widget.max_wait": 3})
def test_streams_and_long_polls_share_the_slots(served, testapp, site):
    first, second = Visitor(testapp, site), Visitor(testapp, site)
    first_id, second_id = first.open()["id"], second.open()["id"]
    threads, results = _poll_all(served, [(first, first_id)])
    deadline = time.monotonic() + 5
    while served.app.registry["stream_counter"].total < 1 and time.monotonic() < deadline:
        time.sleep(0.02)

    status, _headers, body = served.request(
        "GET", f"{API}/conversations/{second_id}/stream", headers=second.headers
    )

    assert status == 429 and body["error"]["code"] == "too_many_streams"
    threads[0].join(timeout=10)
    assert results == [(200, None)]


def _post(served, path: str, body: bytes, chunked: bool = False, content_type=None) -> int:
    """The status of a raw POST; the server may refuse (and close) before the body is sent."""
    import socket

    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {served.host}:{served.port}",
        f"Content-Type: {content_type or 'application/x-www-form-urlencoded'}",
        "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if chunked:
        step = 64 * 1024
        pieces = [body[i : i + step] for i in range(0, len(body), step)]
        body = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
    with socket.create_connection((served.host, served.port), timeout=30) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        reply = b""
        try:
            while b"\r\n" not in reply:
                data = sock.recv(4096)
                if not data:
                    break
                reply += data
        except ConnectionResetError:
            pass
    return int(reply.split(b" ", 2)[1])


LIMIT = 1024 * 1024


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_waitress_refuses_an_oversized_body(served, chunked):
    assert served.app.registry["app_settings"].max_request_body_size == LIMIT
    oversized = b"email=a&password=" + b"x" * LIMIT

    assert _post(served, "/login", oversized, chunked) == 413
    assert _post(served, f"{API}/sessions", oversized, chunked, "application/json") == 413
    # Up to the limit, a body is the app's to judge (here: no CSRF token, so 400). waitress
    # counts a chunked body with its framing, so leave that some room.
    fits = b"x" * (LIMIT - 16 * 1024 if chunked else LIMIT)
    assert _post(served, "/login", fits, chunked) == 400


def test_the_app_refuses_an_oversized_body_behind_any_server(testapp):
    oversized = b"email=a&password=" + b"x" * LIMIT

    page = testapp.post(
        "/login",
        oversized,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        status=413,
    )
    api = testapp.post(
        f"{API}/sessions", oversized, headers={"Content-Type": "application/json"}, status=413
    )
    # A chunked body has no length: the app reads one byte past the limit and stops.
    chunked_request = webob.Request.blank("/login", method="POST")
    chunked_request.environ.pop("CONTENT_LENGTH", None)
    chunked_request.environ.update(
        {
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input": io.BytesIO(oversized),
            "wsgi.input_terminated": True,
        }
    )
    chunked = chunked_request.get_response(testapp.app)
    assert chunked.status_code == 413

    assert "too large" in page.text and page.headers["X-Content-Type-Options"] == "nosniff"
    assert api.json["error"]["code"] == "payload_too_large"
    assert "too large" in chunked.text
    testapp.post("/login", b"x" * LIMIT, status=400)


@pytest.mark.app_settings(max_request_body_size=2048)
def test_the_limit_is_configurable(testapp):
    testapp.post("/login", b"x" * 2049, status=413)
    testapp.post("/login", b"x" * 2048, status=400)

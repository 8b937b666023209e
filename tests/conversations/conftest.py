"""Fixtures for the visitor side: a site, a visitor session and an API client."""

from __future__ import annotations

import pytest

ORIGIN = "https://shop.example.com"


@pytest.fixture
def make_site(run_in_tm):
    from asthron.audit.service import Actor
    from asthron.sites import service

    def make(name="Shop", origins=(ORIGIN,), **extra):
        def create(db):
            site = service.create_site(
                db, Actor.cli(), service.SiteInput(name, list(origins), **extra)
            )
            return {"id": site.id, "key": site.public_key, "origins": list(origins)}

        return run_in_tm(create)

    return make


@pytest.fixture
def site(make_site):
    return make_site()


class Visitor:
    """A widget client: a token, an origin and helpers for the API calls."""

    def __init__(self, testapp, site, origin=ORIGIN):
        self.app, self.site, self.origin = testapp, site, origin
        response = testapp.post_json(
            "/api/widget/v1/sessions", {"site_key": site["key"]}, headers={"Origin": origin}
        )
        self.token = response.json["visitor_token"]
        self.session_response = response

    @property
    def headers(self):
        return {"Authorization": f"Bearer {self.token}", "Origin": self.origin}

    def open(self, status=None):
        return self.app.post_json(
            "/api/widget/v1/conversations", {}, headers=self.headers, status=status or "*"
        ).json

    def send(self, conversation_id, body, client_id=None, status="*"):
        import uuid

        return self.app.post_json(
            f"/api/widget/v1/conversations/{conversation_id}/messages",
            {"body": body, "client_id": client_id or uuid.uuid4().hex},
            headers=self.headers,
            status=status,
        )

    def events(self, conversation_id, after=0, status="*", **params):
        query = "&".join(f"{k}={v}" for k, v in {"after": after, **params}.items())
        return self.app.get(
            f"/api/widget/v1/conversations/{conversation_id}/events?{query}",
            headers=self.headers,
            status=status,
        )


@pytest.fixture
def visitor(testapp, site):
    return Visitor(testapp, site)


@pytest.fixture
def make_visitor(testapp):
    def make(site, origin=ORIGIN):
        return Visitor(testapp, site, origin)

    return make


# -- app settings per test, and a clean end for background replies ---------------------------


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "app_settings(**settings): [app:main] settings for this test's app"
    )


@pytest.fixture
def ini_settings(ini_settings, request):
    marker = request.node.get_closest_marker("app_settings")
    if marker is not None:
        ini_settings.update({f"asthron.{k}": str(v) for k, v in marker.kwargs.items()})
    return ini_settings


@pytest.fixture
def app(app):
    yield app
    # Replies run in a pool after commit; let them finish before the database is emptied, so
    # a late reply never lands in the next test's conversation.
    app.registry["reply_runner"].pool.shutdown(wait=True)


@pytest.fixture
def fast_streams(monkeypatch):
    """Heartbeats and disconnect checks every few tens of milliseconds instead of seconds."""
    from asthron.conversations import streams

    monkeypatch.setattr(streams, "HEARTBEAT_SECONDS", 0.2)
    monkeypatch.setattr(streams, "POLL_SLICE", 0.05)


# -- a real waitress server -----------------------------------------------------------------


class LiveServer:
    def __init__(self, app, port):
        self.app, self.port, self.host = app, port, "127.0.0.1"

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def request(self, method, path, body=None, headers=None):
        """One HTTP request; returns (status, headers, parsed JSON or raw bytes)."""
        import http.client
        import json

        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            payload = None if body is None else json.dumps(body).encode()
            all_headers = {"Content-Type": "application/json", **(headers or {})}
            connection.request(method, path, body=payload, headers=all_headers)
            response = connection.getresponse()
            raw = response.read()
            content_type = response.getheader("Content-Type", "")
            data = json.loads(raw) if content_type.startswith("application/json") else raw
            return response.status, dict(response.getheaders()), data
        finally:
            connection.close()

    def stream(self, path, headers=None):
        from tests.conversations.sse import SSEClient

        return SSEClient(self.host, self.port, path, headers)


@pytest.fixture
def live_server(app, fast_streams):
    import threading

    import waitress
    from waitress import wasyncore

    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=32)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    yield LiveServer(app, server.effective_port)
    # Closing every channel marks open streams disconnected; their threads then finish.
    wasyncore.close_all(server._map)
    thread.join(timeout=15)
    assert not thread.is_alive(), "the waitress server did not stop"


def close_conversation(run_in_tm, conversation_id: int) -> None:
    """Close a conversation the way staff will: status closed, its open slot freed."""
    from asthron.conversations.models import Conversation
    from asthron.db import utcnow

    def close(db):
        conversation = db.get(Conversation, conversation_id)
        conversation.status, conversation.open_slot = "closed", None
        conversation.closed_at = utcnow()

    run_in_tm(close)

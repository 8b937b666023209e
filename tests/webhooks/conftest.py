"""Real loopback receivers, a stub resolver and helpers for the webhook tests."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from asthron import domain_events
from asthron.db import utcnow
from asthron.jobs.models import OutboxItem
from asthron.jobs.service import sweep
from asthron.webhooks import service
from asthron.webhooks.models import WebhookDelivery


class Receiver:
    """An HTTP server on a loopback address that records every request and answers with
    whatever ``reply`` (status, headers, body, or a callable) says, or hangs."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.requests: list[dict] = []
        self.replies: list = []  # consumed one per request; the last one repeats
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append(
                    {
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                        "path": self.path,
                    }
                )
                reply = receiver.next_reply()
                if callable(reply):
                    reply(self)
                    return
                status, headers, payload = reply
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.host, self.port = host, self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next_reply(self):
        if not self.replies:
            return (200, {}, b"ok")
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def make_receiver():
    servers = []

    def make(host="127.0.0.1", port=0):
        server = Receiver(host, port)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def hang(seconds: float):
    def reply(handler):
        time.sleep(seconds)
        handler.send_response(200)
        handler.send_header("content-length", "0")
        handler.end_headers()

    return reply


@pytest.fixture
def ini_settings(ini_settings):
    return {**ini_settings, "asthron.webhooks.timeout_seconds": "1"}


@pytest.fixture
def stub_dns(monkeypatch):
    """A resolver: names in ``answers`` get their next answer (the last repeats), and every
    call is counted; other names go to the real resolver."""
    answers: dict[str, list[list[str]]] = {}
    calls: dict[str, int] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host in answers:
            calls[host] = calls.get(host, 0) + 1
            queue = answers[host]
            ips = queue.pop(0) if len(queue) > 1 else queue[0]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in ips]
        if str(host).endswith(".test"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, family, type, proto, flags)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, calls


@pytest.fixture
def make_endpoint(run_in_tm, registry):
    from asthron.audit.service import Actor

    def make(url, events=("conversation.created",)):
        def create(db):
            endpoint, secret = service.create_endpoint(
                db,
                registry["secret_box"],
                Actor.cli(),
                url,
                list(events),
                None,
                registry["app_settings"].outbound_allowed_private_hosts,
            )
            return endpoint.id, secret

        return run_in_tm(create)

    return make


@pytest.fixture
def fire(run_in_tm):
    """Record a domain event in a committed transaction (delivery starts after the commit)."""

    def record(kind="conversation.created", **payload):
        payload = payload or {"conversation_id": 7, "site_id": 1, "visitor_id": 340}
        return run_in_tm(lambda db: domain_events.record(db, kind, **payload).id)

    return record


@pytest.fixture
def retry_now(run_in_tm, registry):
    """Make every pending delivery and outbox item due now and run them (the sweeper)."""

    def run():
        def due(db):
            now = utcnow()
            db.execute(
                sa.update(WebhookDelivery)
                .where(WebhookDelivery.state == "pending")
                .values(next_attempt_at=now)
            )
            db.execute(
                sa.update(OutboxItem)
                .where(OutboxItem.state == "pending")
                .values(next_attempt_at=now)
            )

        run_in_tm(due)
        return sweep(registry)

    return run


@pytest.fixture
def deliveries(run_in_tm):
    def read():
        return run_in_tm(
            lambda db: [
                {
                    c: getattr(d, c)
                    for c in (
                        "id",
                        "state",
                        "attempts",
                        "message_id",
                        "last_error",
                        "last_status",
                        "next_attempt_at",
                        "event_type",
                    )
                }
                for d in db.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id))
            ]
        )

    return read

"""A real SMTP server on loopback (aiosmtpd) whose answers a test can script."""

from __future__ import annotations

import asyncio
import socket
import threading
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecordingHandler:
    """Keeps every accepted message; ``script`` sets the answers to the next DATA commands.

    Each script entry is "accept", an SMTP reply such as "451 try later", or "block": wait
    (without blocking the server's loop) until ``release`` is set, then answer 451.
    """

    def __init__(self, script=()):
        self.script = list(script)
        self.messages = []
        self.data_calls = 0
        self.blocked = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.data_calls += 1
        action = self.script.pop(0) if self.script else "accept"
        if action == "block":
            self.blocked.set()
            for _ in range(600):  # at most 60 s, so a forgotten release cannot hang a run
                if self.release.is_set():
                    break
                await asyncio.sleep(0.1)
            return "451 4.3.0 gave up"
        if action != "accept":
            return action
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "message": message,
            }
        )
        return "250 2.0.0 OK"


class Authenticator:
    def __init__(self, username: str, password: str):
        self.username, self.password = username.encode(), password.encode()
        self.failures = 0

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword) and (
            auth_data.login == self.username and auth_data.password == self.password
        ):
            return AuthResult(success=True)
        self.failures += 1
        return AuthResult(success=False, handled=False)


class SmtpServer:
    """One aiosmtpd server on 127.0.0.1; ``start``/``stop`` may be called again (same port)."""

    def __init__(self, handler=None, *, port=None, username=None, password=None):
        self.handler = handler or RecordingHandler()
        self.port = port or free_port()
        self.authenticator = Authenticator(username, password) if username else None
        self.controller = None

    @property
    def messages(self):
        return self.handler.messages

    def start(self):
        kwargs = {}
        if self.authenticator:
            kwargs.update(authenticator=self.authenticator, auth_require_tls=False)
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10, **kwargs
        )
        self.controller.start()
        return self

    def stop(self):
        self.handler.release.set()
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_server():
    """Start (or, with start=False, only prepare) SMTP servers; all are stopped afterwards."""
    servers = []

    def make(script=(), *, start=True, **kwargs) -> SmtpServer:
        server = SmtpServer(RecordingHandler(script), **kwargs)
        servers.append(server)
        return server.start() if start else server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def configure_smtp(run_in_tm, registry):
    """Store SMTP settings pointing at a test server, as the settings form would."""
    from asthron.audit.service import Actor
    from asthron.forms import validate_form
    from asthron.notify import service
    from asthron.notify.forms import SmtpSettingsForm

    def configure(server, **overrides):
        data = {
            "host": "127.0.0.1",
            "port": str(server.port),
            "security": "none",
            "from_address": "assistant@example.com",
            "from_name": "Asthron Test",
            "timeout_seconds": "10",
            **overrides,
        }
        new = validate_form(SmtpSettingsForm, data)
        run_in_tm(lambda db: service.save_settings(db, registry["secret_box"], Actor.cli(), new))

    return configure

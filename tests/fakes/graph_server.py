"""A loopback fake of Meta's Graph API, speaking its real payloads on 127.0.0.1.

* ``POST /{version}/{phone_number_id}/messages`` (WhatsApp Cloud API): answers
  ``{"messaging_product": "whatsapp", "contacts": [{"input", "wa_id"}], "messages": [{"id":
  "wamid..."}]}``; a read receipt / typing indicator (``"status": "read"``) answers
  ``{"success": true}``.
* ``POST /{version}/{page_id}/messages`` (Messenger, Instagram): ``{"recipient_id",
  "message_id": "m_..."}``; a ``sender_action`` answers ``{"recipient_id"}``.
* ``GET /{version}/{phone_number_id}`` and ``GET /{version}/me``: who the token is.

A wrong bearer token gets Graph's OAuth error. ``replies`` queues behaviours for the next send
requests, one each (the last repeats): ``"ok"``, ``"500"`` (an error body with code 2),
``("error", code, message)`` (400 with that Graph error), ``("hang", seconds)``. Every request is
recorded.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

VERSION = "v21.0"


def graph_error(message: str, code: int, type_: str = "OAuthException") -> dict:
    return {
        "error": {
            "message": message,
            "type": type_,
            "code": code,
            "fbtrace_id": "AbCdEfGhIjK",
        }
    }


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None


@dataclass
class FakeGraphServer:
    token: str = "EAAG-test-token"
    replies: list = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self):
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sends(self, kind: str | None = None) -> list[Recorded]:
        """The message sends (not typing indicators or read receipts)."""
        out = []
        for r in self.requests:
            if r.method != "POST" or not r.path.endswith("/messages"):
                continue
            body = r.body or {}
            if body.get("status") == "read" or "sender_action" in body:
                continue
            out.append(r)
        return out

    def _next(self):
        with self._lock:
            if not self.replies:
                return "ok"
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    def start(self) -> FakeGraphServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status: int, data: dict):
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json; charset=UTF-8")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _record(self, body):
                record = Recorded(
                    self.command,
                    urlsplit(self.path).path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with fake._lock:
                    fake.requests.append(record)
                return record

            def _authorised(self) -> bool:
                if self.headers.get("authorization") == f"Bearer {fake.token}":
                    return True
                self._send(
                    401, graph_error("Invalid OAuth access token - Cannot parse access token", 190)
                )
                return False

            def do_GET(self):
                record = self._record(None)
                if not self._authorised():
                    return
                parts = record.path.strip("/").split("/")
                if parts[-1] == "me":
                    self._send(200, {"id": "104928371", "name": "Acme Shop"})
                else:
                    self._send(
                        200,
                        {
                            "verified_name": "Acme Shop",
                            "display_phone_number": "+1 555-010-4477",
                            "id": parts[-1],
                            "quality_rating": "GREEN",
                        },
                    )

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = None
                self._record(body)
                if not self._authorised():
                    return
                if not isinstance(body, dict):
                    self._send(400, graph_error("Invalid JSON", 100, "GraphMethodException"))
                    return
                if body.get("status") == "read":
                    self._send(200, {"success": True})
                    return
                if "sender_action" in body:
                    self._send(200, {"recipient_id": body["recipient"]["id"]})
                    return
                reply = fake._next()
                if isinstance(reply, tuple) and reply[0] == "hang":
                    time.sleep(reply[1])
                    reply = "ok"
                if reply == "500":
                    self._send(
                        500,
                        graph_error(
                            "An unexpected error has occurred. Please retry your request later.",
                            2,
                        ),
                    )
                    return
                if isinstance(reply, tuple) and reply[0] == "error":
                    self._send(400, graph_error(reply[2], reply[1]))
                    return
                n = next(fake._ids)
                if body.get("messaging_product") == "whatsapp":
                    to = body.get("to", "")
                    self._send(
                        200,
                        {
                            "messaging_product": "whatsapp",
                            "contacts": [{"input": to, "wa_id": to}],
                            "messages": [{"id": f"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI{n:06d}"}],
                        },
                    )
                else:
                    self._send(
                        200,
                        {
                            "recipient_id": body.get("recipient", {}).get("id"),
                            "message_id": f"m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_{n:06d}",
                        },
                    )

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that gave up on a hanging answer: expected, not news

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

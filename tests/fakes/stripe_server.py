"""A loopback fake of the Stripe API that the real ``stripe`` SDK talks to.

It speaks Stripe's wire protocol: form-encoded bodies with bracketed keys
(``line_items[0][price_data][currency]=eur``), Bearer keys, JSON objects and JSON errors
(``{"error": {"type", "code", "message"}}``), the ``Idempotency-Key`` header (a repeated key
replays the first answer, as Stripe does for 24 hours) and ``Stripe-Should-Retry``.

Served: ``POST /v1/checkout/sessions``, ``GET /v1/checkout/sessions/{id}``,
``POST /v1/checkout/sessions/{id}/expire``, ``POST /v1/refunds``, ``GET /v1/balance``.
``fail_next`` queues scripted failures (status, error type, code, should-retry) per path
prefix; ``complete``/``expire`` play the customer on the hosted Checkout page; ``event``
builds the webhook Stripe would send, and ``sign`` signs it as Stripe does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

GOOD_KEY = "sk_test_fakegoodkey0001"
NO_BALANCE_KEY = "rk_test_nobalanceread01"


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header: t=<unix time>,v1=<hex HMAC-SHA256 of "t.payload">."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def parse_form(body: str) -> dict:
    """Stripe's bracketed form keys back into nested dicts and lists."""
    result: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(result)


def _lists(node):
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_lists(node[k]) for k in sorted(node, key=int)]
        return {k: _lists(v) for k, v in node.items()}
    return node


@dataclass
class Failure:
    status: int
    type: str = "api_error"
    code: str | None = None
    message: str = "Something went wrong."
    should_retry: str | None = None


@dataclass
class FakeStripe:
    keys: set = field(default_factory=lambda: {GOOD_KEY, NO_BALANCE_KEY})
    sessions: dict = field(default_factory=dict)
    refunds: list = field(default_factory=list)
    requests: list = field(default_factory=list)
    fail_next: dict = field(default_factory=dict)  # path prefix -> [Failure, ...]
    idempotent: dict = field(default_factory=dict)  # key -> (status, body)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Where the hosted page's payments are reported (the app's /hooks/stripe), signed with this.
    webhook_url: str = ""
    webhook_secret: str = ""

    def start(self) -> FakeStripe:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, method):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                if self.path.startswith("/pay/"):
                    return self._hosted_page(method)
                if method == "GET" and "?" in self.path:
                    path, query = self.path.split("?", 1)
                else:
                    path, query = self.path, ""
                status, payload, headers = fake.handle(
                    method, path, parse_form(body or query), dict(self.headers)
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("request-id", "req_" + secrets.token_hex(6))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _hosted_page(self, method):
                """The hosted Checkout page: a Pay button; paying completes the session,
                sends the signed webhook and returns to the success URL."""
                session_id = self.path.removeprefix("/pay/").split("/")[0]
                session = fake.sessions.get(session_id)
                if session is None:
                    self.send_response(404)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                if method == "POST":
                    paid = fake.complete(session_id)
                    fake.send_webhook("checkout.session.completed", paid)
                    self.send_response(303)
                    self.send_header("location", paid["success_url"])
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                page = (
                    "<!doctype html><title>Fake Checkout</title>"
                    f"<p>{session['amount_total']} {session['currency']}</p>"
                    f'<form method="post" action="/pay/{session_id}">'
                    '<button type="submit">Pay with test card</button></form>'
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def do_GET(self):
                self._answer("GET")

            def do_POST(self):
                self._answer("POST")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- the API ---------------------------------------------------------------------------

    def handle(self, method: str, path: str, params: dict, headers: dict):
        headers = {k.lower(): v for k, v in headers.items()}
        key = headers.get("idempotency-key")
        with self.lock:
            self.requests.append(
                {"method": method, "path": path, "params": params, "idempotency_key": key}
            )
            for prefix, queue in self.fail_next.items():
                if path.startswith(prefix) and queue:
                    failure = queue.pop(0)
                    extra = (
                        {"stripe-should-retry": failure.should_retry}
                        if failure.should_retry
                        else {}
                    )
                    return (
                        failure.status,
                        _error(failure.type, failure.message, failure.code),
                        extra,
                    )
            auth = headers.get("authorization", "")
            api_key = auth.removeprefix("Bearer ").strip()
            if api_key not in self.keys:
                return (
                    401,
                    _error("invalid_request_error", f"Invalid API Key provided: {api_key[:8]}****"),
                    {},
                )
            if method == "POST" and key and key in self.idempotent:
                status, body = self.idempotent[key]
                return status, body, {"idempotent-replayed": "true"}
            status, body = self._route(method, path, params, api_key)
            if method == "POST" and key and status < 500:
                self.idempotent[key] = (status, body)
            return status, body, {}

    def _route(self, method, path, params, api_key):
        if path == "/v1/balance" and method == "GET":
            if api_key == NO_BALANCE_KEY:
                return 403, _error(
                    "invalid_request_error",
                    "The provided key does not have the required permissions (rak_balance_read).",
                )
            return 200, {
                "object": "balance",
                "livemode": False,
                "available": [{"amount": 1000, "currency": "eur"}],
                "pending": [],
            }
        if path == "/v1/checkout/sessions" and method == "POST":
            return self._create_session(params)
        if path.startswith("/v1/checkout/sessions/"):
            rest = path.removeprefix("/v1/checkout/sessions/")
            session_id, _, action = rest.partition("/")
            session = self.sessions.get(session_id)
            if session is None:
                return 404, _error(
                    "invalid_request_error",
                    f"No such checkout.session: '{session_id}'",
                    "resource_missing",
                )
            if action == "expire" and method == "POST":
                if session["status"] != "open":
                    return 400, _error(
                        "invalid_request_error", "Only open sessions can be expired."
                    )
                session["status"] = "expired"
            return 200, session
        if path == "/v1/refunds" and method == "POST":
            return self._refund(params)
        return 404, _error("invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    def _create_session(self, params):
        items = params.get("line_items") or []
        try:
            price = items[0]["price_data"]
            amount, currency = int(price["unit_amount"]), price["currency"]
        except (IndexError, KeyError, ValueError):
            return 400, _error(
                "invalid_request_error", "line_items are required.", "parameter_missing"
            )
        expires_at = int(params.get("expires_at") or time.time() + 86400)
        if expires_at < time.time() + 1800 - 5:
            return 400, _error(
                "invalid_request_error",
                "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
            )
        session_id = "cs_test_" + secrets.token_hex(12)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_total": amount,
            "currency": currency,
            "client_reference_id": params.get("client_reference_id"),
            "customer_email": params.get("customer_email"),
            "expires_at": expires_at,
            "livemode": False,
            "metadata": params.get("metadata") or {},
            "mode": params.get("mode"),
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "url": f"{self.url}/pay/{session_id}",
        }
        self.sessions[session_id] = session
        return 200, session

    def _refund(self, params):
        intent = params.get("payment_intent")
        session = next((s for s in self.sessions.values() if s["payment_intent"] == intent), None)
        if session is None:
            return 404, _error(
                "invalid_request_error", f"No such payment_intent: '{intent}'", "resource_missing"
            )
        amount = int(params.get("amount") or session["amount_total"])
        done = sum(r["amount"] for r in self.refunds if r["payment_intent"] == intent)
        if amount + done > session["amount_total"]:
            return 400, _error(
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({session['amount_total'] - done})",
                "amount_too_large",
            )
        refund = {
            "id": "re_" + secrets.token_hex(12),
            "object": "refund",
            "amount": amount,
            "currency": session["currency"],
            "payment_intent": intent,
            "status": "succeeded",
            "metadata": params.get("metadata") or {},
        }
        self.refunds.append(refund)
        return 200, refund

    # -- the customer on the hosted page ------------------------------------------------

    def complete(self, session_id: str) -> dict:
        """The customer pays: the session is complete and paid."""
        with self.lock:
            session = self.sessions[session_id]
            session["status"] = "complete"
            session["payment_status"] = "paid"
            session["payment_intent"] = "pi_" + secrets.token_hex(12)
            return dict(session)

    def expire(self, session_id: str) -> dict:
        with self.lock:
            session = self.sessions[session_id]
            session["status"] = "expired"
            return dict(session)

    def event(self, type_: str, obj: dict, event_id: str | None = None) -> bytes:
        """The body of the webhook Stripe sends for ``obj``."""
        return json.dumps(
            {
                "id": event_id or "evt_" + secrets.token_hex(12),
                "object": "event",
                "api_version": "2025-01-27.acacia",
                "created": int(time.time()),
                "livemode": False,
                "pending_webhooks": 1,
                "type": type_,
                "data": {"object": obj},
            }
        ).encode()

    def send_webhook(self, type_: str, obj: dict) -> int:
        """POST the signed event to ``webhook_url`` with ``webhook_secret``, as Stripe does."""
        import urllib.request

        body = self.event(type_, obj)
        request = urllib.request.Request(
            self.webhook_url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": sign(body, self.webhook_secret),
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status

    def requests_to(self, path: str, method: str = "POST") -> list[dict]:
        return [r for r in self.requests if r["path"] == path and r["method"] == method]


def _error(type_: str, message: str, code: str | None = None) -> dict:
    error = {"type": type_, "message": message}
    if code:
        error["code"] = code
    return {"error": error}

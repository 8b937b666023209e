"""Fixtures for the staff inbox (the visitor-side ones are in tests/fixtures/visitors.py): staff
clients (WebTest and real HTTP, each with its own cookie jar), conversations in a given
state, and a slow responder."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import urllib.parse

import pytest
import webtest

from tests.fixtures.visitors import ORIGIN

API = "/api/widget/v1"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


# -- staff over WebTest -----------------------------------------------------------------------


class Staff:
    """A logged-in member in a browser of their own (WebTest, own cookie jar)."""

    def __init__(self, app, user: dict, ip: str):
        self.user = user
        self.id = user["id"]
        self.web = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": ip})
        page = self.web.get("/login")
        self.web.post(
            "/login",
            {
                "email": user["email"],
                "password": user["password"],
                "csrf_token": CSRF_RE.search(page.text).group(1),
            },
            status=303,
        )
        self.csrf = CSRF_RE.search(self.web.get("/account/sessions").text).group(1)

    def get(self, path, status=200, **kw):
        return self.web.get(path, status=status, **kw)

    def post(self, path, data=None, status="*", htmx=False, json_=True, headers=None):
        all_headers = {"X-CSRF-Token": self.csrf}
        if htmx:
            all_headers["HX-Request"] = "true"
        elif json_:
            all_headers["Accept"] = "application/json"
        all_headers.update(headers or {})
        return self.web.post(path, data or {}, headers=all_headers, status=status)

    def act(self, conversation_id, action, status="*", **data):
        return self.post(f"/inbox/{conversation_id}/{action}", data, status=status)


@pytest.fixture
def make_staff(app, make_user):
    counter = iter(range(20, 250))

    def make(role="staff", name=None):
        user = make_user(role, name=name)
        return Staff(app, user, f"192.0.2.{next(counter)}")

    return make


# -- staff over real HTTP ---------------------------------------------------------------------


class HttpStaff:
    """A member logged in against the real server: its own cookie jar over http.client."""

    def __init__(self, server, user: dict):
        self.server, self.user, self.id = server, user, user["id"]
        self.cookies: dict[str, str] = {}
        status, _headers, body = self.request("GET", "/login")
        assert status == 200
        token = CSRF_RE.search(body.decode()).group(1)
        status, _headers, _body = self.request(
            "POST",
            "/login",
            {"email": user["email"], "password": user["password"], "csrf_token": token},
        )
        assert status == 303, _body
        status, _headers, body = self.request("GET", "/inbox")
        assert status == 200
        self.csrf = CSRF_RE.search(body.decode()).group(1)

    def _cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def request(self, method, path, form=None, headers=None):
        connection = http.client.HTTPConnection(self.server.host, self.server.port, timeout=30)
        try:
            all_headers = dict(headers or {})
            if self.cookies:
                all_headers["Cookie"] = self._cookie_header()
            body = None
            if form is not None:
                body = urllib.parse.urlencode(form).encode()
                all_headers["Content-Type"] = "application/x-www-form-urlencoded"
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            raw = response.read()
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    cookie = value.split(";", 1)[0]
                    key, _, val = cookie.partition("=")
                    if val and "max-age=0" not in value.lower():
                        self.cookies[key.strip()] = val.strip()
                    else:
                        self.cookies.pop(key.strip(), None)
            return response.status, dict(response.getheaders()), raw
        finally:
            connection.close()

    def act(self, conversation_id, action, **form):
        """POST an inbox action as JSON; returns (status, parsed JSON or None)."""
        status, _headers, raw = self.request(
            "POST",
            f"/inbox/{conversation_id}/{action}",
            form,
            {"X-CSRF-Token": self.csrf, "Accept": "application/json"},
        )
        return status, (json.loads(raw) if raw else None)

    def stream(self, path):
        return self.server.stream(path, headers={"Cookie": self._cookie_header()})


@pytest.fixture
def http_staff(live_server, make_user):
    def make(role="staff", name=None):
        return HttpStaff(live_server, make_user(role, name=name))

    return make


class HttpVisitor:
    """The widget's side over real HTTP: a token, an origin and the API calls."""

    def __init__(self, server, site_key: str, origin: str = ORIGIN, timezone=None):
        self.server, self.origin = server, origin
        status, _h, data = server.request(
            "POST",
            f"{API}/sessions",
            {
                "site_key": site_key,
                "page_url": "https://shop.example.com/teapots",
                "timezone": timezone,
            },
            {"Origin": origin},
        )
        assert status == 201, data
        self.token = data["visitor_token"]

    @property
    def headers(self):
        return {"Authorization": f"Bearer {self.token}", "Origin": self.origin}

    def call(self, method, path, body=None, expect=None):
        status, _h, data = self.server.request(method, API + path, body, self.headers)
        if expect is not None:
            assert status == expect, (status, data)
        return status, data

    def open(self) -> int:
        return self.call("POST", "/conversations", {"page_url": "https://shop.example.com/"})[1][
            "id"
        ]

    def send(self, conversation_id, body, expect=201):
        import uuid

        return self.call(
            "POST",
            f"/conversations/{conversation_id}/messages",
            {"body": body, "client_id": uuid.uuid4().hex},
            expect,
        )[1]

    def events(self, conversation_id, after=0):
        return self.call(
            "GET", f"/conversations/{conversation_id}/events?after={after}", None, 200
        )[1]["events"]

    def stream(self, conversation_id, after=0):
        return self.server.stream(
            f"{API}/conversations/{conversation_id}/stream?after={after}", headers=self.headers
        )


@pytest.fixture
def http_visitor(live_server, site):
    def make(**kw):
        return HttpVisitor(live_server, site["key"], **kw)

    return make


# -- waiting and arranging --------------------------------------------------------------------


def wait_for(predicate, timeout=10.0, interval=0.05, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")


@pytest.fixture
def conversation_state(run_in_tm):
    """Read a conversation's owner, status and assigned user from the database."""

    def read(conversation_id):
        from asthron.conversations.models import Conversation

        def get(db):
            c = db.get(Conversation, conversation_id)
            return {"owner": c.owner, "status": c.status, "assigned_user_id": c.assigned_user_id}

        return run_in_tm(get)

    return read


@pytest.fixture
def stored_events(run_in_tm):
    def read(conversation_id):
        from asthron.conversations.models import ConversationEvent

        def get(db):
            return [
                (e.id, e.type, e.body, e.public)
                for e in db.query(ConversationEvent)
                .filter_by(conversation_id=conversation_id)
                .order_by(ConversationEvent.id)
            ]

        return run_in_tm(get)

    return read


@pytest.fixture
def no_replies(registry):
    """The reply runner does nothing: events stay exactly as the test makes them."""
    registry["reply_runner"].start_reply = lambda *a, **k: None


class SlowResponder:
    """Yields a reply in small pieces with a pause between them, and records how far it got."""

    name = "slow"

    def __init__(self, pieces=40, pause=0.1):
        self.pieces, self.pause = pieces, pause
        self.started = threading.Event()
        self.yielded = 0
        self.closed = threading.Event()
        self.contexts = []

    def prepare(self, db, context):
        return None

    def reply(self, context, prepared=None):
        from asthron.conversations.responder import GeneratorStream

        return GeneratorStream(self._pieces(context))

    def _pieces(self, context):
        self.contexts.append(context)
        self.started.set()
        try:
            for i in range(self.pieces):
                time.sleep(self.pause)
                self.yielded += 1
                yield f"part{i} "
        finally:
            self.closed.set()


class AnsweringResponder:
    """A model that answers (so no handoff rule fires), in a few streamed pieces, and keeps
    every context it was given: what a model would see."""

    name = "answering"

    def __init__(self, text="We do, and we ship across Europe."):
        self.text = text
        self.contexts = []

    def prepare(self, db, context):
        return None

    def reply(self, context, prepared=None):
        from asthron.conversations.responder import GeneratorStream

        return GeneratorStream(self._pieces(context))

    def _pieces(self, context):
        from asthron.conversations.responder import ReplyOutcome

        self.contexts.append(context)
        for word in self.text.split(" "):
            yield word + " "
        yield ReplyOutcome(self.text, data={"provider": "test", "sources": [{"id": 1}]})


@pytest.fixture
def chat(visitor, no_replies, run_in_tm):
    """A conversation whose visitor has a time zone, a few pages and a summary."""
    from asthron.conversations import service
    from asthron.conversations.models import Conversation
    from asthron.conversations.models import Visitor as VisitorRow
    from asthron.inbox.models import ConversationSummary

    conversation = visitor.open()
    visitor.send(conversation["id"], "Where is my order 1234?")

    def arrange(db):
        row = db.query(VisitorRow).one()
        row.timezone = "Europe/Madrid"
        row.name, row.email = "Grace Hopper", "grace@example.com"
        for path in ("/", "/teapots", "/checkout"):
            service.update_page(row, "https://shop.example.com" + path, db)
        c = db.get(Conversation, conversation["id"])
        db.add(
            ConversationSummary(
                conversation_id=c.id,
                text="First message: “Where is my order 1234?”",
                provider="builtin",
                up_to_event_id=1,
            )
        )

    run_in_tm(arrange)
    return conversation["id"]

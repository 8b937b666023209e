"""4. The staff inbox at 100,000 conversations, and staff-to-visitor delivery.

The list query (asthron.inbox.service.list_conversations) against a fresh SQLite database
bulk-filled with executemany: 100k visitors and conversations (80 % closed, 12 % with the
assistant, 3 % waiting, 5 % with one of 20 people) over 5 sites and 90 days, with three
messages each (300k events). Each filter, the second page (keyset cursor) and a search are
timed in-process, one short session per query as a request has; then GET /inbox over HTTP
(query + render) on the real server, whose database it is.

Delivery: a member logged in over HTTP joins a visitor's chat and replies; the time from
sending POST /inbox/{id}/reply to the ``event: message`` frame arriving on the visitor's
open SSE stream (keep-alive connections, the reply runner off).
"""

from __future__ import annotations

import datetime as dt
import http.client
import random
import re
import socket
import time
import urllib.parse

from bench.harness import API, Result, Section, new_visitor, percentile

NAME = "inbox"
TITLE = "Staff inbox"
THREADS = 16
CONVERSATIONS = 100_000
SITES = 5
STAFF = 20
GOAL_P95_MS = 100
GOAL_DELIVERY_P95_MS = 100
PASSWORD = "bench-Inbox-pass-93!x"
# The indexes asthron/conversations/models.py declares for the inbox; the benchmark's database
# comes from the migrations, so it measures without them first, then creates them.
CANDIDATE_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_conversations_last_activity_at_id "
    "ON conversations (last_activity_at, id)",
    "CREATE INDEX IF NOT EXISTS ix_conversations_waiting_since_waiting "
    "ON conversations (waiting_since) WHERE owner = 'waiting'",
)
WORDS = [
    "teapot",
    "porcelain",
    "iron",
    "shipping",
    "refund",
    "order",
    "delivery",
    "spain",
    "germany",
    "price",
    "discount",
    "gift",
    "wrap",
    "broken",
    "lid",
    "handle",
    "colour",
    "size",
    "stock",
    "invoice",
    "address",
    "return",
    "warranty",
]


# -- filling the database -------------------------------------------------------------------


def fill(url: str, conversations: int, seed: int = 7) -> dict:
    """Sites, staff and ``conversations`` chats with their visitors and messages."""
    import sqlalchemy as sa
    import transaction

    from asthron.accounts.models import User
    from asthron.audit.service import Actor
    from asthron.conversations.models import Conversation, ConversationEvent, Visitor
    from asthron.db import get_tm_session, make_engine
    from asthron.sites import service as sites
    from asthron.sites.models import Site

    rng = random.Random(seed)
    engine = make_engine(url)
    factory = sa.orm.sessionmaker(bind=engine)
    tm = transaction.TransactionManager(explicit=True)
    with tm:
        db = get_tm_session(factory, tm)
        existing = db.scalar(sa.select(sa.func.count()).select_from(Site))
        for n in range(SITES - existing):
            sites.create_site(
                db, Actor.cli(), sites.SiteInput(f"Site {n}", [f"https://s{n}.example.com"])
            )
        db.flush()
        site_ids = list(db.scalars(sa.select(Site.id)))
        for n in range(STAFF):
            db.add(User(email=f"member{n}@example.com", display_name=f"Member {n}", role="staff"))
        db.flush()
        staff_ids = list(db.scalars(sa.select(User.id)))

    now = dt.datetime.now(dt.UTC)
    visitors, chats, events = [], [], []
    first_visitor = 10_000_000  # explicit ids keep the three inserts independent
    first_event = 50_000_000
    for i in range(conversations):
        vid, cid = first_visitor + i, first_visitor + i
        site_id = rng.choice(site_ids)
        at = now - dt.timedelta(seconds=rng.randrange(90 * 86400))
        roll = rng.random()
        owner, status, assigned, waiting_since = "assistant", "open", None, None
        if roll < 0.80:
            status = "closed"
            owner = "human" if rng.random() < 0.3 else "assistant"
            assigned = rng.choice(staff_ids) if owner == "human" else None
        elif roll < 0.92:
            pass
        elif roll < 0.95:
            owner, waiting_since = "waiting", at
        else:
            owner, assigned = "human", rng.choice(staff_ids)
        named = rng.random() < 0.3
        visitors.append(
            {
                "id": vid,
                "site_id": site_id,
                "token_hash": f"{vid:064x}",
                "first_seen_at": at - dt.timedelta(minutes=5),
                "last_seen_at": at,
                "name": f"Visitor {i}" if named else None,
                "email": f"visitor{i}@example.org" if named and rng.random() < 0.7 else None,
            }
        )
        chats.append(
            {
                "id": cid,
                "site_id": site_id,
                "visitor_id": vid,
                "status": status,
                "open_slot": 1 if status == "open" else None,
                "owner": owner,
                "assigned_user_id": assigned,
                "created_at": at - dt.timedelta(minutes=5),
                "last_activity_at": at,
                "waiting_since": waiting_since,
                "closed_at": at if status == "closed" else None,
                "unread_for_staff": rng.randrange(3) if status == "open" else 0,
            }
        )
        for k, type_ in enumerate(("visitor_message", "assistant_message", "visitor_message")):
            events.append(
                {
                    "id": first_event + 3 * i + k,
                    "conversation_id": cid,
                    "type": type_,
                    "body": " ".join(rng.choice(WORDS) for _ in range(rng.randrange(4, 14))),
                    "public": True,
                    "data": {},
                    "created_at": at - dt.timedelta(minutes=3 - k),
                }
            )
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(sa.insert(Visitor), visitors)
        connection.execute(sa.insert(Conversation), chats)
        connection.execute(sa.insert(ConversationEvent), events)
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"seconds": seconds, "staff_ids": staff_ids, "site_ids": site_ids, "events": len(events)}


# -- the query ------------------------------------------------------------------------------


def scenarios(staff_id: int, site_id: int, cursor: str) -> list[tuple[str, dict, bool]]:
    """(label, query parameters, has a goal)."""
    return [
        ("all, first page", {}, True),
        ("waiting", {"filter": "waiting"}, True),
        ("mine", {"filter": "mine"}, True),
        ("with a person", {"filter": "human"}, True),
        ("with the assistant", {"filter": "assistant"}, True),
        ("closed", {"filter": "closed"}, True),
        ("one site", {"site": str(site_id)}, True),
        ("all, second page", {"before": cursor}, True),
        ("search (message text)", {"q": "warranty invoice"}, False),
    ]


def time_queries(url: str, staff_id: int, site_id: int, samples: int) -> dict[str, list[float]]:
    import sqlalchemy as sa

    from asthron.db import make_engine
    from asthron.inbox import service as inbox

    engine = make_engine(url)
    factory = sa.orm.sessionmaker(bind=engine)
    with factory() as db:
        first = inbox.list_conversations(db, staff_id, inbox.InboxQuery())
    found = scenarios(staff_id, site_id, first.next_cursor)
    timings: dict[str, list[float]] = {}
    for label, params, _goal in found:
        with factory() as db:
            query = inbox.parse_query(db, params)
        count = samples if "search" not in label else max(5, samples // 10)
        values = []
        for n in range(count + 3):
            start = time.perf_counter()
            with factory() as db:
                page = inbox.list_conversations(db, staff_id, query)
            elapsed = (time.perf_counter() - start) * 1000
            if n >= 3:  # warm-up
                values.append(elapsed)
        assert page.rows or label == "mine", label
        timings[label] = values
    engine.dispose()
    return timings


def query_plan(url: str) -> str:
    """How SQLite runs the unfiltered first page (for the notes)."""
    import sqlalchemy as sa

    from asthron.db import make_engine
    from asthron.inbox import service as inbox

    engine = make_engine(url)
    factory = sa.orm.sessionmaker(bind=engine)
    with factory() as db:
        captured = []

        @sa.event.listens_for(engine, "before_cursor_execute")
        def keep(conn, cursor, statement, parameters, context, executemany):
            captured.append((statement, parameters))

        inbox.list_conversations(db, None, inbox.InboxQuery())
        sa.event.remove(engine, "before_cursor_execute", keep)
        statement, parameters = captured[-1]
        rows = db.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        plan = "; ".join(row[-1] for row in rows)
    engine.dispose()
    return plan


# -- a staff member over HTTP ---------------------------------------------------------------


class StaffClient:
    """Keep-alive HTTP with a cookie jar and the session's CSRF token."""

    def __init__(self, port: int, email: str, password: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}
        self.csrf = None
        page = self.request("GET", "/login")[1]
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        status, _ = self.request(
            "POST", "/login", {"email": email, "password": password, "csrf_token": token}
        )
        if status != 303:
            raise RuntimeError(f"login failed: {status}")
        page = self.request("GET", "/inbox")[1]
        self.csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if method == "POST" and self.csrf:
            headers["X-CSRF-Token"] = self.csrf
            headers["Accept"] = "application/json"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, val = value.split(";", 1)[0].partition("=")
                self.cookies[key.strip()] = val.strip()
        return response.status, text

    def close(self) -> None:
        self.conn.close()


def create_member(url: str, email: str) -> None:
    import sqlalchemy as sa
    import transaction

    from asthron.accounts import service as accounts
    from asthron.audit.service import Actor
    from asthron.db import get_tm_session, make_engine

    engine = make_engine(url)
    tm = transaction.TransactionManager(explicit=True)
    with tm:
        db = get_tm_session(sa.orm.sessionmaker(bind=engine), tm)
        accounts.create_user(db, Actor.cli(), email, "staff", PASSWORD, "Bench Member")
    engine.dispose()


class VisitorStream:
    """The visitor's SSE stream on a raw socket, read by a thread of its own that stamps
    each ``event: message`` frame as it arrives."""

    def __init__(self, port: int, origin: str, token: str, conversation_id: int):
        import queue
        import threading

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(
            (
                f"GET {API}/conversations/{conversation_id}/stream HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
                f"Origin: {origin}\r\nAccept: text/event-stream\r\n\r\n"
            ).encode()
        )
        self.arrivals: queue.Queue = queue.Queue()
        self.open = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.open.wait(10):
            raise RuntimeError("the visitor's stream did not open")

    def _read(self) -> None:
        buffer = b""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return
                now = time.perf_counter()
                buffer += data
                if not self.open.is_set() and b"retry:" in buffer:
                    self.open.set()
                while b"\n\n" in buffer:
                    frame, buffer = buffer.split(b"\n\n", 1)
                    if b"event: message" in frame:
                        self.arrivals.put(now)
        except OSError:
            return

    def wait_message(self, timeout: float = 10) -> float:
        import queue

        try:
            return self.arrivals.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError("no message frame on the visitor's stream") from None

    def drain(self) -> None:
        while not self.arrivals.empty():
            self.arrivals.get_nowait()

    def close(self) -> None:
        self.sock.close()


def delivery(port: int, site_key: str, origin: str, email: str, count: int) -> dict:
    staff = StaffClient(port, email, PASSWORD)
    visitor, conversation_id = new_visitor(port, site_key, origin)
    visitor.expect(
        201, "POST", f"{API}/conversations/{conversation_id}/messages", visitor.message_body()
    )
    status, text = staff.request("POST", f"/inbox/{conversation_id}/join", {})
    if status != 200:
        raise RuntimeError(f"join: {status} {text[:200]}")
    stream = VisitorStream(port, origin, visitor.token, conversation_id)
    stream.wait_message()  # the visitor's own message, "… joined the chat"
    time.sleep(0.2)
    stream.drain()
    latencies, posts = [], []
    for n in range(count + 5):
        start = time.perf_counter()
        status, text = staff.request(
            "POST", f"/inbox/{conversation_id}/reply", {"body": f"Reply number {n}"}
        )
        posted = time.perf_counter()
        if status != 200:
            raise RuntimeError(f"reply: {status} {text[:200]}")
        arrived = stream.wait_message()
        if n >= 5:
            latencies.append((arrived - start) * 1000)
            posts.append((posted - start) * 1000)
    stream.close()
    staff.close()
    visitor.close()
    return {"latencies": latencies, "posts": posts}


def page_timings(port: int, email: str, count: int) -> list[float]:
    staff = StaffClient(port, email, PASSWORD)
    values = []
    for n in range(count + 3):
        start = time.perf_counter()
        status, _text = staff.request("GET", "/inbox")
        if status != 200:
            raise RuntimeError(f"GET /inbox: {status}")
        if n >= 3:
            values.append((time.perf_counter() - start) * 1000)
    staff.close()
    return values


# -- the benchmark --------------------------------------------------------------------------


def run(ctx) -> Section:
    section = Section(TITLE)
    samples = 40 if ctx.quick else 200
    app = ctx.start_app("inbox", THREADS, no_reply=True)
    try:
        url = f"sqlite:///{ctx.tmp / 'inbox.sqlite'}"
        filled = fill(url, CONVERSATIONS)
        staff_id, site_id = filled["staff_ids"][0], filled["site_ids"][0]
        email = "bench-member@example.com"
        create_member(url, email)

        plan = query_plan(url)
        timings = time_queries(url, staff_id, site_id, samples)
        found = scenarios(staff_id, site_id, "")
        goals = {label: goal for label, _params, goal in found}
        name = f"Inbox list, {CONVERSATIONS // 1000}k conversations"
        for label, values in timings.items():
            section.results.append(
                Result(
                    name,
                    f"{label}: p95",
                    percentile(values, 95),
                    "ms",
                    ("<=", GOAL_P95_MS) if goals[label] else None,
                )
            )
        page = page_timings(app.port, email, samples // 2)
        section.results.append(
            Result(name, "GET /inbox over HTTP: p95", percentile(page, 95), "ms")
        )

        # The same queries with the inbox's indexes (asthron/conversations/models.py).
        with_index = _with_candidate_index(url, staff_id, site_id, samples)
        indexed = name + " + inbox indexes"
        for label, values in with_index.items():
            section.results.append(
                Result(
                    indexed,
                    f"{label}: p95",
                    percentile(values, 95),
                    "ms",
                    ("<=", GOAL_P95_MS) if goals[label] else None,
                )
            )
        page = page_timings(app.port, email, samples // 2)
        section.results.append(
            Result(indexed, "GET /inbox over HTTP: p95", percentile(page, 95), "ms")
        )

        result = delivery(
            app.port, app.info["site_key"], app.info["origin"], email, 50 if ctx.quick else 300
        )
        lat = result["latencies"]
        dname = "Staff reply → visitor stream"
        section.results += [
            Result(dname, "p50", percentile(lat, 50), "ms"),
            Result(dname, "p95", percentile(lat, 95), "ms", ("<=", GOAL_DELIVERY_P95_MS)),
            Result(dname, "p99", percentile(lat, 99), "ms"),
            Result(dname, "POST /reply alone: p50", percentile(result["posts"], 50), "ms"),
        ]
    finally:
        app.stop()
    section.notes.append(
        f"Inbox list: {CONVERSATIONS:,} conversations, {filled['events']:,} events, {SITES} "
        f"sites, {STAFF} members, bulk-inserted with executemany in {filled['seconds']:.1f} s "
        f"into the migrated SQLite schema (no ANALYZE); {samples} timed queries per row after "
        "3 warm-up ones, each in its own session, 50 rows a page with the last-message "
        "subquery. Search is LIKE over the message text (a full scan, no goal). SQLite plan "
        f"of the first page: {plan}. The inbox indexes: "
        + "; ".join(f"`{statement}`" for statement in CANDIDATE_INDEXES)
        + "."
    )
    section.notes.append(
        "Delivery: POST /inbox/{id}/reply (keep-alive, CSRF header) until `event: message` "
        "reaches the visitor's SSE stream; server with the memory notifier, SQLite, the "
        "reply runner off."
    )
    return section


def _with_candidate_index(url: str, staff_id: int, site_id: int, samples: int):
    import sqlalchemy as sa

    from asthron.db import make_engine

    engine = make_engine(url)
    with engine.begin() as connection:
        for statement in CANDIDATE_INDEXES:
            connection.execute(sa.text(statement))
    engine.dispose()
    return time_queries(url, staff_id, site_id, samples)

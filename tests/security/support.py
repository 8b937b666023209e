"""Helpers shared by the accounts, security and audit tests: clients, a populated "world",
the app's routes as the registry knows them, and database snapshots."""

from __future__ import annotations

import datetime as dt
import re
import weakref
from dataclasses import dataclass, field

import sqlalchemy as sa
import webtest
from pyramid.interfaces import IRoutesMapper

from tests.conftest import csrf_from

OWNER_IP, ADMIN_IP, STAFF_IP, ANON_IP = "192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.14"


def client(app, ip: str = ANON_IP, user_agent: str = "TestBrowser/1.0") -> webtest.TestApp:
    """A separate browser: its own cookie jar, address and user agent."""
    return webtest.TestApp(app, extra_environ={"REMOTE_ADDR": ip, "HTTP_USER_AGENT": user_agent})


def csrf(browser, logged_in: bool = True) -> str:
    """The CSRF token this browser's pages carry."""
    return csrf_from(browser.get("/account/sessions" if logged_in else "/login"))


def session_cookie(browser) -> str | None:
    return browser.cookies.get("asthron_session")


def request(browser, method: str, path: str, data=None, headers=None, stream: bool = False):
    """A request from this browser. With ``stream``, only the status and headers are read and
    the body is dropped unread, so an event stream does not hold the test up."""
    if not stream:
        if method == "GET":
            return browser.get(path, headers=headers or {}, status="*")
        return browser.post(path, data or {}, headers=headers or {}, status="*")
    from webob import Request

    req = Request.blank(path, method=method, POST=data if method == "POST" else None)
    req.environ.update(browser.extra_environ)
    req.headers.update(headers or {})
    req.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    captured = {}

    def start_response(status, response_headers, exc_info=None):
        captured["status"], captured["headers"] = status, response_headers

    body = browser.app(req.environ, start_response)
    try:
        if not captured:  # a WSGI app may call start_response on the first iteration only
            next(iter(body), None)
    finally:
        if hasattr(body, "close"):
            body.close()
    return webtest.TestResponse(status=captured["status"], headerlist=captured["headers"])


def set_cookies(response) -> list[str]:
    return response.headers.getall("Set-Cookie")


def cookie_header(response, name: str) -> str:
    matches = [c for c in set_cookies(response) if c.startswith(name + "=")]
    assert len(matches) == 1, f"expected one Set-Cookie for {name}, got {set_cookies(response)}"
    return matches[0]


def cookie_attributes(header: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}


# -- the routes -----------------------------------------------------------------------------


def route_methods(registry) -> dict[str, set[str]]:
    """Every route name with the methods some view answers on it, from the registry, so a
    new route is covered the moment it is added."""
    mapper = registry.getUtility(IRoutesMapper)
    methods: dict[str, set[str]] = {route.name: set() for route in mapper.get_routes()}
    for intr in registry.introspector.get_category("views") or []:
        view = intr["introspectable"]
        name = view["route_name"]
        if name is None or name not in methods:
            continue
        wanted = view["request_methods"]
        if wanted is None:
            wanted = ("GET", "POST")
        elif isinstance(wanted, str):
            wanted = (wanted,)
        methods[name].update(m for m in wanted if m in ("GET", "POST", "PUT", "PATCH", "DELETE"))
    return methods


def route_path(registry, name: str, params: dict) -> str:
    route = registry.getUtility(IRoutesMapper).get_route(name)
    needed = set(re.findall(r"\{([A-Za-z_]\w*)", route.pattern)) | (
        {"subpath"} if "*subpath" in route.pattern else set()
    )
    missing = needed - set(params)
    assert not missing, f"no test value for {missing} in route {name} ({route.pattern})"
    return route.generate({k: params[k] for k in needed})


# -- the database ---------------------------------------------------------------------------


_reflected: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _tables(engine) -> list[sa.Table]:
    """The tables the database really has (reflected once per engine)."""
    if engine not in _reflected:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        _reflected[engine] = [t for t in metadata.sorted_tables if t.name != "alembic_version"]
    return _reflected[engine]


def row_counts(engine) -> dict[str, int]:
    """The number of rows of every table, in one statement (one round trip)."""
    tables = _tables(engine)
    counts = sa.select(
        *(
            sa.select(sa.func.count()).select_from(t).scalar_subquery().label(f"n{i}")
            for i, t in enumerate(tables)
        )
    )
    with engine.connect() as connection:
        row = connection.execute(counts).one()
    return {t.name: n for t, n in zip(tables, row, strict=True)}


def snapshot(engine, skip: tuple[str, ...] = ()) -> dict[str, list]:
    """Every row of every table, for "nothing changed" assertions."""
    with engine.connect() as connection:
        return {
            t.name: sorted(repr(tuple(row)) for row in connection.execute(sa.select(t)))
            for t in _tables(engine)
            if t.name not in skip
        }


def all_text(engine) -> str:
    """Everything stored in the database as one string, to search for things that must not
    be there (plain tokens, passwords)."""
    parts = []
    with engine.connect() as connection:
        for t in _tables(engine):
            for row in connection.execute(sa.select(t)):
                parts.extend(str(value) for value in row)
    return "\n".join(parts)


# -- a populated team -----------------------------------------------------------------------


@dataclass
class World:
    """An owner, an admin and a staff member, each logged in in their own browser; a fourth
    member (the target of team actions) with a session; two pending invitations."""

    app: object
    registry: object
    users: dict[str, dict]
    browsers: dict[str, webtest.TestApp]
    target: dict
    target_session_id: int
    owner_spare_session_id: int
    revocable_invitation_id: int
    invitation_token: str
    params: dict = field(default_factory=dict)

    @property
    def engine(self):
        return self.registry["db_engine"]

    def browser(self, role: str | None) -> webtest.TestApp:
        return self.browsers[role or "anonymous"]


def build_world(app, make_user, run_in_tm, login) -> World:
    from asthron.accounts import invitations
    from asthron.accounts import service as accounts
    from asthron.audit.service import Actor

    registry = app.registry
    users = {role: make_user(role) for role in ("owner", "admin", "staff")}
    target = make_user("staff", email="target@example.com")
    browsers = {
        "owner": client(app, OWNER_IP),
        "admin": client(app, ADMIN_IP),
        "staff": client(app, STAFF_IP),
        "anonymous": client(app, ANON_IP),
    }
    for role in ("owner", "admin", "staff"):
        login(users[role], app=browsers[role])
    browsers["anonymous"].get("/login")  # the pre-login CSRF cookie

    def arrange(db):
        settings = registry["app_settings"]
        target_user = accounts.get_user(db, target["id"])
        owner = accounts.get_user(db, users["owner"]["id"])
        target_session = accounts.start_session(db, target_user, "198.51.100.7", "Other/1.0")
        spare = accounts.start_session(db, owner, "198.51.100.8", "Spare/1.0")
        actor = Actor.cli()
        revocable, _ = invitations.invite(db, settings, actor, "owner", "rev@example.com", "staff")
        _, token = invitations.invite(db, settings, actor, "owner", "joiner@example.com", "staff")
        return target_session.session.id, spare.session.id, revocable.id, token

    target_session_id, spare_id, revocable_id, token = run_in_tm(arrange)
    world = World(
        app=app,
        registry=registry,
        users=users,
        browsers=browsers,
        target=target,
        target_session_id=target_session_id,
        owner_spare_session_id=spare_id,
        revocable_invitation_id=revocable_id,
        invitation_token=token,
    )
    world.params = {
        "user_id": target["id"],
        "session_id": spare_id,
        "invitation_id": revocable_id,
        "token": token,
        # Ids of objects other features own: a missing one is a 404 after the permission
        # check, which is all the role tests need.
        "site_id": 999999,
        "conversation_id": 999999,
        "article_id": 999999,
        "lead_id": 999999,
        "proposal_id": 999998,
        "question_id": 999997,
        "slot": "primary",
        "endpoint_id": 999996,
        "delivery_id": 999995,
        "slug": "no-such-service",
        "reference": "no-such-booking",
        "booking_id": 999994,
        "rule_id": 999991,
        "name": "no_such_email",
        "service_id": 999993,
        "resource_id": 999992,
        "payment_id": 999993,
        "event_id": 999993,
        "connection_id": 999993,
        "source_id": 999993,
        "crawl_id": 999992,
        "subpath": "x",
        "site_key": "site_no_such_site",
        "digest": "0" * 64,
    }
    return world


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)

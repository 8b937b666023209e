"""Bad input anywhere is a 4xx, never a 500, and loses nothing that was stored."""

from __future__ import annotations

import re

from pyramid.interfaces import IRoutesMapper
from webob import Request

from tests.security import route_table
from tests.security.support import build_world, csrf, route_path, snapshot

HUGE = "x" * 1_000_001
# Path segments as WSGI gives them (bytes as latin-1): the last two are the UTF-8 of an
# Arabic-Indic digit one (a digit to Python's \d and int()) and a byte that is not UTF-8.
BAD_IDS = ["abc", "0", "-1", "1.5", "99999999999999999999", "2147483648", "\xd9\xa1", "\xff"]
# POST routes whose fields are all required: an empty form must be refused.
REQUIRED_FIELDS = frozenset(
    {
        "accounts.login",
        "accounts.password",
        "accounts.invitation",
        "team.invite",
        "team.set_role",
        "integrations.email",
    }
)
# Rows that a refused request may legitimately add (a failed login is recorded).
VOLATILE = ("audit_log", "login_failures")


def _id_params(registry, name: str) -> list[str]:
    pattern = registry.getUtility(IRoutesMapper).get_route(name).pattern
    return [p for p in re.findall(r"\{(\w+)", pattern) if p.endswith("_id")]


def raw_request(app, method: str, path: str, query: str = "", cookie: str = "", body=None):
    """A request straight to the app, for paths no HTTP client library would send."""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query}
    environ["REMOTE_ADDR"] = "192.0.2.99"
    request = Request.blank("/", environ=environ)
    request.environ["PATH_INFO"] = path
    request.headers["Cookie"] = cookie
    if body is not None:
        request.content_type = "application/x-www-form-urlencoded"
        request.body = body
    return request.get_response(app)


def _status_problem(label: str, response, allowed=range(400, 500)) -> str | None:
    if response.status_int not in allowed:
        return f"{label}: {response.status}"
    return None


def test_bad_form_input_is_refused_on_every_post_route(app, make_user, run_in_tm, login):
    registry = app.registry
    route_table.check_table_matches(registry)
    world = build_world(app, make_user, run_in_tm, login)
    tokens = {who: csrf(world.browser(who), who != "anonymous") for who in ("owner", "anonymous")}
    failures = []
    for name in route_table.post_routes(registry):
        who = "anonymous" if name in route_table.ANONYMOUS_POSTS else "owner"
        browser = world.browser(who)
        path = route_path(registry, name, world.params)
        form = route_table.valid_form(name, world)
        before = snapshot(world.engine)
        for field_name in form:
            base = [(k, v) for k, v in form.items() if k != field_name]
            base.append(("csrf_token", tokens[who]))
            cases = {
                "repeated": [*base, (field_name, form[field_name]), (field_name, "other")],
                "huge": [*base, (field_name, HUGE)],
            }
            for label, fields in cases.items():
                response = browser.post(path, fields, status="*")
                problem = _status_problem(f"POST {path} {field_name} {label}", response)
                if problem:
                    failures.append(problem)
            upload = browser.post(
                path,
                [*base],
                upload_files=[(field_name, "x.txt", b"not text")],
                status="*",
            )
            problem = _status_problem(f"POST {path} {field_name} as a file", upload)
            if problem:
                failures.append(problem)
        if snapshot(world.engine) != before:
            failures.append(f"POST {path} ({name}): a refused request changed the database")
        if form:
            # Nothing but the token: never a 500. Where every field is required, a 4xx that
            # loses nothing (other features may give an empty field a meaning, like "none").
            strict = name in REQUIRED_FIELDS
            before = snapshot(world.engine, skip=VOLATILE)
            response = browser.post(path, {"csrf_token": tokens[who]}, status="*")
            allowed = range(400, 500) if strict else range(200, 500)
            problem = _status_problem(f"POST {path} with no fields", response, allowed)
            if problem:
                failures.append(problem)
            if strict and snapshot(world.engine, skip=VOLATILE) != before:
                failures.append(f"POST {path} ({name}) with no fields changed stored data")
    assert not failures, "\n".join(failures)


def test_ids_that_cannot_be_ids_are_not_found(app, make_user, run_in_tm, login):
    registry = app.registry
    route_table.check_table_matches(registry)
    world = build_world(app, make_user, run_in_tm, login)
    owner = world.browser("owner")
    token = csrf(owner)
    cookie = "asthron_session=" + owner.cookies["asthron_session"]
    body = f"csrf_token={token}".encode()
    failures = []
    before = snapshot(world.engine)
    checked = 0
    for name, methods in sorted(route_table.dashboard_routes(registry).items()):
        for param in _id_params(registry, name):
            path = route_path(registry, name, world.params)
            segments = path.split("/")
            where = segments.index(str(world.params[param]))
            for bad in BAD_IDS:
                bad_path = "/".join([*segments[:where], bad, *segments[where + 1 :]])
                for method in sorted(methods):
                    response = raw_request(
                        app,
                        method,
                        bad_path,
                        cookie=cookie,
                        body=body if method == "POST" else None,
                    )
                    checked += 1
                    problem = _status_problem(f"{method} {bad_path!r} ({name})", response)
                    if problem:
                        failures.append(problem)
    assert checked >= 8 * len(BAD_IDS)
    if snapshot(world.engine) != before:
        failures.append("a request with a bad id changed the database")
    assert not failures, "\n".join(failures)


AUDIT_QUERIES = [
    ("since=2026-13-45", 400),
    ("until=yesterday", 400),
    ("since=0000-01-01", 400),
    ("since=" + "9" * 500, 400),
    ("actor=a&actor=b", 400),
    ("before=%C2%B2", 400),  # a superscript two: a digit to str.isdigit, not to int()
    ("before=99999999999999999999", 400),
    ("before=-5", 400),
    ("until=9999-12-31&since=0001-01-01", 200),
    ("action=" + "' OR 1=1 --", 200),
    ("notice=invited&notice=welcome", 200),
]


def test_bad_audit_filters_are_400_never_500(testapp, make_user, login):
    login(make_user("admin"))
    results = {
        query: testapp.get(f"/audit?{query}", status="*").status_int for query, _ in AUDIT_QUERIES
    }
    assert results == dict(AUDIT_QUERIES)


def test_bad_query_strings_and_paths(app, testapp, make_user, login):
    testapp.get("/login?next=a&next=b", status=400)
    testapp.get("/login?next=" + "a" * 5000, status=400)
    assert raw_request(app, "GET", "/login", query="next=%ff").status_int == 400
    login(make_user("admin"))
    cookie = "asthron_session=" + testapp.cookies["asthron_session"]
    for path, query in [("/audit", "since=%ff"), ("/", "notice=%ff"), ("/\xff", "")]:
        response = raw_request(app, "GET", path, query=query, cookie=cookie)
        assert response.status_int == 400, (path, query, response.status)

"""CSRF on every state-changing request, and no state change on any GET."""

from __future__ import annotations

from asthron.errors import CSRF_MESSAGE
from tests.security import route_table
from tests.security.support import (
    build_world,
    csrf,
    request,
    route_path,
    row_counts,
    snapshot,
)


def test_every_post_route_refuses_a_missing_or_wrong_csrf_token(app, make_user, run_in_tm, login):
    registry = app.registry
    route_table.check_table_matches(registry)
    world = build_world(app, make_user, run_in_tm, login)
    # A real token, but of another session: tokens are bound to the session that got them.
    other_session_token = csrf(world.browser("admin"))
    failures = []
    for name in route_table.post_routes(registry):
        who = "anonymous" if name in route_table.ANONYMOUS_POSTS else "owner"
        browser = world.browser(who)
        path = route_path(registry, name, world.params)
        form = route_table.valid_form(name, world)
        before = snapshot(world.engine)
        attempts = {
            "no token": (dict(form), {}),
            "wrong token": (dict(form, csrf_token="x" * 43), {}),
            "another session's token": (dict(form, csrf_token=other_session_token), {}),
            "wrong header": (dict(form), {"X-CSRF-Token": "x" * 43}),
        }
        if who == "anonymous":
            attempts.pop("another session's token")
        for label, (data, headers) in attempts.items():
            response = browser.post(path, data, headers=headers, status="*")
            if response.status_int != 400 or CSRF_MESSAGE not in response.text:
                failures.append(f"POST {path} ({name}) with {label}: {response.status}")
        if snapshot(world.engine) != before:
            failures.append(f"POST {path} ({name}) changed the database without a token")
    assert not failures, "\n".join(failures)
    # The owner's browser is still logged in: even logout needed the token.
    assert world.browser("owner").get("/", status=200)


def test_the_right_token_is_accepted(testapp, make_user, login):
    """The control for the test above: the same request with the page's token works."""
    login(make_user("owner"))
    page = testapp.get("/account/sessions")
    from tests.conftest import csrf_from

    testapp.post("/team/invite", {"email": "x@example.com", "role": "staff"}, status=400)
    testapp.post(
        "/team/invite",
        {"email": "x@example.com", "role": "staff", "csrf_token": csrf_from(page)},
        status=200,
    )
    testapp.post(
        "/team/invite",
        {"email": "y@example.com", "role": "staff"},
        headers={"X-CSRF-Token": csrf_from(page)},
        status=200,
    )


def test_no_get_changes_any_row_count(app, make_user, run_in_tm, login):
    registry = app.registry
    route_table.check_table_matches(registry)
    world = build_world(app, make_user, run_in_tm, login)
    failures = []
    for name in route_table.get_routes(registry):
        path = route_path(registry, name, world.params)
        for who in ("anonymous", "staff", "admin", "owner"):
            before = row_counts(world.engine)
            response = request(
                world.browser(who), "GET", path, stream=name in route_table.STREAMING
            )
            after = row_counts(world.engine)
            if after != before:
                changed = {
                    t: (before.get(t), after.get(t)) for t in after if before.get(t) != after[t]
                }
                failures.append(f"GET {path} ({name}) as {who} -> {response.status}: {changed}")
    assert not failures, "\n".join(failures)

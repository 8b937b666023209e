"""Roles × routes: one table says who may do what, and every dashboard route obeys it."""

from __future__ import annotations

import pytest

from asthron.security.permissions import MANAGEABLE_ROLES, ROLE_PERMISSIONS, Permission
from tests.security import route_table
from tests.security.route_table import ANYONE, ROLES
from tests.security.support import build_world, csrf, request, route_path

CLIENTS = ("anonymous", "staff", "admin", "owner")


def test_role_table_grants_what_each_role_needs():
    owner, admin, staff = (ROLE_PERMISSIONS[r] for r in ROLES)
    assert owner == frozenset(Permission)
    for needed in (Permission.INTEGRATIONS, Permission.SECRETS, Permission.DATA_DELETION):
        assert needed in owner
        assert needed not in admin and needed not in staff
    for needed in (
        Permission.SETTINGS,
        Permission.TEAM,
        Permission.KNOWLEDGE,
        Permission.AUDIT,
        Permission.SESSIONS_ANY,
    ):
        assert needed in admin and needed not in staff
    assert staff == {
        Permission.DASHBOARD,
        Permission.CONVERSATIONS,
        Permission.LEADS,
        Permission.BOOKINGS,
        Permission.PAYMENT_REQUESTS,
    }
    assert staff < admin < owner
    # Admins manage staff and admins, never owners; staff manage no one.
    assert "owner" not in MANAGEABLE_ROLES["admin"]
    assert MANAGEABLE_ROLES["staff"] == frozenset()
    assert set(ROLE_PERMISSIONS) == set(ROLES) == set(MANAGEABLE_ROLES)


def test_every_view_permission_comes_from_the_table(app):
    """No view invents its own permission string that the role table does not know."""
    from pyramid.security import NO_PERMISSION_REQUIRED

    known = {str(p) for p in Permission} | {NO_PERMISSION_REQUIRED}
    used = {
        str(intr["introspectable"]["value"])
        for intr in app.registry.introspector.get_category("permissions")
    }
    assert used, "no view declares a permission"
    assert used <= known, used - known


def test_expectations_table_lists_every_route(app):
    route_table.check_table_matches(app.registry)


def _expected(rule, client_name: str, method: str):
    if rule == ANYONE:
        return "public"
    if client_name == "anonymous":
        return "login" if method == "GET" else "unauthenticated"
    return "allowed" if client_name in rule else "forbidden"


def _check(outcome: str, response) -> str | None:
    status = response.status_int
    location = response.headers.get("Location", "")
    to_login = status in (302, 303) and "/login" in location
    if status == 500:
        return "500"
    if outcome == "login" and not (status == 303 and location.startswith("http://localhost/login")):
        return f"expected a 303 to /login, got {status} {location}"
    if outcome == "unauthenticated" and status not in (401, 403):
        return f"expected 401/403, got {status}"
    if outcome == "forbidden" and status != 403:
        return f"expected 403, got {status}"
    if outcome == "allowed" and (status in (401, 403) or to_login):
        return f"expected access, got {status} {location}"
    if outcome == "public" and status in (401, 403):
        return f"expected a public page, got {status}"
    return None


def test_every_route_for_every_role(app, make_user, run_in_tm, login):
    registry = app.registry
    route_table.check_table_matches(registry)
    world = build_world(app, make_user, run_in_tm, login)
    tokens = {name: csrf(world.browser(name), name != "anonymous") for name in CLIENTS}
    cases = [
        (name, method)
        for name, methods in sorted(route_table.dashboard_routes(registry).items())
        for method in sorted(methods)
    ]
    # Logging out ends the browser's session, so it goes last.
    cases.sort(key=lambda case: case[0] == "accounts.logout")
    failures = []
    for name, method in cases:
        path = route_path(registry, name, world.params)
        rule = route_table.ROUTES[name][method]
        for client_name in CLIENTS:
            browser = world.browser(client_name)
            response = request(
                browser,
                method,
                path,
                {"csrf_token": tokens[client_name]},
                stream=name in route_table.STREAMING,
            )
            problem = _check(_expected(rule, client_name, method), response)
            if problem:
                failures.append(f"{method} {path} ({name}) as {client_name}: {problem}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_a_forbidden_role_changes_nothing(testapp, make_user, login, role, registry):
    """A 403 is not just a status: the owner-only email settings are not written."""
    from tests.security.support import snapshot

    user = make_user(role)
    login(user)
    token = csrf(testapp)
    before = snapshot(registry["db_engine"], skip=("user_sessions",))
    testapp.post(
        "/integrations/email",
        {"csrf_token": token, "host": "evil.example", "port": "25", "from_address": "a@b.co"},
        status=403,
    )
    assert snapshot(registry["db_engine"], skip=("user_sessions",)) == before

"""Server-side sessions: tokens, cookies, fixation, timeouts, revocation."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest
import sqlalchemy as sa

from asthron.accounts.models import UserSession
from tests.conftest import csrf_from
from tests.security.support import (
    all_text,
    client,
    cookie_attributes,
    cookie_header,
    csrf,
    session_cookie,
)

IDLE, ABSOLUTE = 600, 3600


@pytest.fixture
def ini_settings(ini_settings):
    ini_settings["asthron.session.idle_timeout"] = str(IDLE)
    ini_settings["asthron.session.absolute_timeout"] = str(ABSOLUTE)
    return ini_settings


def sessions_of(run_in_tm, user_id: int) -> list[dict]:
    def read(db):
        rows = db.scalars(
            sa.select(UserSession).where(UserSession.user_id == user_id).order_by(UserSession.id)
        )
        return [
            {
                "id": s.id,
                "token_hash": s.token_hash,
                "ip": s.ip_address,
                "ua": s.user_agent,
                "created_at": s.created_at,
                "last_seen_at": s.last_seen_at,
                "revoked_reason": s.revoked_reason,
            }
            for s in rows
        ]

    return run_in_tm(read)


def shift(run_in_tm, session_id: int, **deltas: int):
    """Move a session's timestamps into the past, instead of waiting."""

    def move(db):
        session = db.get(UserSession, session_id)
        for column, seconds in deltas.items():
            setattr(session, column, getattr(session, column) - dt.timedelta(seconds=seconds))

    run_in_tm(move)


def test_login_sets_a_strong_token_stored_only_as_its_hash(app, testapp, make_user, login):
    user = make_user("staff")
    response = login(user)
    token = session_cookie(testapp)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert len(raw) * 8 >= 128
    header = cookie_header(response, "asthron_session")
    attributes = cookie_attributes(header)
    assert {"httponly", "samesite", "path"} <= attributes
    assert "samesite=lax" in header.lower()
    assert "secure" not in attributes  # development over plain HTTP
    assert "expires" not in attributes and "max-age" not in attributes  # ends with the browser
    stored = all_text(app.registry["db_engine"])
    assert token not in stored
    assert hashlib.sha256(token.encode()).hexdigest() in stored


def test_sessions_record_when_where_and_which_browser(app, make_user, login, run_in_tm):
    user = make_user("staff")
    login(user, app=client(app, "203.0.113.9", "Firefox/140.0 (test)"))
    login(user, app=client(app, "203.0.113.10", "Safari/19 (test)"))
    rows = sessions_of(run_in_tm, user["id"])
    assert [(r["ip"], r["ua"]) for r in rows] == [
        ("203.0.113.9", "Firefox/140.0 (test)"),
        ("203.0.113.10", "Safari/19 (test)"),
    ]
    assert all(r["created_at"].tzinfo is not None and r["last_seen_at"] for r in rows)
    browser = client(app, "203.0.113.9", "Firefox/140.0 (test)")
    login(user, app=browser)
    page = browser.get("/account/sessions")
    for text in ("203.0.113.9", "203.0.113.10", "Firefox/140.0 (test)", "Safari/19 (test)"):
        assert text in page.text


def test_a_planted_cookie_is_never_promoted(app, make_user, login, run_in_tm):
    user = make_user("staff")
    browser = client(app)
    planted = "attacker-chosen-value-" + "a" * 30
    browser.set_cookie("asthron_session", planted)
    login(user, app=browser)
    assert session_cookie(browser) != planted
    assert browser.get("/", status=200)
    # The planted value is not a session in any form.
    victim = client(app)
    victim.set_cookie("asthron_session", planted)
    victim.get("/", status=303)


def test_logging_in_again_replaces_a_live_session(app, make_user, login, run_in_tm):
    """An attacker's own valid session planted in a victim's browser is ended at login."""
    attacker, victim = make_user("staff"), make_user("staff")
    attacker_browser = client(app)
    login(attacker, app=attacker_browser)
    planted = session_cookie(attacker_browser)
    browser = client(app)
    browser.set_cookie("asthron_session", planted)
    browser.post(
        "/login",
        {"email": victim["email"], "password": victim["password"], "csrf_token": csrf(browser)},
        status=303,
    )
    assert session_cookie(browser) != planted
    assert "Hello, " + victim["email"].split("@")[0] in browser.get("/").text
    assert sessions_of(run_in_tm, attacker["id"])[0]["revoked_reason"] == "replaced by login"
    attacker_browser.get("/", status=303)


def test_idle_timeout(app, make_user, login, run_in_tm):
    user = make_user("staff")
    browser = client(app)
    login(user, app=browser)
    session_id = sessions_of(run_in_tm, user["id"])[0]["id"]
    # Still inside the idle window: allowed, and the visit counts as activity.
    shift(run_in_tm, session_id, last_seen_at=IDLE - 120)
    browser.get("/", status=200)
    assert sessions_of(run_in_tm, user["id"])[0]["last_seen_at"] > (
        dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60)
    )
    shift(run_in_tm, session_id, last_seen_at=IDLE + 1)
    response = browser.get("/team", status=303)
    assert response.headers["Location"].startswith("http://localhost/login")


def test_absolute_timeout_despite_activity(app, make_user, login, run_in_tm):
    user = make_user("staff")
    browser = client(app)
    login(user, app=browser)
    session_id = sessions_of(run_in_tm, user["id"])[0]["id"]
    shift(run_in_tm, session_id, created_at=ABSOLUTE - 60)
    browser.get("/", status=200)
    shift(run_in_tm, session_id, created_at=61)
    browser.get("/", status=303)
    # The expired session is not listed as active either.
    other = client(app)
    login(user, app=other)
    page = other.get("/account/sessions")
    assert page.text.count("/revoke") == 1


def test_logout_ends_the_session_server_side(app, make_user, login, run_in_tm):
    user = make_user("staff")
    browser = client(app)
    login(user, app=browser)
    token = session_cookie(browser)
    browser.post("/logout", {"csrf_token": csrf(browser)}, status=303)
    assert sessions_of(run_in_tm, user["id"])[0]["revoked_reason"] == "logout"
    replay = client(app)
    replay.set_cookie("asthron_session", token)
    replay.get("/", status=303)


def _change_password(browser, user, new):
    page = browser.get("/account/password")
    return browser.post(
        "/account/password",
        {
            "csrf_token": csrf_from(page),
            "current_password": user["password"],
            "new_password": new,
            "confirm_password": new,
        },
        status="*",
    )


def test_a_password_change_ends_every_other_session(app, make_user, login, run_in_tm):
    user = make_user("staff")
    here, elsewhere = client(app), client(app)
    login(user, app=here)
    login(user, app=elsewhere)
    assert _change_password(here, user, "violet-anchor-93-drift").status_int == 303
    elsewhere.get("/", status=303)
    here.get("/", status=200)
    reasons = [s["revoked_reason"] for s in sessions_of(run_in_tm, user["id"])]
    assert reasons == [None, "password changed"]
    # The old password no longer works; the new one does.
    login(user, app=client(app), expect_status=400)
    login(dict(user, password="violet-anchor-93-drift"), app=client(app))


def test_a_wrong_current_password_changes_nothing(app, make_user, login, run_in_tm):
    user = make_user("staff")
    here, elsewhere = client(app), client(app)
    login(user, app=here)
    login(user, app=elsewhere)
    response = _change_password(here, dict(user, password="not-my-Password-1"), "violet-anchor-93")
    assert response.status_int == 400
    elsewhere.get("/", status=200)


def test_deactivation_ends_all_sessions(app, make_user, login, run_in_tm):
    owner, staff = make_user("owner"), make_user("staff")
    owner_browser, staff_a, staff_b = client(app), client(app), client(app)
    login(owner, app=owner_browser)
    login(staff, app=staff_a)
    login(staff, app=staff_b)
    owner_browser.post(
        f"/team/{staff['id']}/deactivate", {"csrf_token": csrf(owner_browser)}, status=303
    )
    staff_a.get("/", status=303)
    staff_b.get("/", status=303)
    assert {s["revoked_reason"] for s in sessions_of(run_in_tm, staff["id"])} == {"deactivated"}


def test_my_sessions_revoke_one_and_never_another_users(app, make_user, login, run_in_tm):
    user, other = make_user("staff"), make_user("staff")
    here, elsewhere, others_browser = client(app), client(app), client(app)
    login(user, app=here)
    login(user, app=elsewhere)
    login(other, app=others_browser)
    mine = sessions_of(run_in_tm, user["id"])
    theirs = sessions_of(run_in_tm, other["id"])[0]["id"]
    token = csrf(here)
    # Someone else's session id is not found, and that session lives on.
    here.post(f"/account/sessions/{theirs}/revoke", {"csrf_token": token}, status=404)
    others_browser.get("/", status=200)
    # Revoking my other session signs that browser out and keeps this one.
    here.post(f"/account/sessions/{mine[1]['id']}/revoke", {"csrf_token": token}, status=303)
    elsewhere.get("/", status=303)
    here.get("/", status=200)
    # Revoking the current session is a logout.
    response = here.post(f"/account/sessions/{mine[0]['id']}/revoke", {"csrf_token": token})
    assert response.status_int == 303 and "/login" in response.headers["Location"]
    here.get("/", status=303)


def test_admins_revoke_staff_sessions_but_not_owners(app, make_user, login, run_in_tm):
    owner, admin, staff = make_user("owner"), make_user("admin"), make_user("staff")
    browsers = {role: client(app) for role in ("owner", "admin", "staff")}
    for role, user in (("owner", owner), ("admin", admin), ("staff", staff)):
        login(user, app=browsers[role])
    admin_token = csrf(browsers["admin"])

    page = browsers["admin"].get(f"/team/{staff['id']}/sessions")
    assert "/sessions/revoke" in page.text
    browsers["admin"].post(
        f"/team/{staff['id']}/sessions/revoke", {"csrf_token": admin_token}, status=303
    )
    browsers["staff"].get("/", status=303)

    browsers["admin"].get(f"/team/{owner['id']}/sessions", status=403)
    browsers["admin"].post(
        f"/team/{owner['id']}/sessions/revoke", {"csrf_token": admin_token}, status=403
    )
    browsers["owner"].get("/", status=200)

    # Owners may end anyone's sessions, an admin's included.
    browsers["owner"].post(
        f"/team/{admin['id']}/sessions/revoke", {"csrf_token": csrf(browsers["owner"])}, status=303
    )
    browsers["admin"].get("/", status=303)


def test_revoking_your_own_sessions_from_the_team_page_keeps_this_one(app, make_user, login):
    owner = make_user("owner")
    here, elsewhere = client(app), client(app)
    login(owner, app=here)
    login(owner, app=elsewhere)
    here.post(f"/team/{owner['id']}/sessions/revoke", {"csrf_token": csrf(here)}, status=303)
    here.get("/", status=200)
    elsewhere.get("/", status=303)

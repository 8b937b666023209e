"""Invitations: an expiring, single-use link whose role comes from the inviter, not the form."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from asthron.accounts import invitations
from asthron.accounts import service as accounts
from asthron.accounts.models import Invitation, User
from asthron.audit.service import Actor
from asthron.jobs.models import OutboxItem
from tests.conftest import csrf_from
from tests.security.support import client, csrf, session_cookie

NEW_PASSWORD = "invited-Pass-93!x"


def invite(run_in_tm, registry, email="joiner@example.com", role="staff") -> tuple[int, str]:
    def create(db):
        invitation, token = invitations.invite(
            db, registry["app_settings"], Actor.cli(), "owner", email, role
        )
        return invitation.id, token

    return run_in_tm(create)


def accept(browser, token, password=NEW_PASSWORD, status="*", **extra):
    page = browser.get(f"/invitations/{token}", status="*")
    # A logged-in browser's pages all carry its token; an anonymous one's 404 page does not.
    has_token = 'name="csrf_token"' in page.text
    token_value = csrf_from(page) if has_token else csrf(browser, logged_in=False)
    data = {
        "csrf_token": token_value,
        "display_name": "Jo Iner",
        "password": password,
        "confirm_password": password,
        **extra,
    }
    return browser.post(f"/invitations/{token}", data, status=status)


def users_with(run_in_tm, email) -> list[tuple[str, str, bool]]:
    return run_in_tm(
        lambda db: [
            (u.role, u.display_name, u.is_active)
            for u in db.scalars(sa.select(User).where(User.email == email))
        ]
    )


def outbox_count(run_in_tm) -> int:
    return run_in_tm(lambda db: db.scalar(sa.select(sa.func.count()).select_from(OutboxItem)))


def shown_link(page) -> str:
    return page.html.select_one("#invite-link")["value"]


def test_without_email_the_page_says_so_and_shows_the_link_once(app, make_user, login, run_in_tm):
    owner = make_user("owner")
    browser = client(app)
    login(owner, app=browser)
    team = browser.get("/team")
    assert "Email isn't set up" in team.text
    assert "Create invitation link" in team.text
    page = browser.post(
        "/team/invite",
        {"email": "New.Member@Example.com", "role": "admin", "csrf_token": csrf(browser)},
        status=200,
    )
    assert "No email was sent to new.member@example.com" in page.text
    assert "The invitation was sent" not in page.text
    # Nothing waits in the outbox to claim otherwise later.
    assert outbox_count(run_in_tm) == 0
    link = shown_link(page)
    assert link.startswith("http://localhost/invitations/")
    # Shown once: the team page afterwards lists the invitation, never its link.
    again = browser.get("/team")
    assert link not in again.text
    assert "not emailed" in again.text

    newcomer = client(app)
    token = link.rsplit("/", 1)[1]
    assert accept(newcomer, token).status_int == 303
    assert users_with(run_in_tm, "new.member@example.com") == [("admin", "Jo Iner", True)]


def test_a_failed_invitation_email_is_shown_as_failed(
    app, make_user, login, run_in_tm, smtp_server, configure_smtp
):
    configure_smtp(smtp_server(start=False))
    browser = client(app)
    login(make_user("owner"), app=browser)
    form = {"email": "bounce@example.com", "role": "staff", "csrf_token": csrf(browser)}
    browser.post("/team/invite", form, status=200)
    run_in_tm(
        lambda db: db.execute(
            sa.update(OutboxItem).values(state="failed", last_error="550 no such user")
        )
    )
    row = browser.get("/team").html.select_one("tr:has(button[aria-label])")
    assert "bounce@example.com" in row.get_text() and "email failed" in row.get_text()


def test_a_new_link_replaces_the_old_one(app, make_user, login, run_in_tm):
    browser = client(app)
    login(make_user("owner"), app=browser)
    form = {"email": "late@example.com", "role": "staff", "csrf_token": csrf(browser)}
    first = shown_link(browser.post("/team/invite", form, status=200))
    team = browser.get("/team")
    assert team.html.select_one('button[aria-label="New link for late@example.com"]')
    second = shown_link(browser.post("/team/invite", form, status=200))
    assert first != second
    client(app).get(first.removeprefix("http://localhost"), status=404)
    client(app).get(second.removeprefix("http://localhost"), status=200)


def test_invite_from_the_team_page_and_accept_the_emailed_link(
    app, make_user, login, run_in_tm, smtp_server, configure_smtp
):
    # Configured but not reachable yet: the email waits in the outbox.
    configure_smtp(smtp_server(start=False))
    owner = make_user("owner")
    owner_browser = client(app)
    login(owner, app=owner_browser)
    page = owner_browser.post(
        "/team/invite",
        {"email": "New.Member@Example.com", "role": "admin", "csrf_token": csrf(owner_browser)},
        status=200,
    )
    # Queued is not sent: the page says so, and still offers the link as a fallback.
    assert "The invitation email is queued" in page.text
    assert "was sent" not in page.text
    page_link = shown_link(page)
    assert "email not sent yet" in owner_browser.get("/team").text
    text = run_in_tm(
        lambda db: db.scalars(sa.select(OutboxItem).order_by(OutboxItem.id.desc())).first().payload
    )
    assert text["to"] == "new.member@example.com"
    # The body (with the link) is sealed at rest in the outbox; the worker unseals it to send.
    assert "/invitations/" not in str(text)
    from asthron.notify.service import unsealed

    text = unsealed(text, app.registry["secret_box"])
    token = re.search(r"/invitations/([\w-]+)", text["text"]).group(1)
    assert page_link.endswith(token)
    # Only the hash of the link's token is kept with the invitation.
    stored = run_in_tm(lambda db: [i.token_hash for i in db.scalars(sa.select(Invitation))])
    assert token not in stored

    newcomer = client(app)
    page = newcomer.get(f"/invitations/{token}")
    assert "new.member@example.com" in page.text and "admin" in page.text
    response = accept(newcomer, token)
    assert response.status_int == 303 and response.headers["Location"].endswith("/?notice=welcome")
    assert newcomer.get("/", status=200)
    assert users_with(run_in_tm, "new.member@example.com") == [("admin", "Jo Iner", True)]


def test_a_link_works_once(app, registry, run_in_tm):
    _, token = invite(run_in_tm, registry)
    first, second = client(app), client(app)
    # Both browsers open the form before either submits (a double submit, or two tabs).
    first.get(f"/invitations/{token}")
    second.get(f"/invitations/{token}")
    assert accept(first, token).status_int == 303
    assert accept(second, token).status_int == 404
    assert accept(first, token, password="another-Pass-77!").status_int == 404
    client(app).get(f"/invitations/{token}", status=404)
    assert users_with(run_in_tm, "joiner@example.com") == [("staff", "Jo Iner", True)]

    # The service refuses a second acceptance even when called directly.
    def again(db):
        invitations.accept_invitation(db, token, "X", "another-Pass-77!", None)

    try:
        run_in_tm(again)
        raise AssertionError("accepted twice")
    except accounts.AccountError:
        pass


def test_an_expired_link_is_refused(app, registry, run_in_tm):
    invitation_id, token = invite(run_in_tm, registry)

    def expire(db):
        db.get(Invitation, invitation_id).expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(
            seconds=1
        )

    run_in_tm(expire)
    browser = client(app)
    browser.get(f"/invitations/{token}", status=404)
    assert accept(browser, token).status_int == 404
    assert users_with(run_in_tm, "joiner@example.com") == []


def test_a_revoked_link_is_refused(app, make_user, login, registry, run_in_tm):
    invitation_id, token = invite(run_in_tm, registry)
    owner = make_user("owner")
    owner_browser = client(app)
    login(owner, app=owner_browser)
    owner_browser.post(
        f"/team/invitations/{invitation_id}/revoke",
        {"csrf_token": csrf(owner_browser)},
        status=303,
    )
    browser = client(app)
    browser.get(f"/invitations/{token}", status=404)
    assert accept(browser, token).status_int == 404
    assert users_with(run_in_tm, "joiner@example.com") == []


def test_a_new_invitation_replaces_the_pending_one(app, registry, run_in_tm):
    _, old_token = invite(run_in_tm, registry, role="admin")
    _, new_token = invite(run_in_tm, registry, role="staff")
    assert accept(client(app), old_token).status_int == 404
    assert accept(client(app), new_token).status_int == 303
    assert users_with(run_in_tm, "joiner@example.com") == [("staff", "Jo Iner", True)]


def test_the_form_cannot_choose_the_role_or_the_email(app, registry, run_in_tm):
    _, token = invite(run_in_tm, registry, role="staff")
    response = accept(
        client(app), token, role="owner", email="someone-else@example.com", is_active="0"
    )
    assert response.status_int == 303
    assert users_with(run_in_tm, "joiner@example.com") == [("staff", "Jo Iner", True)]
    assert users_with(run_in_tm, "someone-else@example.com") == []


def test_a_refused_password_leaves_the_link_usable(app, registry, run_in_tm):
    _, token = invite(run_in_tm, registry)
    browser = client(app)
    assert accept(browser, token, password="password123").status_int == 400
    assert accept(browser, token, password="short").status_int == 400
    assert users_with(run_in_tm, "joiner@example.com") == []
    assert accept(browser, token).status_int == 303


def test_inviting_a_member_again_is_refused(app, make_user, login, run_in_tm):
    owner, staff = make_user("owner"), make_user("staff")
    browser = client(app)
    login(owner, app=browser)
    response = browser.post(
        "/team/invite",
        {"email": staff["email"].upper(), "role": "admin", "csrf_token": csrf(browser)},
        status=400,
    )
    assert "already a member" in response.text
    assert run_in_tm(lambda db: db.scalar(sa.select(sa.func.count()).select_from(Invitation))) == 0


def test_accepting_while_logged_in_ends_the_old_session(app, make_user, login, registry, run_in_tm):
    someone = make_user("staff")
    _, token = invite(run_in_tm, registry)
    browser = client(app)
    login(someone, app=browser)
    old = session_cookie(browser)
    assert accept(browser, token).status_int == 303
    assert session_cookie(browser) != old
    replay = client(app)
    replay.set_cookie("asthron_session", old)
    replay.get("/", status=303)

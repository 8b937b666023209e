"""The team page: roles from allowlists only, admins never touch owners, never zero owners."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from asthron.accounts import invitations
from asthron.accounts import service as accounts
from asthron.accounts.models import Invitation, User
from asthron.audit.service import Actor
from tests.security.support import client, csrf


def user_row(run_in_tm, user_id: int) -> tuple[str, bool]:
    return run_in_tm(lambda db: (db.get(User, user_id).role, db.get(User, user_id).is_active))


@pytest.fixture
def team(app, make_user, login):
    people = {
        "owner": make_user("owner"),
        "admin": make_user("admin"),
        "staff": make_user("staff"),
        "admin2": make_user("admin"),
    }
    browsers = {}
    for role in ("owner", "admin"):
        browsers[role] = client(app)
        login(people[role], app=browsers[role])
    tokens = {role: csrf(b) for role, b in browsers.items()}

    def post(role, path, data=None, status="*"):
        return browsers[role].post(path, dict(data or {}, csrf_token=tokens[role]), status=status)

    return people, browsers, post


def test_team_page_lists_members_and_offers_only_grantable_roles(team):
    people, browsers, _ = team
    page = browsers["admin"].get("/team")
    for person in people.values():
        assert person["email"] in page.text
    assert '<option value="owner"' not in page.text
    assert '<option value="admin"' in page.text
    owner_page = browsers["owner"].get("/team")
    assert '<option value="owner"' in owner_page.text


def test_owner_changes_roles_within_the_list(team, run_in_tm):
    people, _, post = team
    staff = people["staff"]
    assert post("owner", f"/team/{staff['id']}/role", {"role": "admin"}).status_int == 303
    assert user_row(run_in_tm, staff["id"]) == ("admin", True)
    for bogus in ("superuser", "OWNER", "", "owner "):
        assert post("owner", f"/team/{staff['id']}/role", {"role": bogus}).status_int == 400
    assert user_row(run_in_tm, staff["id"]) == ("admin", True)
    # A repeated field is refused, not resolved in someone's favour.
    response = browsers_post_repeated(team, f"/team/{staff['id']}/role", "role", ["staff", "owner"])
    assert response.status_int == 400
    assert user_row(run_in_tm, staff["id"]) == ("admin", True)


def browsers_post_repeated(team, path, name, values):
    _, browsers, _ = team
    browser = browsers["owner"]
    fields = [(name, v) for v in values] + [("csrf_token", csrf(browser))]
    return browser.post(path, fields, status="*")


def test_admins_cannot_touch_owners(team, run_in_tm):
    people, _, post = team
    owner, staff, admin2 = people["owner"], people["staff"], people["admin2"]
    # Promote to owner, demote an owner, deactivate or reactivate an owner: all refused.
    assert post("admin", f"/team/{staff['id']}/role", {"role": "owner"}).status_int == 403
    assert post("admin", f"/team/{admin2['id']}/role", {"role": "owner"}).status_int == 403
    assert post("admin", f"/team/{owner['id']}/role", {"role": "staff"}).status_int == 403
    assert post("admin", f"/team/{owner['id']}/deactivate").status_int == 403
    assert post("admin", f"/team/{owner['id']}/reactivate").status_int == 403
    assert (
        post("admin", "/team/invite", {"email": "boss@example.com", "role": "owner"}).status_int
        == 403
    )
    assert user_row(run_in_tm, owner["id"]) == ("owner", True)
    assert user_row(run_in_tm, staff["id"]) == ("staff", True)
    assert user_row(run_in_tm, admin2["id"]) == ("admin", True)
    assert run_in_tm(lambda db: db.scalar(sa.select(sa.func.count()).select_from(Invitation))) == 0
    # What admins may do: staff and admins.
    assert post("admin", f"/team/{staff['id']}/role", {"role": "admin"}).status_int == 303
    assert post("admin", f"/team/{admin2['id']}/deactivate").status_int == 303
    assert user_row(run_in_tm, admin2["id"]) == ("admin", False)
    assert post("admin", f"/team/{admin2['id']}/reactivate").status_int == 303
    assert user_row(run_in_tm, admin2["id"]) == ("admin", True)


def test_admins_cannot_revoke_owner_invitations(team, run_in_tm, registry):
    _, _, post = team

    def invite(db):
        invitation, _ = invitations.invite(
            db, registry["app_settings"], Actor.cli(), "owner", "co-owner@example.com", "owner"
        )
        return invitation.id

    invitation_id = run_in_tm(invite)
    assert post("admin", f"/team/invitations/{invitation_id}/revoke").status_int == 403
    assert run_in_tm(lambda db: db.get(Invitation, invitation_id).revoked_at) is None
    assert post("owner", f"/team/invitations/{invitation_id}/revoke").status_int == 303
    assert run_in_tm(lambda db: db.get(Invitation, invitation_id).revoked_at) is not None


def test_the_last_owner_stays(team, run_in_tm, make_user):
    people, browsers, post = team
    owner = people["owner"]
    # The only owner cannot demote themselves...
    response = post("owner", f"/team/{owner['id']}/role", {"role": "admin"})
    assert response.status_int == 400 and "at least one active owner" in response.text
    assert user_row(run_in_tm, owner["id"]) == ("owner", True)
    # ...nor deactivate themselves...
    assert post("owner", f"/team/{owner['id']}/deactivate").status_int == 400
    assert user_row(run_in_tm, owner["id"]) == ("owner", True)

    # ...nor can the CLI (acting with full rights) deactivate or demote the last owner.
    def cli_deactivate(db):
        accounts.deactivate(db, Actor.cli(), "owner", db.get(User, owner["id"]))

    def cli_demote(db):
        accounts.set_role(db, Actor.cli(), "owner", db.get(User, owner["id"]), "staff")

    for action in (cli_deactivate, cli_demote):
        with pytest.raises(accounts.AccountError, match="at least one active owner"):
            run_in_tm(action)
    assert user_row(run_in_tm, owner["id"]) == ("owner", True)

    # With a second active owner, one may step down.
    second = make_user("owner")
    assert post("owner", f"/team/{owner['id']}/role", {"role": "admin"}).status_int == 303
    assert user_row(run_in_tm, owner["id"]) == ("admin", True)
    assert user_row(run_in_tm, second["id"]) == ("owner", True)


def test_a_deactivated_owner_does_not_count(run_in_tm, make_user):
    first, second = make_user("owner"), make_user("owner")

    def deactivate_then_demote(db):
        accounts.deactivate(db, Actor.cli(), "owner", db.get(User, second["id"]))
        accounts.set_role(db, Actor.cli(), "owner", db.get(User, first["id"]), "admin")

    with pytest.raises(accounts.AccountError, match="at least one active owner"):
        run_in_tm(deactivate_then_demote)


def test_deactivate_and_reactivate(team, app, login, run_in_tm):
    people, _, post = team
    staff = people["staff"]
    assert post("owner", f"/team/{staff['id']}/deactivate").status_int == 303
    assert user_row(run_in_tm, staff["id"]) == ("staff", False)
    login(staff, app=client(app), expect_status=400)
    assert post("owner", f"/team/{staff['id']}/reactivate").status_int == 303
    assert user_row(run_in_tm, staff["id"]) == ("staff", True)
    login(staff, app=client(app))


def test_nobody_deactivates_themselves(team, run_in_tm):
    people, _, post = team
    assert post("admin", f"/team/{people['admin']['id']}/deactivate").status_int == 400
    assert user_row(run_in_tm, people["admin"]["id"]) == ("admin", True)


@pytest.mark.parametrize("path", ["/team/999999/role", "/team/999999/deactivate"])
def test_unknown_members_are_not_found(team, path):
    _, _, post = team
    assert post("owner", path, {"role": "staff"}).status_int == 404

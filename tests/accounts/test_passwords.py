"""Users and passwords: argon2id parameters, rehashing, long and common passwords, emails."""

from __future__ import annotations

import re

import argon2
import pytest
import sqlalchemy as sa

from asthron.accounts import passwords
from asthron.accounts import service as accounts
from asthron.accounts.models import User
from asthron.audit.service import Actor
from tests.conftest import csrf_from


def _params(password_hash: str) -> dict:
    match = re.fullmatch(r"\$(argon2\w+)\$v=(\d+)\$m=(\d+),t=(\d+),p=(\d+)\$.+", password_hash)
    assert match, password_hash
    kind, version, m, t, p = match.groups()
    return {"type": kind, "version": int(version), "m": int(m), "t": int(t), "p": int(p)}


def _stored_hash(run_in_tm, user_id: int) -> str:
    return run_in_tm(lambda db: db.get(User, user_id).password_hash)


def test_stored_hashes_are_argon2id_with_owasp_parameters(real_hashing, make_user, run_in_tm):
    user = make_user("staff")
    stored = _stored_hash(run_in_tm, user["id"])
    params = _params(stored)
    assert params["type"] == "argon2id"
    assert params["version"] == 19
    assert params["m"] >= 19 * 1024  # KiB: at least 19 MiB
    assert params["t"] >= 2
    assert user["password"] not in stored


def test_login_upgrades_a_hash_made_with_weaker_parameters(
    real_hashing, testapp, make_user, login, run_in_tm
):
    user = make_user("staff")
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)

    def weaken(db):
        db.get(User, user["id"]).password_hash = weak.hash(user["password"])

    run_in_tm(weaken)
    assert _params(_stored_hash(run_in_tm, user["id"]))["m"] == 8 * 1024
    login(user)
    upgraded = _stored_hash(run_in_tm, user["id"])
    assert _params(upgraded)["m"] >= 19 * 1024 and _params(upgraded)["t"] >= 2
    assert not passwords.needs_rehash(upgraded)
    assert passwords.verify_password(upgraded, user["password"])


def test_a_100_character_password_works_end_to_end(testapp, make_user, login):
    long_password = "Correct horse, battery staple! " * 3 + "0123456"
    assert len(long_password) == 100
    user = make_user("staff", password=long_password)
    login(user)
    assert testapp.get("/", status=200)


def test_input_beyond_the_maximum_never_matches(real_hashing):
    """The longest allowed password plus anything must not log in (no silent truncation)."""
    longest = ("Ab1!" * 64)[: passwords.MAX_LENGTH]
    passwords.check_policy(longest)
    stored = passwords.hash_password(longest)
    assert passwords.verify_password(stored, longest)
    assert not passwords.verify_password(stored, longest + "anything")


@pytest.mark.parametrize(
    "common", ["password123", "qwertyuiop", "1q2w3e4r5t6y", "1234567890", "Password123!"]
)
def test_common_passwords_are_rejected(common):
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    listed = set(FREQUENCY_LISTS["passwords"])
    assert common.lower() in listed or common.lower().rstrip("!") in listed
    with pytest.raises(passwords.PasswordPolicyError, match="too common"):
        passwords.check_policy(common)


def test_policy_accepts_uncommon_and_rejects_short_or_email_passwords():
    passwords.check_policy("violet-anchor-93-drift")
    with pytest.raises(passwords.PasswordPolicyError):
        passwords.check_policy("Sh0rt!")
    with pytest.raises(passwords.PasswordPolicyError):
        passwords.check_policy("x" * (passwords.MAX_LENGTH + 1))
    with pytest.raises(passwords.PasswordPolicyError):
        passwords.check_policy("maria.rossi", email="maria.rossi@example.com")


def test_a_common_password_is_refused_on_the_password_page(testapp, make_user, login, run_in_tm):
    user = make_user("staff")
    login(user)
    before = _stored_hash(run_in_tm, user["id"])
    page = testapp.get("/account/password")
    response = testapp.post(
        "/account/password",
        {
            "csrf_token": csrf_from(page),
            "current_password": user["password"],
            "new_password": "password123",
            "confirm_password": "password123",
        },
        status=400,
    )
    assert "too common" in response.text
    assert _stored_hash(run_in_tm, user["id"]) == before


def test_email_is_unique_whatever_its_case(run_in_tm, testapp, login):
    def create(db):
        return accounts.create_user(
            db, Actor.cli(), "Maria.Rossi@Example.COM", "staff", "violet-anchor-93", "Maria"
        ).id

    user_id = run_in_tm(create)

    def duplicate(db):
        accounts.create_user(db, Actor.cli(), "maria.rossi@example.com", "admin", None)

    with pytest.raises(accounts.AccountError, match="already exists"):
        run_in_tm(duplicate)

    def check(db):
        users = db.scalars(sa.select(User)).all()
        assert [(u.id, u.email, u.display_name, u.role, u.is_active) for u in users] == [
            (user_id, "maria.rossi@example.com", "Maria", "staff", True)
        ]

    run_in_tm(check)
    # Logging in with another capitalisation finds the same account.
    login({"email": "MARIA.ROSSI@example.com", "password": "violet-anchor-93"})
    assert testapp.get("/", status=200)


def test_roles_outside_the_list_are_refused(run_in_tm):
    def create(db):
        accounts.create_user(db, Actor.cli(), "root@example.com", "superuser", "violet-anchor-93")

    with pytest.raises(accounts.AccountError, match="Role must be one of"):
        run_in_tm(create)

"""Integrations → Email: owner only, CSRF, the password encrypted and never shown in full."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from asthron.audit.models import AuditEntry
from asthron.notify.models import SmtpSettings
from tests.conftest import csrf_from

URL = "/integrations/email"
PASSWORD = "smtp-Secret-pass-4711"
VALID = {
    "host": "smtp.example.com",
    "port": "2525",
    "security": "starttls",
    "username": "mailer",
    "password": PASSWORD,
    "from_address": "Assistant@Example.com",
    "from_name": "Example Assistant",
    "timeout_seconds": "20",
}


@pytest.fixture
def owner(make_user, login):
    user = make_user("owner")
    login(user)
    return user


def post_form(testapp, data, status=303, url=URL):
    page = testapp.get(URL)
    return testapp.post(url, dict(data, csrf_token=csrf_from(page)), status=status)


def stored(run_in_tm):
    def read(db):
        row = db.get(SmtpSettings, 1)
        if row is None:
            return None
        return {c.name: getattr(row, c.name) for c in SmtpSettings.__table__.columns}

    return run_in_tm(read)


def test_owner_saves_settings_and_the_password_is_encrypted(testapp, owner, run_in_tm, registry):
    response = post_form(testapp, VALID)
    assert response.location.endswith("/integrations/email?notice=email_saved")
    row = stored(run_in_tm)
    assert (row["host"], row["port"], row["security"]) == ("smtp.example.com", 2525, "starttls")
    assert (row["username"], row["from_address"]) == ("mailer", "assistant@example.com")
    assert (row["from_name"], row["timeout_seconds"]) == ("Example Assistant", 20)
    raw = run_in_tm(
        lambda db: db.execute(sa.text("SELECT password_encrypted FROM smtp_settings")).scalar()
    )
    assert PASSWORD not in raw
    assert registry["secret_box"].decrypt(raw) == PASSWORD

    page = response.follow()
    assert "Email settings were saved." in page.text
    assert PASSWORD not in page.text
    assert "••••4711" in page.text
    assert 'value="smtp.example.com"' in page.text

    entry = run_in_tm(
        lambda db: db.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "email.settings_update")
        ).one()
    )
    assert entry.summary["password_changed"] is True
    assert PASSWORD not in str(entry.summary)


def test_an_empty_password_keeps_the_stored_one_and_clear_removes_it(
    testapp, owner, run_in_tm, registry
):
    post_form(testapp, VALID)
    first = stored(run_in_tm)["password_encrypted"]
    post_form(testapp, dict(VALID, password="", host="smtp2.example.com"))
    row = stored(run_in_tm)
    assert row["host"] == "smtp2.example.com"
    assert row["password_encrypted"] == first
    post_form(testapp, dict(VALID, password="", clear_password="1"))
    assert stored(run_in_tm)["password_encrypted"] is None
    assert "stored:" not in testapp.get(URL).text


@pytest.mark.parametrize("role", ["admin", "staff"])
def test_only_the_owner_may_see_or_change_email_settings(testapp, make_user, login, role):
    login(make_user(role))
    testapp.get(URL, status=403)
    page = testapp.get("/account/sessions")
    testapp.post(URL, dict(VALID, csrf_token=csrf_from(page)), status=403)
    testapp.post("/integrations/email/test", {"csrf_token": csrf_from(page)}, status=403)


def test_anonymous_visitors_are_sent_to_log_in(testapp):
    assert "/login" in testapp.get(URL, status=303).location


def test_a_post_without_the_csrf_token_is_refused(testapp, owner, run_in_tm):
    testapp.post(URL, VALID, status=400)
    assert stored(run_in_tm) is None


MALFORMED = [
    ({"port": "abc"}, "port must be a whole number"),
    ({"port": "0"}, "port must be a whole number between 1 and 65535"),
    ({"port": "70000"}, "port must be a whole number between 1 and 65535"),
    ({"port": "-25"}, "port must be a whole number"),
    ({"port": ""}, "port must be a whole number"),
    ({"port": "1" * 40}, "field port is too long"),
    ({"from_address": "not-an-address"}, "valid sender address"),
    ({"from_address": "a@example.com\r\nBcc: x@example.org"}, "valid sender address"),
    ({"from_address": "a" * 400 + "@example.com"}, "field from_address is too long"),
    ({"host": ""}, "host name"),
    ({"host": "smtp example.com"}, "host must be a host name or an IP address"),
    ({"host": "smtp.example.com/evil"}, "host must be a host name or an IP address"),
    ({"host": "h" * 300}, "field host is too long"),
    ({"security": "ssl"}, "Security must be none, starttls or tls"),
    ({"username": "u" * 300}, "field username is too long"),
    ({"from_name": "n" * 200}, "sender name must be at most 120 characters"),
    ({"from_name": "Evil\r\nBcc: x@example.org"}, "sender name must be at most 120"),
    ({"timeout_seconds": "0"}, "timeout must be a whole number between 1 and 120"),
    ({"timeout_seconds": "1e9"}, "timeout must be a whole number"),
    ({"password": "p" * 2000}, "field password is too long"),
]


def test_malformed_input_is_a_form_error_and_changes_nothing(testapp, owner, run_in_tm):
    post_form(testapp, VALID)
    before = stored(run_in_tm)
    for change, message in MALFORMED:
        page = post_form(testapp, dict(VALID, **change), status=400)
        assert message in page.text, change
        assert 'role="alert"' in page.text, change
        assert '<form method="post">' in page.text, change  # the form again, not an error page
        assert PASSWORD not in page.text, change
        assert stored(run_in_tm) == before, change


def test_a_repeated_field_is_a_form_error(testapp, owner, run_in_tm):
    post_form(testapp, VALID)
    before = stored(run_in_tm)
    page = testapp.get(URL)
    fields = [*VALID.items(), ("port", "25"), ("csrf_token", csrf_from(page))]
    response = testapp.post(URL, fields, status=400)
    assert "The field port was sent more than once." in response.text
    assert stored(run_in_tm) == before

"""Connecting Stripe: keys encrypted at rest and never shown back, a test/live badge, and a
connection test that says exactly what is wrong."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa

from asthron.audit.models import AuditEntry
from asthron.payments.models import PaymentSettings
from tests.conftest import csrf_from
from tests.fakes.stripe_server import GOOD_KEY, NO_BALANCE_KEY
from tests.security.support import all_text

# Keys come from the dashboard in these tests, not from the .ini.
dashboard_keys = pytest.mark.app_settings(**{"stripe.secret_key": "", "stripe.webhook_secret": ""})


def save(testapp, status=303, **form):
    page = testapp.get("/integrations/payments")
    data = {"csrf_token": csrf_from(page), "secret_key": "", "webhook_secret": "", **form}
    return testapp.post("/integrations/payments", data, status=status)


def check(testapp, status):
    page = testapp.get("/integrations/payments")
    return testapp.post(
        "/integrations/payments/check", {"csrf_token": csrf_from(page)}, status=status
    )


@dashboard_keys
def test_keys_are_stored_encrypted_masked_and_audited(testapp, app, run_in_tm, make_user, login):
    login(make_user("owner"))
    assert "Not connected" in testapp.get("/integrations/payments").text
    save(testapp, secret_key=GOOD_KEY, webhook_secret="whsec_abcdefghijklmnop")
    page = testapp.get("/integrations/payments")
    assert "test mode" in page.text and "••••0001" in page.text and "••••mnop" in page.text
    assert GOOD_KEY not in page.text and "whsec_abcdefghijklmnop" not in page.text
    stored = all_text(app.registry["db_engine"])
    assert GOOD_KEY not in stored and "whsec_abcdefghijklmnop" not in stored
    row = run_in_tm(lambda db: db.get(PaymentSettings, 1).secret_key_encrypted)
    assert row and app.registry["secret_box"].decrypt(row) == GOOD_KEY
    summary = run_in_tm(
        lambda db: db.scalars(
            sa.select(AuditEntry.summary).where(AuditEntry.action == "payments.settings_update")
        ).one()
    )
    assert "test mode" in summary["changed"]
    # Blank fields keep what is stored.
    save(testapp)
    assert "••••0001" in testapp.get("/integrations/payments").text


@dashboard_keys
def test_a_live_key_shows_the_live_badge(testapp, make_user, login):
    login(make_user("owner"))
    save(testapp, secret_key="rk_live_abcdefgh12345678")
    assert "live mode" in testapp.get("/integrations/payments").text


@dashboard_keys
@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"secret_key": "pk_test_publishable"}, "starts with sk_test_"),
        ({"webhook_secret": "secret"}, "starts with whsec_"),
    ],
)
def test_bad_keys_are_refused(testapp, make_user, login, form, message):
    login(make_user("owner"))
    assert message in save(testapp, status=400, **form).text


@dashboard_keys
def test_the_connection_test_says_what_is_wrong(testapp, fake_stripe, make_user, login):
    login(make_user("owner"))
    assert "No Stripe key is set" in check(testapp, 400).text
    save(testapp, secret_key="sk_test_wrongkey12345")
    assert "Stripe refused the key (401)" in check(testapp, 400).text
    save(testapp, secret_key=NO_BALANCE_KEY)
    assert "lacks a permission this needs (403)" in check(testapp, 400).text
    save(testapp, secret_key=GOOD_KEY)
    answer = check(testapp, 200).text
    assert "Connected (test mode); balance in EUR." in answer
    assert "Last check" in testapp.get("/integrations/payments").text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.app_settings(**{"stripe.api_base": f"http://127.0.0.1:{_closed_port()}"})
def test_an_unreachable_stripe_is_a_network_error(testapp, make_user, login):
    login(make_user("owner"))
    assert "Stripe could not be reached (network)" in check(testapp, 400).text


def test_only_owners_connect(testapp, make_user, login):
    login(make_user("admin"))
    testapp.get("/integrations/payments", status=403)

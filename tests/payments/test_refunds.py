"""Refunds: by hand (owners and admins, audited) and by a cancelled booking's policy; each
with its own Idempotency-Key, so Stripe's retries and ours never refund twice."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from asthron.audit.models import AuditEntry
from asthron.bookings import payment_events
from asthron.db import utcnow
from asthron.jobs.models import OutboxItem
from asthron.jobs.service import sweep
from asthron.payments.models import PaymentRefund
from tests.conftest import csrf_from
from tests.fakes.stripe_server import Failure
from tests.payments.conftest import only_payment
from tests.payments.test_checkout import book_paid_service, booking_of, start_checkout


@pytest.fixture
def paid_payment(testapp, run_in_tm, paid_service, fake_stripe, post_webhook):
    def make(**service_options):
        site_key, _ = paid_service(**service_options)
        book_paid_service(testapp, site_key)
        start_checkout(testapp, only_payment(run_in_tm).reference)
        session = fake_stripe.complete(only_payment(run_in_tm).checkout_session_id)
        post_webhook(fake_stripe.event("checkout.session.completed", session))
        payment = only_payment(run_in_tm)
        assert payment.status == "paid"
        return payment

    return make


def make_due(run_in_tm):
    """The outbox's back-off (at least a second) has passed."""
    run_in_tm(
        lambda db: db.execute(
            sa.update(OutboxItem)
            .where(OutboxItem.state == "pending")
            .values(next_attempt_at=utcnow() - dt.timedelta(seconds=1))
        )
    )


def refunds(run_in_tm):
    def read(db):
        rows = list(db.scalars(sa.select(PaymentRefund).order_by(PaymentRefund.id)))
        for row in rows:
            db.expunge(row)
        return rows

    return run_in_tm(read)


def post_refund(testapp, payment_id, status, **form):
    page = testapp.get(f"/payments/{payment_id}")
    data = {"csrf_token": csrf_from(page), "currency": "EUR", "reason": "", **form}
    return testapp.post(f"/payments/{payment_id}/refund", data, status=status)


def test_an_admin_refunds_part_by_hand_and_it_is_audited(
    testapp, run_in_tm, paid_payment, fake_stripe, make_user, login
):
    payment = paid_payment()
    login(make_user("admin"))
    post_refund(testapp, payment.id, 303, amount="5.00", reason="goodwill")
    [refund] = refunds(run_in_tm)
    assert (refund.status, refund.amount_cents) == ("succeeded", 500)
    [sent] = fake_stripe.requests_to("/v1/refunds")
    assert sent["params"]["payment_intent"] == payment.payment_intent_id
    assert sent["params"]["amount"] == "500"
    assert sent["idempotency_key"] == refund.idempotency_key
    after = only_payment(run_in_tm)
    assert (after.status, after.refunded_cents) == ("paid", 500)
    entry = run_in_tm(
        lambda db: (
            db.scalars(sa.select(AuditEntry).where(AuditEntry.action == "payment.refund"))
            .one()
            .summary
        )
    )
    assert entry["amount"] == "5.00 EUR" and entry["reason"] == "goodwill"
    page = testapp.get(f"/payments/{payment.id}")
    assert "payment.refunded" in page.text and "goodwill" in page.text


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"amount": "20.01"}, "larger than what is left to refund (20.00 EUR)"),
        ({"amount": "5.00", "currency": "USD"}, "must be in the payment&#39;s currency (EUR)"),
        ({"amount": "-3"}, "Enter an amount like 12.50"),
        ({"amount": "0"}, "more than zero"),
        ({"amount": "1.234"}, "at most two decimals"),
        ({"amount": "5", "currency": "XXX"}, "Choose one of the listed currencies"),
    ],
)
def test_bad_refunds_are_refused_clearly(
    testapp, run_in_tm, paid_payment, fake_stripe, make_user, login, form, message
):
    payment = paid_payment()
    login(make_user("owner"))
    page = post_refund(testapp, payment.id, 400, **form)
    assert message in page.text
    assert refunds(run_in_tm) == []
    assert fake_stripe.requests_to("/v1/refunds") == []


def test_staff_may_not_refund(testapp, paid_payment, make_user, login):
    payment = paid_payment()
    login(make_user("staff"))
    testapp.get(f"/payments/{payment.id}", status=403)


def test_429_then_success_refunds_once_with_the_same_key(
    testapp, run_in_tm, paid_payment, fake_stripe, make_user, login
):
    payment = paid_payment()
    fake_stripe.fail_next["/v1/refunds"] = [
        Failure(429, "invalid_request_error", "lock_timeout", "Too many requests", "true")
    ]
    login(make_user("owner"))
    post_refund(testapp, payment.id, 303, amount="20.00")
    attempts = fake_stripe.requests_to("/v1/refunds")
    assert len(attempts) == 2
    assert len({a["idempotency_key"] for a in attempts}) == 1
    assert len(fake_stripe.refunds) == 1
    assert only_payment(run_in_tm).status == "refunded"
    # Nothing is left to refund: the form is gone and a forged POST is refused.
    assert "/refund" not in testapp.get(f"/payments/{payment.id}").text


def test_a_stripe_outage_is_retried_by_the_outbox_with_the_same_key(
    testapp, registry, run_in_tm, paid_payment, fake_stripe, make_user, login
):
    payment = paid_payment()
    # Every attempt of the SDK fails (it retries 5xx twice): the outbox keeps the refund.
    fake_stripe.fail_next["/v1/refunds"] = [Failure(500)] * 3
    login(make_user("owner"))
    post_refund(testapp, payment.id, 303, amount="20.00")
    [pending] = refunds(run_in_tm)
    assert pending.status == "pending" and fake_stripe.refunds == []
    # A second refund cannot overtake the pending one.
    assert "larger than what is left" in post_refund(testapp, payment.id, 400, amount="1").text
    make_due(run_in_tm)
    sweep(registry)
    [done] = refunds(run_in_tm)
    assert done.status == "succeeded"
    keys = {a["idempotency_key"] for a in fake_stripe.requests_to("/v1/refunds")}
    assert keys == {pending.idempotency_key}
    assert len(fake_stripe.refunds) == 1
    sweep(registry)
    assert len(fake_stripe.refunds) == 1


def test_a_refusal_by_stripe_is_final_and_shown(
    testapp, run_in_tm, paid_payment, fake_stripe, make_user, login
):
    payment = paid_payment()
    fake_stripe.fail_next["/v1/refunds"] = [
        Failure(400, "invalid_request_error", "charge_disputed", "The charge is disputed.")
    ]
    login(make_user("owner"))
    post_refund(testapp, payment.id, 303, amount="2.00")
    [failed] = refunds(run_in_tm)
    assert failed.status == "failed" and "The charge is disputed." in failed.error
    assert only_payment(run_in_tm).refunded_cents == 0


@pytest.mark.parametrize(
    ("hours_before", "refunded"),
    [(72, 2000), (30, 1000), (5, 0)],
)
def test_cancelling_refunds_by_the_services_policy(
    testapp, run_in_tm, paid_payment, fake_stripe, make_user, login, hours_before, refunded
):
    policy = {"full_hours": 48, "partial_hours": 24, "partial_percent": 50}
    payment = paid_payment(refund_policy=policy)
    booking = booking_of(run_in_tm, payment)
    now = booking.starts_at - dt.timedelta(hours=hours_before)
    assert payment_events.refund_percent(policy, booking.starts_at, now) == refunded * 100 // 2000

    def cancel(db):
        from asthron.bookings.models import Booking

        row = db.get(Booking, booking.id)
        row.status = "cancelled"
        payment_events.booking_cancelled(db, row, now=now)

    run_in_tm(cancel)
    from asthron.jobs.service import sweep as run_due

    run_due(testapp.app.registry)
    assert sum(r["amount"] for r in fake_stripe.refunds) == refunded
    assert only_payment(run_in_tm).refunded_cents == refunded


def test_staff_cancel_on_the_bookings_page_refunds_in_full_without_a_policy(
    testapp, run_in_tm, paid_payment, fake_stripe, make_user, login
):
    payment = paid_payment()
    login(make_user("staff"))
    page = testapp.get("/bookings")
    booking = booking_of(run_in_tm, payment)
    testapp.post(
        f"/bookings/{booking.id}/decide",
        {"csrf_token": csrf_from(page), "action": "cancel"},
        status=303,
    )
    assert [r["amount"] for r in fake_stripe.refunds] == [2000]
    assert only_payment(run_in_tm).status == "refunded"

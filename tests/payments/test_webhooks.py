"""/hooks/stripe: Stripe's signature verified (tolerance), each event stored once by its id,
acted on through the outbox by reading the session's current state, unknown types
acknowledged and ignored; a bad signature is a 400 that changes nothing."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

from asthron.jobs.models import OutboxItem
from asthron.payments.models import StripeEvent
from tests.payments.conftest import only_payment
from tests.payments.test_checkout import book_paid_service, start_checkout
from tests.security.support import snapshot


@pytest.fixture
def open_session(testapp, run_in_tm, paid_service):
    """A held booking whose customer is on the Checkout page."""
    site_key, _ = paid_service()
    book_paid_service(testapp, site_key)
    start_checkout(testapp, only_payment(run_in_tm).reference)
    return only_payment(run_in_tm).checkout_session_id


def stored_events(run_in_tm) -> list[tuple[str, str]]:
    return run_in_tm(
        lambda db: [
            (e.stripe_event_id, e.outcome)
            for e in db.scalars(sa.select(StripeEvent).order_by(StripeEvent.id))
        ]
    )


def test_a_valid_event_is_stored_once_and_acted_on(
    run_in_tm, fake_stripe, open_session, post_webhook
):
    session = fake_stripe.complete(open_session)
    body = fake_stripe.event("checkout.session.completed", session, event_id="evt_1")
    answer = post_webhook(body)
    assert answer.json == {"received": True, "outcome": "stored"}
    assert stored_events(run_in_tm) == [("evt_1", "processed")]
    assert only_payment(run_in_tm).status == "paid"
    # Stripe sends it again: acknowledged, nothing new stored, nothing done twice.
    retrieves_before = len(fake_stripe.requests_to(f"/v1/checkout/sessions/{open_session}", "GET"))
    again = post_webhook(body)
    assert again.json["outcome"] == "duplicate"
    assert stored_events(run_in_tm) == [("evt_1", "processed")]
    assert (
        len(fake_stripe.requests_to(f"/v1/checkout/sessions/{open_session}", "GET"))
        == retrieves_before
    )


@pytest.mark.parametrize(
    "problem",
    ["stale", "wrong secret", "tampered body", "no signature", "garbage signature"],
)
def test_a_bad_signature_is_a_400_and_changes_nothing(
    app, run_in_tm, fake_stripe, open_session, post_webhook, problem
):
    session = fake_stripe.complete(open_session)
    body = fake_stripe.event("checkout.session.completed", session)
    before = snapshot(app.registry["db_engine"])
    if problem == "stale":
        # Signed ten minutes ago: beyond Stripe's five-minute tolerance (a replay).
        post_webhook(body, timestamp=int(time.time()) - 600, status=400)
    elif problem == "wrong secret":
        post_webhook(body, secret="whsec_someoneelse", status=400)
    elif problem == "tampered body":
        from tests.fakes.stripe_server import sign
        from tests.payments.conftest import WEBHOOK_SECRET

        header = sign(body, WEBHOOK_SECRET)
        tampered = body.replace(b'"paid"', b'"unpaid"')
        assert tampered != body
        post_webhook(tampered, signature=header, status=400)
    elif problem == "no signature":
        post_webhook(body, signature="", status=400)
    else:
        post_webhook(body, signature="t=abc,v1=zz", status=400)
    assert snapshot(app.registry["db_engine"]) == before
    assert only_payment(run_in_tm).status == "open"


def test_events_out_of_order_follow_the_session_as_it_is_now(
    run_in_tm, fake_stripe, open_session, post_webhook
):
    """ "expired" arriving after "completed" (or a stale "completed" after the session was
    paid) cannot undo the payment: each event reads the session from Stripe."""
    open_snapshot = dict(fake_stripe.sessions[open_session])
    paid = fake_stripe.complete(open_session)
    post_webhook(fake_stripe.event("checkout.session.completed", paid, event_id="evt_paid"))
    # An older event about the same session, delivered late, claims it expired.
    stale = dict(open_snapshot, status="expired")
    post_webhook(fake_stripe.event("checkout.session.expired", stale, event_id="evt_old"))
    payment = only_payment(run_in_tm)
    assert payment.status == "paid"
    assert dict(stored_events(run_in_tm)) == {"evt_paid": "processed", "evt_old": "processed"}


def test_a_late_completed_event_pays_a_payment_whose_first_event_was_lost(
    run_in_tm, fake_stripe, open_session, post_webhook
):
    # async_payment_succeeded arrives before completed: the state read from Stripe decides.
    paid = fake_stripe.complete(open_session)
    post_webhook(fake_stripe.event("checkout.session.async_payment_succeeded", paid))
    assert only_payment(run_in_tm).status == "paid"
    post_webhook(fake_stripe.event("checkout.session.completed", paid))
    assert only_payment(run_in_tm).status == "paid"


def test_unknown_types_are_acknowledged_and_ignored(run_in_tm, fake_stripe, post_webhook):
    body = fake_stripe.event("customer.created", {"id": "cus_1", "object": "customer"})
    assert post_webhook(body).json["outcome"] == "ignored"
    assert stored_events(run_in_tm)[0][1] == "ignored"
    outbox = run_in_tm(lambda db: db.scalar(sa.select(sa.func.count(OutboxItem.id))))
    assert outbox == 0


def test_a_declined_card_changes_nothing_and_the_customer_can_pay_again(
    run_in_tm, fake_stripe, open_session, post_webhook
):
    # On the hosted page a declined card leaves the session open; Stripe tells us about the
    # failed PaymentIntent, a type we do not act on.
    declined = {
        "id": "pi_declined",
        "object": "payment_intent",
        "status": "requires_payment_method",
        "last_payment_error": {"code": "card_declined", "decline_code": "generic_decline"},
    }
    post_webhook(fake_stripe.event("payment_intent.payment_failed", declined))
    assert only_payment(run_in_tm).status == "open"
    paid = fake_stripe.complete(open_session)
    post_webhook(fake_stripe.event("checkout.session.completed", paid))
    assert only_payment(run_in_tm).status == "paid"


def test_an_event_for_a_session_that_is_not_ours_is_ignored(run_in_tm, fake_stripe, post_webhook):
    other = {"id": "cs_test_not_ours", "object": "checkout.session", "status": "complete"}
    post_webhook(fake_stripe.event("checkout.session.completed", other, event_id="evt_x"))
    assert stored_events(run_in_tm) == [("evt_x", "ignored")]
    assert not fake_stripe.requests_to("/v1/checkout/sessions/cs_test_not_ours", "GET")


def test_malformed_json_with_a_valid_signature_is_a_400(post_webhook, run_in_tm):
    post_webhook(b"not json", status=400)
    post_webhook(json.dumps({"no": "id"}).encode(), status=400)
    assert stored_events(run_in_tm) == []


def test_a_lost_webhook_is_made_up_by_the_periodic_check(run_in_tm, fake_stripe, open_session):
    import datetime as dt

    from asthron.db import utcnow
    from asthron.payments import tasks
    from asthron.payments.models import Payment

    fake_stripe.complete(open_session)  # paid, but Stripe's webhook never arrives

    def past_its_end(db):
        db.scalars(sa.select(Payment)).one().expires_at = utcnow() - dt.timedelta(minutes=1)

    run_in_tm(past_its_end)
    tasks.reconcile_payments.call_local()
    assert only_payment(run_in_tm).status == "paid"

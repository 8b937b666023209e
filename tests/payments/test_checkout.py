"""A paid service: the slot is held, the customer pays through a Checkout Session made
server-side, and Stripe's word confirms the booking or releases the hold."""

from __future__ import annotations

import re

import sqlalchemy as sa

from asthron.bookings.models import Booking
from asthron.domain_events import DomainEvent
from asthron.payments.models import Payment
from tests.conftest import csrf_from
from tests.payments.conftest import only_payment

SLOT_RE = re.compile(r'name="slot" value="([^"]+)"')


def book_paid_service(testapp, site_key, extra=None):
    page = testapp.get(f"/book/{site_key}/haircut")
    slot = SLOT_RE.findall(page.text)[0]
    form = {
        "csrf_token": csrf_from(page),
        "slot": slot,
        "name": "Ada",
        "email": "ada@example.com",
        "phone": "",
        "notes": "",
        **(extra or {}),
    }
    return testapp.post(f"/book/{site_key}/haircut", form, status=303)


def start_checkout(testapp, payment_reference, status=303, token=None):
    token = token or csrf_from(testapp.get(f"/pay/{payment_reference}"))
    return testapp.post(f"/pay/{payment_reference}", {"csrf_token": token}, status=status)


def booking_of(run_in_tm, payment):
    def read(db):
        booking = db.get(Booking, payment.booking_id)
        db.expunge(booking)
        return booking

    return run_in_tm(read)


def kinds(run_in_tm) -> list[str]:
    return run_in_tm(
        lambda db: list(db.scalars(sa.select(DomainEvent.kind).order_by(DomainEvent.id)))
    )


def test_a_paid_booking_is_held_until_stripe_says_it_is_paid(
    testapp, run_in_tm, paid_service, fake_stripe, post_webhook
):
    site_key, _ = paid_service()
    # A client-sent amount is not a field of the form: the price comes from the service.
    response = book_paid_service(testapp, site_key, extra={"amount": "1", "currency": "usd"})
    payment = only_payment(run_in_tm)
    booking = booking_of(run_in_tm, payment)
    assert response.location.endswith(f"/pay/booking/{booking.reference}")
    assert booking.status == "held" and booking.customer_email == "ada@example.com"
    assert (payment.kind, payment.status, payment.amount_cents, payment.currency) == (
        "booking",
        "created",
        2000,
        "eur",
    )
    # Checkout closes before the hold does.
    assert payment.expires_at < booking.hold_expires_at

    pay_page = testapp.get(response.location, status=302).follow()
    assert "Pay 20.00 EUR" in pay_page.text

    token = csrf_from(pay_page)
    to_stripe = start_checkout(testapp, payment.reference)
    [create] = fake_stripe.requests_to("/v1/checkout/sessions")
    price = create["params"]["line_items"][0]["price_data"]
    assert (price["unit_amount"], price["currency"]) == ("2000", "eur")
    assert create["idempotency_key"] == f"checkout-{payment.reference}"
    assert create["params"]["success_url"].endswith(f"/pay/{payment.reference}?checkout=success")
    session_id = only_payment(run_in_tm).checkout_session_id
    assert to_stripe.location == fake_stripe.sessions[session_id]["url"]

    # A second click reuses the open session: one session, so one charge at most.
    again = start_checkout(testapp, payment.reference)
    assert again.location == to_stripe.location
    assert len(fake_stripe.requests_to("/v1/checkout/sessions")) == 1

    session = fake_stripe.complete(session_id)
    post_webhook(fake_stripe.event("checkout.session.completed", session))

    paid = only_payment(run_in_tm)
    assert paid.status == "paid" and paid.payment_intent_id == session["payment_intent"]
    assert booking_of(run_in_tm, paid).status == "confirmed"
    assert kinds(run_in_tm) == [
        "booking.held",
        "payment.created",
        "payment.succeeded",
        # Paid, so booked: announced, and the customer becomes a lead (leads subscribes).
        "booking.confirmed",
        "lead.created",
    ]
    # Paid: the pay page says so and offers no second payment.
    page = testapp.get(f"/pay/{payment.reference}")
    assert "Paid. Thank you!" in page.text and "<button" not in page.text
    start_checkout(testapp, payment.reference, status=409, token=token)
    assert len(fake_stripe.requests_to("/v1/checkout/sessions")) == 1


def test_an_expired_session_releases_the_hold(
    testapp, run_in_tm, paid_service, fake_stripe, post_webhook
):
    site_key, _ = paid_service()
    book_paid_service(testapp, site_key)
    payment = only_payment(run_in_tm)
    start_checkout(testapp, payment.reference)
    session = fake_stripe.expire(only_payment(run_in_tm).checkout_session_id)
    post_webhook(fake_stripe.event("checkout.session.expired", session))
    expired = only_payment(run_in_tm)
    assert expired.status == "expired"
    assert booking_of(run_in_tm, expired).status == "expired"
    assert "payment.expired" in kinds(run_in_tm)
    # The time is offered again.
    page = testapp.get(f"/book/{site_key}/haircut")
    assert booking_of(run_in_tm, expired).starts_at.isoformat() in SLOT_RE.findall(page.text)


def test_a_failing_stripe_leaves_the_payment_startable(
    testapp, run_in_tm, paid_service, fake_stripe
):
    from tests.fakes.stripe_server import Failure

    site_key, _ = paid_service()
    book_paid_service(testapp, site_key)
    payment = only_payment(run_in_tm)
    # 500 on every attempt the SDK makes (it retries twice): the customer is told, nothing
    # is stored as open.
    fake_stripe.fail_next["/v1/checkout/sessions"] = [Failure(500)] * 3
    page = start_checkout(testapp, payment.reference, status=409)
    assert "could not be started" in page.text
    assert only_payment(run_in_tm).status == "created"
    assert len(fake_stripe.requests_to("/v1/checkout/sessions")) == 3
    # The next click works; all attempts carried the same Idempotency-Key.
    start_checkout(testapp, payment.reference)
    keys = {r["idempotency_key"] for r in fake_stripe.requests_to("/v1/checkout/sessions")}
    assert keys == {f"checkout-{payment.reference}"}
    assert only_payment(run_in_tm).status == "open"


def test_unknown_payment_pages_are_404(testapp):
    testapp.get("/pay/no-such-payment", status=404)
    testapp.get("/pay/booking/no-such-booking", status=404)


def test_payment_rows_exist_only_for_paid_services(testapp, run_in_tm, paid_service):
    site_key, _ = paid_service(price_cents=None, deposit_cents=None)
    response = book_paid_service(testapp, site_key)
    assert "/booked/" in response.location
    assert run_in_tm(lambda db: db.scalar(sa.select(sa.func.count(Payment.id)))) == 0

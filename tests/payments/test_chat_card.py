"""A paid service booked from the chat's booking card: the time is held, a payment card
follows in the chat, and paying confirms the booking (never booked unpaid)."""

from __future__ import annotations

import sqlalchemy as sa

from asthron.bookings.models import (
    Booking,
    BookingResource,
    BookingService,
    BookingServiceResource,
)
from asthron.db import new_transaction
from asthron.sites.models import Site
from tests.fixtures.visitors import Visitor
from tests.payments.conftest import only_payment
from tests.payments.test_checkout import start_checkout

API = "/api/widget/v1/conversations"
EVERY_DAY = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def test_a_paid_service_booked_in_the_chat_waits_for_payment(
    testapp, registry, run_in_tm, make_site, fake_stripe, post_webhook
):
    site = make_site()
    with new_transaction(registry) as db:
        row = db.get(Site, site["id"])
        row.business_hours, row.timezone = EVERY_DAY, "Europe/Berlin"
        service = BookingService(
            site_id=row.id,
            slug="colour",
            name="Colour",
            min_notice_minutes=0,
            price_cents=9000,
            deposit_cents=3000,
            currency="EUR",
        )
        resource = BookingResource(site_id=row.id, name="Sam")
        db.add_all([service, resource])
        db.flush()
        db.add(BookingServiceResource(service_id=service.id, resource_id=resource.id))

    visitor = Visitor(testapp, site)
    conversation_id = visitor.open()["id"]
    visitor.send(conversation_id, "Can I book a colour appointment?", status=201)
    events = visitor.events(conversation_id).json["events"]
    [card] = [e for e in events if e["type"] == "card" and e["data"].get("card") == "booking"]
    card_id = card["data"]["card_id"]

    def post(step, body, status):
        return testapp.post_json(
            f"{API}/{conversation_id}/booking/{step}",
            {"card_id": card_id, **body},
            headers=visitor.headers,
            status=status,
        ).json

    slots = post("slots", {"service": "colour"}, 200)
    start = slots["days"][0]["slots"][1]["start"]
    held = post("hold", {"service": "colour", "start": start}, 201)
    done = post(
        "confirm",
        {"hold": held["hold"], "name": "Ana", "email": "ana@example.com", "phone": ""},
        201,
    )
    assert done["status"] == "held"
    assert "Pay below to confirm it" in done["event"]["body"]
    booking = run_in_tm(
        lambda db: db.scalar(sa.select(Booking).where(Booking.reference == held["hold"]))
    )
    assert booking.status == "held" and booking.customer_email == "ana@example.com"

    # The payment card follows in the chat, for the deposit from our database.
    events = visitor.events(conversation_id).json["events"]
    [pay_card] = [e for e in events if e["type"] == "card" and e["data"].get("card") == "payment"]
    assert pay_card["data"]["payment"]["amount"] == "30.00 EUR"
    payment = only_payment(run_in_tm)
    assert (payment.amount_cents, payment.booking_id) == (3000, booking.id)

    start_checkout(testapp, payment.reference)
    session = fake_stripe.complete(only_payment(run_in_tm).checkout_session_id)
    post_webhook(fake_stripe.event("checkout.session.completed", session))
    confirmed = run_in_tm(lambda db: db.get(Booking, booking.id))
    assert confirmed.status == "confirmed"
    states = [
        e["data"]["payment"]["status"]
        for e in visitor.events(conversation_id).json["events"]
        if e["data"].get("payment") and e["data"].get("card") != "payment"
    ]
    assert "paid" in states

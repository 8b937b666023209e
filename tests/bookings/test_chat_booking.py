"""Booking inside the chat: the card a booking question gets, and its widget endpoints."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from asthron.bookings.models import (
    Booking,
    BookingResource,
    BookingService,
    BookingServiceResource,
)
from asthron.conversations.models import ConversationEvent
from asthron.db import new_transaction
from asthron.sites.models import Site
from tests.fixtures.visitors import Visitor

API = "/api/widget/v1/conversations"
EVERY_DAY = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
def booking_site(registry, make_site):
    """A site with one service (30 minutes, no notice) served by one stylist, open always."""
    site = make_site()
    with new_transaction(registry) as db:
        row = db.get(Site, site["id"])
        row.business_hours = EVERY_DAY
        row.timezone = "Europe/Berlin"
        service = BookingService(
            site_id=row.id, slug="haircut", name="Haircut", min_notice_minutes=0
        )
        resource = BookingResource(site_id=row.id, name="Sam")
        db.add_all([service, resource])
        db.flush()
        db.add(BookingServiceResource(service_id=service.id, resource_id=resource.id))
    return site


def _card(testapp, visitor, text="Can I book a haircut?"):
    conversation = visitor.open()
    visitor.send(conversation["id"], text, status=201)
    events = visitor.events(conversation["id"]).json["events"]
    cards = [e for e in events if e["type"] == "card" and e["data"].get("card") == "booking"]
    return conversation["id"], cards


def _post(testapp, visitor, conversation_id, step, body, status="*"):
    return testapp.post_json(
        f"{API}/{conversation_id}/booking/{step}", body, headers=visitor.headers, status=status
    )


def test_book_in_the_chat_from_question_to_confirmation(testapp, registry, booking_site):
    visitor = Visitor(testapp, booking_site)
    conversation_id, cards = _card(testapp, visitor)
    assert len(cards) == 1
    card = cards[0]
    assert card["data"]["booking"]["service"] == "haircut"
    assert card["data"]["booking"]["services"][0]["name"] == "Haircut"

    slots = _post(
        testapp,
        visitor,
        conversation_id,
        "slots",
        {"card_id": card["data"]["card_id"], "service": "haircut", "timezone": "Asia/Kolkata"},
        status=200,
    ).json
    assert slots["timezone"] == "Asia/Kolkata"
    offered = [(day["date"], slot) for day in slots["days"] for slot in day["slots"]]
    date, first = offered[1]
    start = dt.datetime.fromisoformat(first["start"].replace("Z", "+00:00"))
    # Grouped and labelled on the visitor's (+05:30) wall clock.
    local = start.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30)))
    assert first["time"] == local.strftime("%H:%M")
    assert date == local.date().isoformat()

    held = _post(
        testapp,
        visitor,
        conversation_id,
        "hold",
        {"card_id": card["data"]["card_id"], "service": "haircut", "start": first["start"]},
        status=201,
    ).json
    assert held["start"] == first["start"]
    assert held["prefill"] == {"name": "", "email": "", "phone": ""}

    # A bad email is a per-field 422, and nothing is booked.
    bad = _post(
        testapp,
        visitor,
        conversation_id,
        "confirm",
        {"card_id": card["data"]["card_id"], "hold": held["hold"], "name": "Ana", "email": "x@"},
        status=422,
    ).json
    assert "email" in bad["error"]["fields"]
    done = _post(
        testapp,
        visitor,
        conversation_id,
        "confirm",
        {
            "card_id": card["data"]["card_id"],
            "hold": held["hold"],
            "name": "Ana",
            "email": "Ana@Example.com",
            "phone": "",
            "timezone": "Asia/Kolkata",
        },
        status=201,
    ).json
    assert done["status"] == "confirmed"
    assert "Booked: Haircut on " + local.strftime("%Y-%m-%d %H:%M") in done["event"]["body"]
    assert "Asia/Kolkata" in done["event"]["body"]
    with new_transaction(registry) as db:
        booking = db.scalar(sa.select(Booking).where(Booking.reference == held["hold"]))
        assert booking.status == "confirmed"
        assert booking.customer_email == "ana@example.com"
        assert booking.conversation_id == conversation_id
        card_row = db.get(ConversationEvent, card["id"])
        assert card_row.data["done"] is True
        assert card_row.data["booking"]["confirmed"]["start"] == first["start"]

    # The same time again from another visitor: 409 JSON, and fresh slots no longer list it.
    other = Visitor(testapp, booking_site)
    other_id, other_cards = _card(testapp, other, "I'd like an appointment")
    other_card = other_cards[0]["data"]["card_id"]
    taken = _post(
        testapp,
        other,
        other_id,
        "hold",
        {"card_id": other_card, "service": "haircut", "start": first["start"]},
        status=409,
    ).json
    assert taken["error"]["code"] == "slot_unavailable"
    fresh = _post(
        testapp, other, other_id, "slots", {"card_id": other_card, "service": "haircut"}, status=200
    ).json
    assert first["start"] not in {s["start"] for d in fresh["days"] for s in d["slots"]}


def test_a_slot_that_vanishes_between_hold_and_confirm_is_a_409(testapp, registry, booking_site):
    visitor = Visitor(testapp, booking_site)
    conversation_id, cards = _card(testapp, visitor)
    card_id = cards[0]["data"]["card_id"]
    slots = _post(
        testapp, visitor, conversation_id, "slots", {"card_id": card_id, "service": "haircut"}
    ).json
    start = [slot for day in slots["days"] for slot in day["slots"]][2]["start"]
    held = _post(
        testapp,
        visitor,
        conversation_id,
        "hold",
        {"card_id": card_id, "service": "haircut", "start": start},
        status=201,
    ).json
    # The hold runs out and someone else books the time meanwhile.
    with new_transaction(registry) as db:
        booking = db.scalar(sa.select(Booking).where(Booking.reference == held["hold"]))
        booking.hold_expires_at = booking.created_at - dt.timedelta(minutes=1)
        taken = Booking(
            reference="someone-else",
            service_id=booking.service_id,
            resource_id=booking.resource_id,
            status="confirmed",
            starts_at=booking.starts_at,
            ends_at=booking.ends_at,
            blocks_from=booking.blocks_from,
            blocks_until=booking.blocks_until,
            local_date=booking.local_date,
        )
        booking.status = "expired"
        db.flush()
        db.add(taken)
    response = _post(
        testapp,
        visitor,
        conversation_id,
        "confirm",
        {"card_id": card_id, "hold": held["hold"], "name": "Bo", "phone": "+49 30 1234567"},
        status=409,
    )
    assert response.content_type == "application/json"
    assert response.json["error"]["code"] == "slot_unavailable"
    assert "taken" in response.json["error"]["message"]


def test_bad_service_past_time_and_bad_input_are_clear_errors(testapp, booking_site):
    visitor = Visitor(testapp, booking_site)
    conversation_id, cards = _card(testapp, visitor)
    card_id = cards[0]["data"]["card_id"]
    missing = _post(
        testapp, visitor, conversation_id, "slots", {"card_id": card_id, "service": "nope"}
    )
    assert missing.status_int == 404 and missing.json["error"]["code"] == "not_found"
    past = _post(
        testapp,
        visitor,
        conversation_id,
        "hold",
        {"card_id": card_id, "service": "haircut", "start": "2020-01-06T09:00:00Z"},
    )
    assert past.status_int == 409 and "passed" in past.json["error"]["message"]
    off_grid = _post(
        testapp,
        visitor,
        conversation_id,
        "hold",
        {"card_id": card_id, "service": "haircut", "start": "2099-01-06T09:07:00Z"},
    )
    assert off_grid.status_int == 409  # beyond the window and off the grid: not offered
    impossible = _post(
        testapp,
        visitor,
        conversation_id,
        "hold",
        {"card_id": card_id, "service": "haircut", "start": "2026-02-30T09:00:00Z"},
    )
    assert impossible.status_int == 422
    zone = _post(
        testapp,
        visitor,
        conversation_id,
        "slots",
        {"card_id": card_id, "service": "haircut", "timezone": "Mars/Olympus"},
    )
    assert zone.status_int == 422
    no_card = _post(
        testapp, visitor, conversation_id, "slots", {"card_id": "nope", "service": "haircut"}
    )
    assert no_card.status_int == 404
    no_hold = _post(
        testapp,
        visitor,
        conversation_id,
        "confirm",
        {"card_id": card_id, "hold": "no-such-hold", "name": "Bo", "email": "bo@example.com"},
    )
    assert no_hold.status_int == 404


def test_another_visitor_reaches_neither_the_card_nor_the_hold(testapp, booking_site):
    visitor = Visitor(testapp, booking_site)
    conversation_id, cards = _card(testapp, visitor)
    card_id = cards[0]["data"]["card_id"]
    slots = _post(
        testapp, visitor, conversation_id, "slots", {"card_id": card_id, "service": "haircut"}
    ).json
    start = slots["days"][0]["slots"][0]["start"]
    held = _post(
        testapp,
        visitor,
        conversation_id,
        "hold",
        {"card_id": card_id, "service": "haircut", "start": start},
        status=201,
    ).json
    stranger = Visitor(testapp, booking_site)
    stranger.open()
    body = {"card_id": card_id, "hold": held["hold"], "name": "Eve", "email": "eve@example.com"}
    # Someone else's conversation is 404, as everywhere in the widget API.
    assert _post(testapp, stranger, conversation_id, "confirm", body).status_int == 404
    # Their own conversation with the other's hold: still not theirs.
    own_id = stranger.open()["id"]
    assert _post(testapp, stranger, own_id, "confirm", body).status_int == 404
    # The right token from a page the site does not allow: 403.
    foreign = {**visitor.headers, "Origin": "https://evil.example.org"}
    response = testapp.post_json(
        f"{API}/{conversation_id}/booking/confirm", body, headers=foreign, status="*"
    )
    assert response.status_int == 403
    # No token at all: 401.
    response = testapp.post_json(f"{API}/{conversation_id}/booking/confirm", body, status="*")
    assert response.status_int == 401


def test_the_card_narrows_to_what_was_asked_and_only_when_asked(testapp, registry, booking_site):
    visitor = Visitor(testapp, booking_site)
    conversation_id, cards = _card(testapp, visitor, "Can I come in tomorrow afternoon?")
    want = cards[0]["data"]["booking"]["want"]
    assert want["part"] == "afternoon" and want["days_ahead"] == 1
    slots = _post(
        testapp,
        visitor,
        conversation_id,
        "slots",
        {"card_id": cards[0]["data"]["card_id"], "service": "haircut", "timezone": "UTC"},
        status=200,
    ).json
    assert slots["relaxed"] is False
    assert [d["date"] for d in slots["days"]] == [want["date"]]
    times = [s["time"] for s in slots["days"][0]["slots"]]
    assert times[0] == "12:00" and times[-1] < "17:00"
    # While the card is open, the assistant is told to point to it, not to list times.
    with new_transaction(registry) as db:
        contributions = registry["message_hooks"].prompt_contributions(db, conversation_id)
    assert any("booking card" in c.instruction for c in contributions)
    # A message that asks nothing gets no card.
    visitor.send(conversation_id, "What are your opening hours?", status=201)
    events = visitor.events(conversation_id).json["events"]
    assert len([e for e in events if e["type"] == "card"]) == 1


def test_the_same_ask_twice_adds_no_second_card_and_approval_makes_a_request(
    testapp, registry, booking_site
):
    with new_transaction(registry) as db:
        db.scalar(sa.select(BookingService)).requires_approval = True
    visitor = Visitor(testapp, booking_site)
    conversation_id, cards = _card(testapp, visitor)
    visitor.send(conversation_id, "Can I book a haircut?", status=201)
    events = visitor.events(conversation_id).json["events"]
    assert len([e for e in events if e["type"] == "card"]) == 1
    card_id = cards[0]["data"]["card_id"]
    slots = _post(
        testapp, visitor, conversation_id, "slots", {"card_id": card_id, "service": "haircut"}
    ).json
    start = slots["days"][0]["slots"][0]["start"]
    held = _post(
        testapp,
        visitor,
        conversation_id,
        "hold",
        {"card_id": card_id, "service": "haircut", "start": start},
        status=201,
    ).json
    done = _post(
        testapp,
        visitor,
        conversation_id,
        "confirm",
        {"card_id": card_id, "hold": held["hold"], "name": "Cy", "phone": "+44 20 7946 0958"},
        status=201,
    ).json
    assert done["status"] == "pending"
    assert done["event"]["body"].startswith("Requested: Haircut on ")
    # Booked: the card takes no second hold.
    again = _post(
        testapp,
        visitor,
        conversation_id,
        "hold",
        {"card_id": card_id, "service": "haircut", "start": start},
        status=409,
    )
    assert again.json["error"]["code"] == "slot_unavailable"
    with new_transaction(registry) as db:
        booking = db.scalar(sa.select(Booking).where(Booking.reference == held["hold"]))
        assert (booking.status, booking.customer_phone) == ("pending", "+442079460958")

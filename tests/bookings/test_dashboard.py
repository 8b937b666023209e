"""The staff's side: the list with filters, the day/week calendar, the actions on one booking,
and the booking beside the conversation and on the lead's timeline."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from asthron.audit.models import AuditEntry
from asthron.bookings import service as bookings
from asthron.bookings.models import Booking, BookingResource, BookingService
from asthron.conversations.models import Conversation, Visitor
from asthron.db import new_transaction, utcnow
from asthron.leads.models import Lead, LeadConversation
from tests.conftest import csrf_from

BERLIN = ZoneInfo("Europe/Berlin")
EVERY_DAY = {d: [["08:00", "20:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def _open_every_day(registry, service_id):
    from asthron.sites.models import Site

    with new_transaction(registry) as db:
        site = db.get(Site, db.get(BookingService, service_id).site_id)
        site.business_hours = EVERY_DAY


def _future_slots(registry, service_id, count, days_ahead=2):
    """Free slots from 10:00 Berlin, ``days_ahead`` days from today."""
    day = (utcnow().astimezone(BERLIN) + dt.timedelta(days=days_ahead)).date()
    start = dt.datetime.combine(day, dt.time(10), BERLIN)
    with new_transaction(registry) as db:
        service = db.get(BookingService, service_id)
        return [s.start for s in bookings.offered_slots(db, service, start=start, limit=count)]


def _book(registry, service_id, start, name="Alice", email="alice@example.com", **extra) -> int:
    with new_transaction(registry) as db:
        service = db.get(BookingService, service_id)
        booking = bookings.book(db, service, start, bookings.Customer(name=name, email=email))
        for key, value in extra.items():
            setattr(booking, key, value)
        return booking.id


def test_list_filters_by_status_service_staff_and_dates(
    testapp, registry, make_service, make_user, login
):
    service_id = make_service(staff=2)
    _open_every_day(registry, service_id)
    first, second = _future_slots(registry, service_id, 2)
    alice = _book(registry, service_id, first)
    bob = _book(registry, service_id, first, name="Bob", email="bob@example.com")
    carol = _book(registry, service_id, second, name="Carol", email="carol@example.com")
    with new_transaction(registry) as db:
        bookings.cancel(db, bookings.Actor.cli(), db.get(Booking, carol))
        bob_resource = db.get(Booking, bob).resource_id
    login(make_user("staff"))

    open_list = testapp.get("/bookings").text
    assert "Alice" in open_list and "Bob" in open_list and "Carol" not in open_list
    cancelled = testapp.get("/bookings", {"status": "cancelled"}).text
    assert "Carol" in cancelled and "Alice" not in cancelled
    by_staff = testapp.get("/bookings", {"resource": str(bob_resource)}).text
    assert "Bob" in by_staff and "Alice" not in by_staff
    day = first.astimezone(BERLIN).date()
    in_range = testapp.get(
        "/bookings", {"status": "confirmed", "since": str(day), "until": str(day)}
    ).text
    assert "Alice" in in_range
    later = testapp.get("/bookings", {"since": str(day + dt.timedelta(days=1))}).text
    assert "Alice" not in later
    assert "Alice" not in testapp.get("/bookings", {"service": "999999"}).text
    # Bad filters: a 400 that says what is wrong.
    bad = testapp.get("/bookings", {"since": "yesterday", "status": "lost"}, status=400)
    assert "Give a date like 2026-03-31." in bad.text
    assert "Pick a status from the list." in bad.text
    assert alice


def test_calendar_day_and_week(testapp, registry, make_service, make_user, login):
    service_id = make_service(staff=2)
    _open_every_day(registry, service_id)
    (first,) = _future_slots(registry, service_id, 1)
    _book(registry, service_id, first)
    _book(registry, service_id, first, name="Bob", email="bob@example.com")
    login(make_user("staff"))
    day = first.astimezone(BERLIN).date()
    label = first.astimezone(BERLIN).strftime("%H:%M")

    page = testapp.get("/bookings/calendar", {"date": str(day), "view": "day"}).text
    # One column per staff member, the bookings in the row of their hour.
    assert "Stylist 1" in page and "Stylist 2" in page
    assert f"{label}–" in page and "Haircut · Alice" in page and "Haircut · Bob" in page
    assert "Europe/Berlin" in page

    week = testapp.get("/bookings/calendar", {"date": str(day), "view": "week"}).text
    assert day.strftime("%a %d %b") in week and "Haircut · Alice" in week
    with new_transaction(registry) as db:
        first_resource = db.scalar(
            sa.select(BookingResource.id).order_by(BookingResource.id.desc()).limit(1)
        )
    one = testapp.get(
        "/bookings/calendar", {"date": str(day), "view": "week", "resource": str(first_resource)}
    ).text
    assert ("Alice" in one) != ("Bob" in one), "one staff member's week"
    elsewhere = testapp.get(
        "/bookings/calendar", {"date": str(day + dt.timedelta(days=14)), "view": "day"}
    ).text
    assert "No bookings in this day." in elsewhere
    bad = testapp.get("/bookings/calendar", {"date": "31/12", "view": "month"}, status=400)
    assert "Give a date like 2026-03-31." in bad.text


def test_staff_actions_are_posts_with_clear_refusals(
    testapp, registry, make_service, make_user, login
):
    service_id = make_service(requires_approval=True, min_notice_minutes=0)
    _open_every_day(registry, service_id)
    first, second, third = _future_slots(registry, service_id, 3)
    booking_id = _book(registry, service_id, first)
    other_id = _book(registry, service_id, third, name="Bob", email="bob@example.com")
    login(make_user("staff"))
    token = csrf_from(testapp.get("/bookings"))

    testapp.get(f"/bookings/{booking_id}/approve", status=405)
    testapp.post(f"/bookings/{booking_id}/approve", {"csrf_token": token}, status=303)
    # No-show before the start: refused, said plainly.
    early = testapp.post(f"/bookings/{booking_id}/no-show", {"csrf_token": token}, status=400)
    assert "only after its start time" in early.text
    # Reschedule with a local time (a datetime-local field) in the site's zone.
    local = second.astimezone(BERLIN).strftime("%Y-%m-%dT%H:%M")
    testapp.post(
        f"/bookings/{booking_id}/reschedule",
        {"csrf_token": token, "starts_at": local},
        status=303,
    )
    # Onto Bob's time: 409 with free times; garbage and skipped wall times: 400.
    taken_local = third.astimezone(BERLIN).strftime("%Y-%m-%dT%H:%M")
    taken = testapp.post(
        f"/bookings/{booking_id}/reschedule",
        {"csrf_token": token, "starts_at": taken_local},
        status=409,
    )
    assert "just been taken" in taken.text and "Free:" in taken.text
    bad = testapp.post(
        f"/bookings/{booking_id}/reschedule", {"csrf_token": token, "starts_at": "soon"}, status=400
    )
    assert "Give the new time like" in bad.text
    gap = testapp.post(
        f"/bookings/{booking_id}/reschedule",
        {"csrf_token": token, "starts_at": "2027-03-28T02:30"},
        status=400,
    )
    assert "the clocks skip it" in gap.text
    testapp.post(f"/bookings/{other_id}/decline", {"csrf_token": token}, status=303)
    testapp.post(f"/bookings/{booking_id}/cancel", {"csrf_token": token}, status=303)
    testapp.post("/bookings/999999/cancel", {"csrf_token": token}, status=404)
    with new_transaction(registry) as db:
        booking = db.get(Booking, booking_id)
        assert (booking.status, booking.starts_at) == ("cancelled", second)
        assert db.get(Booking, other_id).status == "rejected"
        actions = list(db.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))
    assert [a for a in actions if a.startswith("booking.")] == [
        "booking.approve",
        "booking.reschedule",
        "booking.decline",
        "booking.cancel",
    ]


def test_no_show_after_the_start(testapp, registry, make_service, make_user, login):
    service_id = make_service(min_notice_minutes=0)
    _open_every_day(registry, service_id)
    (first,) = _future_slots(registry, service_id, 1)
    booking_id = _book(registry, service_id, first)
    with new_transaction(registry) as db:
        # As if the appointment had begun an hour ago.
        booking = db.get(Booking, booking_id)
        shift = utcnow() - dt.timedelta(hours=1) - booking.starts_at
        for name in ("starts_at", "ends_at", "blocks_from", "blocks_until"):
            setattr(booking, name, getattr(booking, name) + shift)
    login(make_user("staff"))
    page = testapp.get("/bookings", {"status": "confirmed"})
    assert "No-show" in page.text
    testapp.post(f"/bookings/{booking_id}/no-show", {"csrf_token": csrf_from(page)}, status=303)
    with new_transaction(registry) as db:
        assert db.get(Booking, booking_id).status == "no_show"


def test_the_booking_beside_the_conversation_and_on_the_leads_timeline(
    testapp, registry, make_service, make_user, login
):
    service_id = make_service(min_notice_minutes=0)
    _open_every_day(registry, service_id)
    first, second = _future_slots(registry, service_id, 2)
    with new_transaction(registry) as db:
        service = db.get(BookingService, service_id)
        visitor = Visitor(site_id=service.site_id, token_hash="1" * 64)
        db.add(visitor)
        db.flush()
        conversation = Conversation(site_id=service.site_id, visitor_id=visitor.id)
        db.add(conversation)
        db.flush()
        conversation_id = conversation.id
        lead = Lead(name="Alice", email="alice@example.com", source_site_id=service.site_id)
        db.add(lead)
        db.flush()
        db.add(LeadConversation(lead_id=lead.id, conversation_id=conversation_id))
        lead_id = lead.id
    _book(registry, service_id, first, conversation_id=conversation_id)
    # Booked on the public page with the same email, no conversation.
    _book(registry, service_id, second, name="A. Smith")
    _book(registry, service_id, second + dt.timedelta(hours=2), name="Zed", email="z@example.com")
    login(make_user("staff"))

    when = first.astimezone(BERLIN).strftime("%A %d %B %Y, %H:%M")
    inbox = testapp.get(f"/inbox/{conversation_id}").text
    assert "Bookings" in inbox and "Haircut · confirmed" in inbox and when in inbox

    timeline = testapp.get(f"/leads/{lead_id}").text
    assert f"Haircut, {when} (Europe/Berlin): confirmed" in timeline
    assert second.astimezone(BERLIN).strftime("%A %d %B %Y, %H:%M") in timeline
    assert "Zed" not in timeline and "z@example.com" not in timeline

"""A booking's life in the service: events, emails, approval, no-show, reschedule, cancel."""

from __future__ import annotations

import datetime as dt

import icalendar
import pytest
import sqlalchemy as sa

from asthron.audit.models import AuditEntry
from asthron.audit.service import Actor
from asthron.bookings import service as bookings
from asthron.bookings.models import Booking, BookingLink, BookingReminder, BookingService
from asthron.db import new_transaction
from tests.bookings.conftest import NOW, domain_events, emails

TEN = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # Monday 10:00 in Berlin
TOMORROW_TEN = TEN + dt.timedelta(days=1)
ALICE = bookings.Customer(name="Alice", email="alice@example.com")
STAFF = Actor(label="staff@example.com")


def _book(registry, service_id, start=TOMORROW_TEN, customer=ALICE) -> int:
    with new_transaction(registry) as db:
        return bookings.book(db, db.get(BookingService, service_id), start, customer, now=NOW).id


def _do(registry, booking_id, action, *args, **kwargs):
    with new_transaction(registry) as db:
        booking = db.get(Booking, booking_id)
        return action(db, STAFF, booking, *args, now=kwargs.pop("now", NOW), **kwargs)


def _reminders(registry, booking_id) -> dict[str, tuple]:
    with new_transaction(registry) as db:
        rows = db.scalars(
            sa.select(BookingReminder).where(BookingReminder.booking_id == booking_id)
        )
        return {r.kind: (r.due_at, r.sent_at) for r in rows}


def _invite(email: dict) -> icalendar.Event:
    (attachment,) = email["attachments"]
    calendar = icalendar.Calendar.from_ical(attachment["text"])
    return calendar, next(iter(calendar.walk("VEVENT")))


def test_a_booking_is_announced_emailed_and_reminded(registry, make_service, make_user):
    owner = make_user("owner")
    service_id = make_service()
    booking_id = _book(registry, service_id)

    ((kind, payload),) = domain_events(registry)
    assert kind == "booking.confirmed"
    with new_transaction(registry) as db:
        service = db.get(BookingService, service_id)
    assert payload == {
        "booking_id": booking_id,
        "site_id": service.site_id,
        "service_id": service_id,
        "conversation_id": None,
        "starts_at": "2026-03-03T09:00:00+00:00",
        # Leads makes the customer a lead from this.
        "customer": {"name": ALICE.name, "email": ALICE.email, "phone": ALICE.phone},
    }
    (customer,) = emails(registry, "alice@example.com")
    assert customer["subject"].startswith("Booked: Haircut, Tuesday 03 March 2026, 10:00")
    assert "/booking/" in customer["text"]
    calendar, event = _invite(customer)
    assert calendar["METHOD"] == "REQUEST"
    assert event["DTSTART"].dt == TOMORROW_TEN
    assert event["SEQUENCE"] == 0
    (staff,) = emails(registry, owner["email"])
    assert staff["subject"].startswith("New booking: Haircut")
    assert "alice@example.com" in staff["text"]
    # 24 h and 1 h before, both still ahead of NOW.
    assert _reminders(registry, booking_id) == {
        "24h": (TOMORROW_TEN - dt.timedelta(hours=24), None),
        "1h": (TOMORROW_TEN - dt.timedelta(hours=1), None),
    }


def test_a_booking_made_soon_gets_only_the_reminders_still_ahead(registry, make_service):
    service_id = make_service()
    booking_id = _book(registry, service_id, start=TEN)  # 2 hours after NOW
    assert set(_reminders(registry, booking_id)) == {"1h"}


def test_approval_queue_approve_and_decline(registry, make_service, make_user):
    owner = make_user("owner")
    service_id = make_service(requires_approval=True)
    first = _book(registry, service_id)
    second = _book(registry, service_id, start=TOMORROW_TEN + dt.timedelta(hours=1))
    requested = emails(registry, "alice@example.com")
    assert [e["subject"].split(":")[0] for e in requested] == ["Requested", "Requested"]
    assert all(not e.get("attachments") for e in requested), "no invitation before approval"
    assert all(e["subject"].startswith("To approve") for e in emails(registry, owner["email"]))
    assert _reminders(registry, first) == {}

    _do(registry, first, bookings.approve)
    _do(registry, second, bookings.decline)
    with pytest.raises(bookings.BookingError, match="declined cannot be approved"):
        _do(registry, second, bookings.approve)

    kinds = [kind for kind, _ in domain_events(registry)]
    assert kinds == [
        "booking.requested",
        "booking.requested",
        "booking.confirmed",
        "booking.declined",
    ]
    after = emails(registry, "alice@example.com")[2:]
    assert after[0]["subject"].startswith("Booked:") and _invite(after[0])[0]["METHOD"] == "REQUEST"
    assert after[1]["subject"].startswith("Not available:") and "/booking/" not in after[1]["text"]
    assert set(_reminders(registry, first)) == {"24h", "1h"}
    with new_transaction(registry) as db:
        assert db.get(Booking, second).status == "rejected"
        actions = list(db.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))
        assert actions[-2:] == ["booking.approve", "booking.decline"]
        # Declined: its time is free again.
        service = db.get(BookingService, service_id)
        starts = {s.start for s in bookings.offered_slots(db, service, now=NOW)}
        assert TOMORROW_TEN + dt.timedelta(hours=1) in starts


def test_no_show_only_after_the_start(registry, make_service):
    service_id = make_service()
    booking_id = _book(registry, service_id)
    with pytest.raises(bookings.BookingError, match="only after its start time"):
        _do(registry, booking_id, bookings.mark_no_show)
    _do(registry, booking_id, bookings.mark_no_show, now=TOMORROW_TEN + dt.timedelta(minutes=5))
    with new_transaction(registry) as db:
        assert db.get(Booking, booking_id).status == "no_show"
        assert db.scalar(sa.select(AuditEntry.action).order_by(AuditEntry.id.desc())) == (
            "booking.no_show"
        )
        # Its links are used up.
        assert all(link.revoked_at is not None for link in db.scalars(sa.select(BookingLink)))
    assert domain_events(registry)[-1][0] == "booking.no_show"
    assert _reminders(registry, booking_id) == {}


def test_staff_reschedule_moves_the_booking_its_reminders_and_tells_the_customer(
    registry, make_service
):
    service_id = make_service(buffer_after_minutes=30)
    booking_id = _book(registry, service_id)
    later = TOMORROW_TEN + dt.timedelta(minutes=30)  # overlaps its own old buffer: allowed
    _do(registry, booking_id, bookings.reschedule, later)
    with new_transaction(registry) as db:
        booking = db.get(Booking, booking_id)
        assert (booking.starts_at, booking.status, booking.ical_sequence) == (
            later,
            "confirmed",
            1,
        )
        assert booking.blocks_until == later + dt.timedelta(minutes=60)
        entry = db.scalar(sa.select(AuditEntry).order_by(AuditEntry.id.desc()))
        assert entry.action == "booking.reschedule"
        assert entry.summary["to"] == later.isoformat()
        service = db.get(BookingService, service_id)
        starts = {s.start for s in bookings.offered_slots(db, service, now=NOW)}
        # 09:30 (with its 30 minutes after) was blocked by 10:00 and is free now.
        assert TOMORROW_TEN - dt.timedelta(minutes=30) in starts
        assert later not in starts
    kind, payload = domain_events(registry)[-1]
    assert kind == "booking.rescheduled"
    assert payload["previous_starts_at"] == TOMORROW_TEN.isoformat()
    assert payload["starts_at"] == later.isoformat() and payload["by"] == "staff"
    moved = emails(registry, "alice@example.com")[-1]
    assert moved["subject"].startswith("Moved: Haircut, Tuesday 03 March 2026, 10:30")
    _calendar, event = _invite(moved)
    assert (event["DTSTART"].dt, event["SEQUENCE"]) == (later, 1)
    assert _reminders(registry, booking_id)["1h"] == (later - dt.timedelta(hours=1), None)


@pytest.mark.parametrize(
    ("start", "message"),
    [
        (NOW - dt.timedelta(hours=1), "That time has passed"),
        (TOMORROW_TEN, "already at that time"),
        (dt.datetime(2026, 3, 3, 10, 0), "must carry its time zone"),
    ],
)
def test_impossible_reschedules_change_nothing(registry, make_service, start, message):
    service_id = make_service()
    booking_id = _book(registry, service_id)
    with pytest.raises(bookings.BookingError, match=message):
        _do(registry, booking_id, bookings.reschedule, start)
    with new_transaction(registry) as db:
        assert db.get(Booking, booking_id).starts_at == TOMORROW_TEN


def test_a_taken_time_offers_alternatives_and_keeps_the_booking(registry, make_service):
    service_id = make_service()
    booking_id = _book(registry, service_id)
    other = TOMORROW_TEN + dt.timedelta(hours=2)
    _book(registry, service_id, start=other, customer=bookings.Customer(name="Bob"))
    with pytest.raises(bookings.SlotTaken) as taken:
        _do(registry, booking_id, bookings.reschedule, other)
    assert taken.value.alternatives and other not in {a.start for a in taken.value.alternatives}
    # Sunday: no hours at all, so not a slot either.
    with pytest.raises(bookings.SlotTaken):
        _do(registry, booking_id, bookings.reschedule, dt.datetime(2026, 3, 8, 10, tzinfo=dt.UTC))
    with new_transaction(registry) as db:
        booking = db.get(Booking, booking_id)
        assert (booking.status, booking.starts_at) == ("confirmed", TOMORROW_TEN)
    assert domain_events(registry)[-1][0] == "booking.confirmed"


def test_a_wall_time_the_clocks_skip_is_refused(registry, make_service):
    service_id = make_service()
    booking_id = _book(registry, service_id)
    with new_transaction(registry) as db:
        booking = db.get(Booking, booking_id)
        with pytest.raises(bookings.BookingError, match="does not exist in Europe/Berlin"):
            bookings.in_site_zone(db, booking, dt.datetime(2026, 3, 29, 2, 30))
        assert bookings.in_site_zone(db, booking, dt.datetime(2026, 3, 30, 10, 0)) == (
            dt.datetime(2026, 3, 30, 8, 0, tzinfo=dt.UTC)
        )


def test_staff_cancel_sends_the_cancellation_invite(registry, make_service, make_user):
    owner = make_user("owner")
    service_id = make_service()
    booking_id = _book(registry, service_id)
    _do(registry, booking_id, bookings.cancel)
    with pytest.raises(bookings.BookingError, match="cancelled cannot be cancelled"):
        _do(registry, booking_id, bookings.cancel)
    kind, payload = domain_events(registry)[-1]
    assert (kind, payload["by"]) == ("booking.cancelled", "staff")
    cancelled = emails(registry, "alice@example.com")[-1]
    calendar, event = _invite(cancelled)
    assert (calendar["METHOD"], event["STATUS"], event["SEQUENCE"]) == ("CANCEL", "CANCELLED", 1)
    assert "/booking/" not in cancelled["text"]
    # Staff cancelled it themselves: only the "new booking" email went to them.
    assert len(emails(registry, owner["email"])) == 1
    assert _reminders(registry, booking_id) == {}

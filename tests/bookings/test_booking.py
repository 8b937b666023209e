"""Booking a slot: one transaction, never twice, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from asthron.bookings import service as bookings
from asthron.bookings.models import Booking, BookingService
from asthron.db import new_transaction
from tests.bookings.conftest import NOW

TEN = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # 10:00 in Berlin
ALICE = bookings.Customer(name="Alice", email="alice@example.com")


def _service(db, service_id) -> BookingService:
    return db.get(BookingService, service_id)


def test_offered_slots_come_from_the_sites_hours(registry, make_service):
    service_id = make_service()
    with new_transaction(registry) as db:
        slots = bookings.offered_slots(db, _service(db, service_id), now=NOW, limit=3)
    # 08:00 Berlin + 60 minutes' notice: 09:00 Berlin is the first.
    assert [s.start for s in slots] == [
        dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC),
        TEN,
    ]


def test_a_booked_slot_is_no_longer_offered_and_buffers_count(registry, make_service):
    service_id = make_service(buffer_after_minutes=15)
    with new_transaction(registry) as db:
        booking = bookings.book(db, _service(db, service_id), TEN, ALICE, now=NOW)
        assert booking.status == "confirmed"
        assert booking.local_date == dt.date(2026, 3, 2)
    with new_transaction(registry) as db:
        starts = {s.start for s in bookings.offered_slots(db, _service(db, service_id), now=NOW)}
    assert TEN not in starts
    # 10:30 Berlin would start inside 10:00's 15-minute buffer after; 11:00 is free.
    assert TEN + dt.timedelta(minutes=30) not in starts
    assert TEN + dt.timedelta(minutes=60) in starts


def test_the_second_staff_member_takes_the_same_time(registry, make_service):
    service_id = make_service(staff=2)
    with new_transaction(registry) as db:
        first = bookings.book(db, _service(db, service_id), TEN, ALICE, now=NOW)
    with new_transaction(registry) as db:
        second = bookings.book(db, _service(db, service_id), TEN, ALICE, now=NOW)
    assert first.resource_id != second.resource_id
    with new_transaction(registry) as db, pytest.raises(bookings.SlotTaken) as taken:
        bookings.book(db, _service(db, service_id), TEN, ALICE, now=NOW)
    assert taken.value.alternatives[0].start == TEN + dt.timedelta(minutes=30)


def test_approval_makes_a_pending_booking_that_still_blocks(registry, make_service):
    service_id = make_service(requires_approval=True)
    with new_transaction(registry) as db:
        assert bookings.book(db, _service(db, service_id), TEN, ALICE, now=NOW).status == (
            "pending"
        )
    with new_transaction(registry) as db, pytest.raises(bookings.SlotTaken):
        bookings.book(db, _service(db, service_id), TEN, ALICE, now=NOW)


def test_daily_limit(registry, make_service):
    service_id = make_service(daily_limit=1)
    with new_transaction(registry) as db:
        bookings.book(db, _service(db, service_id), TEN, ALICE, now=NOW)
    with new_transaction(registry) as db:
        slots = bookings.offered_slots(db, _service(db, service_id), now=NOW, limit=1)
        # Monday is full: the next slot is Tuesday 09:00 Berlin.
        assert slots[0].start == dt.datetime(2026, 3, 3, 8, 0, tzinfo=dt.UTC)
        with pytest.raises(bookings.SlotTaken):
            bookings.book(db, _service(db, service_id), TEN + dt.timedelta(hours=2), ALICE, now=NOW)


def test_hold_then_confirm_and_an_expired_hold(registry, make_service):
    service_id = make_service()
    with new_transaction(registry) as db:
        held = bookings.hold(db, _service(db, service_id), TEN, now=NOW)
        reference = held.reference
    with new_transaction(registry) as db, pytest.raises(bookings.SlotTaken):
        bookings.hold(db, _service(db, service_id), TEN, now=NOW)  # held by the first
    with new_transaction(registry) as db:
        booking = bookings.confirm(db, reference, ALICE, now=NOW + dt.timedelta(minutes=5))
        assert (booking.status, booking.customer_email) == ("confirmed", "alice@example.com")

    # A hold past its time no longer blocks, and confirming it books again if still free.
    later = TEN + dt.timedelta(hours=3)
    with new_transaction(registry) as db:
        reference = bookings.hold(db, _service(db, service_id), later, now=NOW).reference
    expired = NOW + dt.timedelta(minutes=bookings.HOLD_MINUTES + 1)
    with new_transaction(registry) as db:
        starts = {
            s.start for s in bookings.offered_slots(db, _service(db, service_id), now=expired)
        }
        assert later in starts
    with new_transaction(registry) as db:
        booking = bookings.confirm(db, reference, ALICE, now=expired)
        assert (booking.status, booking.starts_at) == ("confirmed", later)


def test_twenty_visitors_race_for_one_slot(registry, make_service):
    """Twenty threads book the same slot through the service at once: one wins, nineteen are
    told it is taken and offered the next free times."""
    service_id = make_service()
    barrier = threading.Barrier(20)
    results: list = []
    lock = threading.Lock()

    def visitor(index):
        barrier.wait()
        customer = bookings.Customer(name=f"V{index}", email=f"v{index}@example.com")
        try:
            with new_transaction(registry) as db:
                booking = bookings.book(db, _service(db, service_id), TEN, customer, now=NOW)
                outcome = ("booked", booking.reference)
        except bookings.SlotTaken as taken:
            outcome = ("taken", [slot.start for slot in taken.alternatives])
        except Exception as error:
            outcome = ("error", repr(error))
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=visitor, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    kinds = [kind for kind, _ in results]
    assert kinds.count("booked") == 1, results
    assert kinds.count("taken") == 19, results
    for kind, alternatives in results:
        if kind == "taken":
            assert alternatives[0] == TEN + dt.timedelta(minutes=30)
            assert len(alternatives) == bookings.ALTERNATIVES
    with new_transaction(registry) as db:
        count = db.scalar(sa.select(sa.func.count()).select_from(Booking))
    assert count == 1


@pytest.mark.postgresql
def test_the_exclusion_constraint_refuses_overlaps_whoever_writes(registry, make_service, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("the exclusion constraint is PostgreSQL's")
    service_id = make_service()
    with new_transaction(registry) as db:
        booking = bookings.book(db, _service(db, service_id), TEN, ALICE, now=NOW)
        row = {
            c.name: getattr(booking, c.key)
            for c in Booking.__table__.columns
            if c.name not in ("id", "reference")
        }
    row["starts_at"] += dt.timedelta(minutes=15)  # overlapping, written around the service
    row["blocks_from"] += dt.timedelta(minutes=15)
    row["blocks_until"] += dt.timedelta(minutes=15)
    with (
        pytest.raises(sa.exc.IntegrityError, match="ex_bookings_no_overlap"),
        new_transaction(registry) as db,
    ):
        db.add(Booking(reference="manual", **row))
        db.flush()
    # A cancelled booking does not block.
    with new_transaction(registry) as db:
        db.add(Booking(reference="manual", **{**row, "status": "cancelled"}))


def test_a_staff_members_own_hours_overrides_and_holidays(registry, make_service):
    service_id = make_service()
    with new_transaction(registry) as db:
        service = _service(db, service_id)
        resource = bookings.resources_of(db, service)[0]
        resource.working_hours = {"mon": [["14:00", "16:00"]], "tue": [["14:00", "16:00"]]}
        resource.overrides = {"2026-03-03": [["10:00", "11:00"]]}
        resource.holidays = ["2026-03-09"]
    with new_transaction(registry) as db:
        slots = bookings.offered_slots(db, _service(db, service_id), now=NOW)
    berlin = [s.start.astimezone(ZoneInfo("Europe/Berlin")).strftime("%d %H:%M") for s in slots]
    assert berlin[:8] == [
        "02 14:00",
        "02 14:30",
        "02 15:00",
        "02 15:30",
        "03 10:00",
        "03 10:30",
        "10 14:00",  # Monday the 9th is a holiday
        "10 14:30",
    ]


def test_weekly_limit_counts_the_whole_local_week(registry, make_service):
    service_id = make_service(weekly_limit=2)
    with new_transaction(registry) as db:
        bookings.book(db, _service(db, service_id), TEN, ALICE, now=NOW)  # Monday
    with new_transaction(registry) as db:
        bookings.book(db, _service(db, service_id), TEN + dt.timedelta(days=1), ALICE, now=NOW)
    with new_transaction(registry) as db:
        slots = bookings.offered_slots(db, _service(db, service_id), now=NOW, limit=1)
        # The week of Monday 2 March is full: the next slot is Monday 9 March, 09:00 Berlin.
        assert slots[0].start == dt.datetime(2026, 3, 9, 8, 0, tzinfo=dt.UTC)
        # Booking Friday re-reads the whole week under the lock, not only Friday.
        with pytest.raises(bookings.SlotTaken):
            bookings.book(db, _service(db, service_id), TEN + dt.timedelta(days=4), ALICE, now=NOW)

"""Reminders: rows with due times, sent by the periodic task once, never twice, on SQLite and
PostgreSQL; moved by a reschedule, dropped by a cancellation."""

from __future__ import annotations

import datetime as dt
import threading

import sqlalchemy as sa

from asthron.audit.service import Actor
from asthron.bookings import reminders
from asthron.bookings import service as bookings
from asthron.bookings.models import Booking, BookingReminder, BookingService
from asthron.bookings.tasks import send_booking_reminders
from asthron.db import new_transaction, utcnow
from asthron.sites.models import Site
from tests.bookings.conftest import NOW, emails

TOMORROW_TEN = dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC)


def _book(registry, service_id, start, email="alice@example.com", now=NOW) -> int:
    with new_transaction(registry) as db:
        service = db.get(BookingService, service_id)
        customer = bookings.Customer(name="Alice", email=email)
        return bookings.book(db, service, start, customer, now=now).id


def _reminder_emails(registry) -> list[dict]:
    return [e for e in emails(registry) if e["subject"].startswith("Reminder:")]


def _send(registry, now) -> int:
    with new_transaction(registry) as db:
        return reminders.send_due_reminders(db, now)


def test_each_reminder_is_sent_once_when_due(registry, make_service):
    service_id = make_service()
    booking_id = _book(registry, service_id, TOMORROW_TEN)
    assert _send(registry, NOW) == 0  # nothing due yet
    day_before = TOMORROW_TEN - dt.timedelta(hours=24)
    assert _send(registry, day_before) == 1
    assert _send(registry, day_before + dt.timedelta(minutes=1)) == 0  # a second run: nothing
    hour_before = TOMORROW_TEN - dt.timedelta(minutes=59)
    assert _send(registry, hour_before) == 1
    assert _send(registry, hour_before) == 0
    sent = _reminder_emails(registry)
    assert len(sent) == 2
    assert sent[0]["to"] == "alice@example.com"
    assert "Tuesday 03 March 2026, 10:00 (Europe/Berlin)" in sent[0]["subject"]
    # Each reminder carries a link of its own to move or cancel.
    assert "/booking/" in sent[0]["text"] and "/booking/" in sent[1]["text"]
    with new_transaction(registry) as db:
        rows = db.scalars(
            sa.select(BookingReminder).where(BookingReminder.booking_id == booking_id)
        )
        assert {r.kind: r.sent_at for r in rows} == {"24h": day_before, "1h": hour_before}


def test_a_run_that_read_the_same_rows_claims_none_of_them(registry, make_service):
    service_id = make_service()
    for hour in range(3):
        _book(registry, service_id, TOMORROW_TEN + dt.timedelta(hours=hour))
    due_at = TOMORROW_TEN + dt.timedelta(hours=2) - dt.timedelta(hours=24)
    with new_transaction(registry) as late:
        # The late run has seen the due rows (as if it read them at the same moment)…
        seen = list(
            late.scalars(
                sa.select(BookingReminder.id).where(
                    BookingReminder.sent_at.is_(None), BookingReminder.due_at <= due_at
                )
            )
        )
        assert len(seen) == 3
        # …but the first run claims and commits first.
        assert _send(registry, due_at) == 3
        assert not any(reminders._claim(late, reminder_id, due_at) for reminder_id in seen)
    assert len(_reminder_emails(registry)) == 3


def test_concurrent_runs_send_each_reminder_once(registry, make_service):
    service_id = make_service()
    for hour in range(4):
        _book(registry, service_id, TOMORROW_TEN + dt.timedelta(hours=hour))
    due = TOMORROW_TEN + dt.timedelta(hours=3) - dt.timedelta(hours=24)
    start = threading.Barrier(4)
    counts, failures = [], []

    def run():
        try:
            start.wait()
            counts.append(_send(registry, due))
        except Exception as error:  # reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert sum(counts) == 4
    assert len(_reminder_emails(registry)) == 4


def test_reschedule_moves_reminders_and_cancel_drops_them(registry, make_service):
    service_id = make_service()
    booking_id = _book(registry, service_id, TOMORROW_TEN)
    day_before = TOMORROW_TEN - dt.timedelta(hours=24)
    assert _send(registry, day_before) == 1
    later = TOMORROW_TEN + dt.timedelta(days=1)
    with new_transaction(registry) as db:
        bookings.reschedule(db, Actor.cli(), db.get(Booking, booking_id), later, now=day_before)
    with new_transaction(registry) as db:
        rows = db.scalars(
            sa.select(BookingReminder).where(BookingReminder.booking_id == booking_id)
        )
        # The 24-hour reminder was sent for the old time; the new time gets it again.
        assert {r.kind: (r.due_at, r.sent_at) for r in rows} == {
            "24h": (later - dt.timedelta(hours=24), None),
            "1h": (later - dt.timedelta(hours=1), None),
        }
    with new_transaction(registry) as db:
        bookings.cancel(db, Actor.cli(), db.get(Booking, booking_id), now=day_before)
    assert _send(registry, later) == 0
    with new_transaction(registry) as db:
        assert not list(db.scalars(sa.select(BookingReminder)))
    assert len(_reminder_emails(registry)) == 1


def test_the_periodic_task_sends_what_is_due_now(registry, make_service):
    service_id = make_service(min_notice_minutes=0)
    with new_transaction(registry) as db:
        site = db.get(Site, db.get(BookingService, service_id).site_id)
        site.business_hours = {
            d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        }
    now = utcnow()
    with new_transaction(registry) as db:
        service = db.get(BookingService, service_id)
        start = bookings.offered_slots(db, service, now=now, start=now + dt.timedelta(hours=3))[
            0
        ].start
    booking_id = _book(registry, service_id, start, now=now)
    with new_transaction(registry) as db:
        kinds = set(
            db.scalars(
                sa.select(BookingReminder.kind).where(BookingReminder.booking_id == booking_id)
            )
        )
        assert kinds == {"1h"}  # 3 hours ahead: too late for the 24-hour one
        db.execute(sa.update(BookingReminder).values(due_at=now - dt.timedelta(minutes=1)))
    assert send_booking_reminders.call_local() == 1
    assert send_booking_reminders.call_local() == 0
    assert len(_reminder_emails(registry)) == 1

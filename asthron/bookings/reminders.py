"""Reminder emails before a booking, stored as rows and sent by a periodic task, never twice.

A confirmed booking gets one ``BookingReminder`` row per entry of ``REMINDERS`` whose due
time is still ahead (a booking made 3 hours ahead gets no 24-hour reminder). A reschedule
moves the rows' due times (and makes them unsent again); a cancellation, decline or no-show
deletes the unsent ones.

Sending claims each row with ``UPDATE … SET sent_at = now WHERE id = … AND sent_at IS NULL``
and queues the email (outbox) in the same transaction. Two runs at once cannot both claim a
row: on PostgreSQL the second UPDATE waits for the first's row lock and then finds
``sent_at`` set; on SQLite writes are serialised. So one reminder is one outbox email, and
the outbox delivers it (at least once, with one Message-ID).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import zope.sqlalchemy
from sqlalchemy.orm import Session

from asthron.bookings import notices
from asthron.bookings.models import Booking, BookingReminder

# kind → how long before the start; the defaults for every service.
REMINDERS: dict[str, dt.timedelta] = {
    "24h": dt.timedelta(hours=24),
    "1h": dt.timedelta(hours=1),
}
BATCH = 200


def schedule_reminders(db: Session, booking: Booking, now: dt.datetime) -> None:
    """The booking's reminders for its current time: new due times, none in the past."""
    db.flush()
    existing = {
        reminder.kind: reminder
        for reminder in db.scalars(
            sa.select(BookingReminder).where(BookingReminder.booking_id == booking.id)
        )
    }
    for kind, before in REMINDERS.items():
        due = booking.starts_at - before
        reminder = existing.get(kind)
        if due <= now:
            # Too late for this one: a reminder a day ahead, sent an hour ahead, misleads.
            if reminder is not None and reminder.sent_at is None:
                db.delete(reminder)
            continue
        if reminder is None:
            db.add(BookingReminder(booking_id=booking.id, kind=kind, due_at=due))
        else:
            reminder.due_at = due
            reminder.sent_at = None
    db.flush()


def cancel_reminders(db: Session, booking: Booking) -> None:
    db.execute(
        sa.delete(BookingReminder).where(
            BookingReminder.booking_id == booking.id, BookingReminder.sent_at.is_(None)
        )
    )
    zope.sqlalchemy.mark_changed(db)


def _claim(db: Session, reminder_id: int, now: dt.datetime) -> bool:
    claimed = db.execute(
        sa.update(BookingReminder)
        .where(BookingReminder.id == reminder_id, BookingReminder.sent_at.is_(None))
        .values(sent_at=now)
    )
    zope.sqlalchemy.mark_changed(db)
    return claimed.rowcount == 1


def send_due_reminders(db: Session, now: dt.datetime, limit: int = BATCH) -> int:
    """Claim and queue the reminders that are due; returns how many this run sent."""
    due = db.execute(
        sa.select(BookingReminder.id, BookingReminder.booking_id)
        .join(Booking, Booking.id == BookingReminder.booking_id)
        .where(
            BookingReminder.sent_at.is_(None),
            BookingReminder.due_at <= now,
            Booking.status == "confirmed",
            Booking.starts_at > now,
        )
        .order_by(BookingReminder.due_at, BookingReminder.id)
        .limit(limit)
    ).all()
    sent = 0
    for reminder_id, booking_id in due:
        if not _claim(db, reminder_id, now):
            continue  # another run has it
        booking = db.get(Booking, booking_id)
        notices.customer_email(db, booking, "reminder", now=now)
        sent += 1
    return sent

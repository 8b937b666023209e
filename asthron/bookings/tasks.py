"""Background work: writing bookings into calendars (outbox: must not be lost) and reading
calendars' busy times every few minutes, and sending the reminders that are due."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from huey import crontab
from sqlalchemy.orm import Session

from asthron.bookings import calendars, reminders
from asthron.bookings.models import Booking, CalendarConnection
from asthron.db import utcnow
from asthron.jobs.queue import app_task
from asthron.jobs.service import JobContext, add_outbox_item, outbox_handler

log = logging.getLogger(__name__)
CALENDAR_WRITE_KIND = "bookings.calendar_event"


def queue_calendar_write(db: Session, booking: Booking) -> None:
    """In the booking's transaction: its event is written after commit, retried until done."""
    has_calendar = db.scalar(
        sa.select(CalendarConnection.id).where(
            CalendarConnection.resource_id == booking.resource_id,
            CalendarConnection.write_bookings.is_(True),
        )
    )
    if has_calendar is not None:
        db.flush()
        add_outbox_item(db, CALENDAR_WRITE_KIND, {"booking_id": booking.id})


@outbox_handler(CALENDAR_WRITE_KIND)
def write_calendar_event(ctx: JobContext, payload: dict) -> None:
    # Idempotent: the event's UID (and URL) is the booking's, so a retry overwrites it.
    booking = ctx.db.get(Booking, payload["booking_id"])
    if booking is not None:
        calendars.write_booking(ctx.db, booking, ctx.secret_box)


@app_task(periodic=crontab(minute="*/5"))
def sync_calendars(db: Session) -> None:
    box = db.info["secret_box"]
    for connection in db.scalars(sa.select(CalendarConnection)):
        try:
            with db.begin_nested():
                calendars.sync_busy(db, connection, box)
        except Exception:
            # One unreachable calendar never stops the others; its last_error says why.
            log.warning("calendar %s could not be read", connection.id, exc_info=True)


@app_task(periodic=crontab(minute="*"))
def send_booking_reminders(db: Session) -> int:
    """Every minute: the reminders that are due (claimed one by one, so never sent twice)."""
    return reminders.send_due_reminders(db, utcnow())

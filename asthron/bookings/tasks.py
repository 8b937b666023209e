"""Background work: making calendars show bookings as they are (outbox: must not be lost) and
reading calendars' busy times every few minutes."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from huey import crontab
from sqlalchemy.orm import Session

from asthron.bookings import calendars
from asthron.bookings.models import Booking, CalendarConnection
from asthron.jobs.queue import app_task
from asthron.jobs.service import JobContext, add_outbox_item, outbox_handler

log = logging.getLogger(__name__)
CALENDAR_WRITE_KIND = "bookings.calendar_event"


def queue_calendar_write(db: Session, booking: Booking) -> None:
    """In the transaction that changed the booking (made, confirmed, moved, cancelled): after
    commit its calendar event is made to match it (created, updated or deleted), retried until
    done. Call it after every change; a duplicate does no harm."""
    connection = db.scalar(
        sa.select(CalendarConnection).where(CalendarConnection.resource_id == booking.resource_id)
    )
    if connection is None:
        return
    if connection.write_bookings or booking.calendar_event_uid is not None:
        db.flush()
        add_outbox_item(db, CALENDAR_WRITE_KIND, {"booking_id": booking.id})


def calendar_event_follows(db: Session, event) -> None:
    """Domain event subscriber (booking.rescheduled, booking.cancelled…): the booking's
    calendar event follows it."""
    booking = db.get(Booking, event.payload["booking_id"])
    if booking is not None:
        queue_calendar_write(db, booking)


@outbox_handler(CALENDAR_WRITE_KIND)
def write_calendar_event(ctx: JobContext, payload: dict) -> None:
    # Idempotent: the event's name derives from the booking, and its state is read afresh.
    booking = ctx.db.get(Booking, payload["booking_id"])
    if booking is not None:
        calendars.write_booking(ctx.db, booking, ctx.secret_box)


def sync_all(db: Session) -> None:
    box = db.info["secret_box"]
    for connection in db.scalars(sa.select(CalendarConnection).order_by(CalendarConnection.id)):
        if connection.broken_at is not None:
            continue  # only reconnecting helps; the person has been told
        try:
            with db.begin_nested():
                calendars.sync_busy(db, connection, box)
        except Exception:
            # One calendar never stops the others; its read errors are on the connection.
            log.warning("calendar %s could not be synced", connection.id, exc_info=True)


@app_task(periodic=crontab(minute="*/5"))
def sync_calendars(db: Session) -> None:
    sync_all(db)

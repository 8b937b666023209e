"""External calendars over CalDAV: busy times in, bookings out.

Busy times are read with a time-range search that expands recurring events; transparent
events ("free" in the calendar) are ignored; an all-day event blocks its whole local day in
the business's time zone. They are stored as ``ExternalBusy`` rows (replaced on each sync), so
computing slots never waits for a calendar server. Events written for our own bookings carry
the UID ``booking-<reference>@asthron`` and are skipped when reading: local bookings are the
truth for those.

The calendar password is stored Fernet-encrypted (``asthron.security.crypto.SecretBox``).
caldav is pinned below 2 (setup.cfg says why).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import caldav
import icalendar
import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.bookings.models import (
    Booking,
    BookingResource,
    BookingService,
    CalendarConnection,
    ExternalBusy,
)
from asthron.db import utcnow
from asthron.security.crypto import SecretBox
from asthron.sites.hours import zone
from asthron.sites.models import Site

UID_SUFFIX = "@asthron"
TIMEOUT_SECONDS = 20


def booking_uid(booking: Booking) -> str:
    return f"booking-{booking.reference}{UID_SUFFIX}"


def connect(connection: CalendarConnection, box: SecretBox) -> caldav.Calendar:
    password = box.decrypt(connection.password_encrypted) if connection.password_encrypted else ""
    client = caldav.DAVClient(
        url=connection.calendar_url,
        username=connection.username or None,
        password=password or None,
        timeout=TIMEOUT_SECONDS,
    )
    return client.calendar(url=connection.calendar_url)


def set_password(connection: CalendarConnection, box: SecretBox, password: str) -> None:
    connection.password_encrypted = box.encrypt(password) if password else None


def _as_instant(value, tz: ZoneInfo) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # floating time: the business's wall clock
            value = value.replace(tzinfo=tz)
        return value.astimezone(dt.UTC)
    # A date: local midnight of that day.
    return dt.datetime.combine(value, dt.time(), tzinfo=tz).astimezone(dt.UTC)


def busy_intervals(
    calendar: caldav.Calendar, start: dt.datetime, end: dt.datetime, tz: ZoneInfo
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Busy [start, end) intervals of the calendar's events meeting [start, end)."""
    found = []
    for event in calendar.search(start=start, end=end, event=True, expand=True):
        for component in event.icalendar_instance.walk("VEVENT"):
            if str(component.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
                continue
            if str(component.get("STATUS", "")).upper() == "CANCELLED":
                continue
            if str(component.get("UID", "")).endswith(UID_SUFFIX):
                continue
            begins = component.decoded("DTSTART")
            if "DTEND" in component:
                ends = component.decoded("DTEND")
            elif "DURATION" in component:
                ends = begins + component.decoded("DURATION")
            elif isinstance(begins, dt.datetime):
                ends = begins  # an instant takes no time
            else:
                ends = begins + dt.timedelta(days=1)  # an all-day event: that day
            low, high = _as_instant(begins, tz), _as_instant(ends, tz)
            if low < high and low < end and start < high:
                found.append((low, high))
    return sorted(found)


def sync_busy(
    db: Session,
    connection: CalendarConnection,
    box: SecretBox,
    *,
    now: dt.datetime | None = None,
    days: int = 90,
) -> int:
    """Replace the resource's stored busy times with the calendar's, ``days`` ahead."""
    now = now or utcnow()
    resource = db.get(BookingResource, connection.resource_id)
    site = db.get(Site, resource.site_id)
    try:
        intervals = busy_intervals(
            connect(connection, box), now, now + dt.timedelta(days=days), zone(site.timezone)
        )
    except Exception as error:
        connection.last_error = f"{type(error).__name__}: {error}"[:500]
        raise
    db.execute(sa.delete(ExternalBusy).where(ExternalBusy.resource_id == resource.id))
    db.add_all(ExternalBusy(resource_id=resource.id, starts_at=s, ends_at=e) for s, e in intervals)
    connection.synced_at = now
    connection.last_error = ""
    db.flush()
    return len(intervals)


def booking_event(booking: Booking, service: BookingService, stamp: dt.datetime) -> str:
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Asthron//bookings//EN")
    calendar.add("version", "2.0")
    event = icalendar.Event()
    event.add("uid", booking_uid(booking))
    event.add("dtstamp", stamp)
    event.add("dtstart", booking.starts_at)
    event.add("dtend", booking.ends_at)
    event.add("summary", f"{service.name}: {booking.customer_name or 'booking'}")
    status = {"confirmed": "CONFIRMED", "pending": "TENTATIVE"}.get(booking.status, "CANCELLED")
    event.add("status", status)
    if booking.customer_email:
        event.add("description", f"{booking.customer_email}\n{booking.notes}".strip())
    calendar.add_component(event)
    return calendar.to_ical().decode()


def write_booking(
    db: Session, booking: Booking, box: SecretBox, *, now: dt.datetime | None = None
) -> str | None:
    """Create or update the booking's event in its resource's calendar (idempotent: the UID,
    and so the event's URL, is the booking's). Returns the UID, or None without a calendar."""
    connection = db.scalar(
        sa.select(CalendarConnection).where(
            CalendarConnection.resource_id == booking.resource_id,
            CalendarConnection.write_bookings.is_(True),
        )
    )
    if connection is None:
        return None
    service = db.get(BookingService, booking.service_id)
    calendar = connect(connection, box)
    calendar.save_event(booking_event(booking, service, now or utcnow()))
    booking.calendar_event_uid = booking_uid(booking)
    return booking.calendar_event_uid

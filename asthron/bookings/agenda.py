"""The staff's views of the bookings: the filtered list and the day/week calendar grid.

Both read dates as the business's local dates (``Booking.local_date``, the site's zone) and
show times on the business's wall clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.bookings.forms import BookingFilters, CalendarQuery
from asthron.bookings.models import Booking, BookingResource, BookingService
from asthron.db import utcnow
from asthron.sites.hours import zone
from asthron.sites.models import Site

LIST_LIMIT = 500
OPEN = ("pending", "confirmed")
# What the calendar shows: the time is (or was) taken.
ON_CALENDAR = ("pending", "confirmed", "no_show")
FIRST_HOUR, LAST_HOUR = 8, 18  # the grid widens when bookings lie outside


@dataclass(frozen=True)
class ListedBooking:
    booking: Booking
    service_name: str
    resource_name: str
    timezone: str

    @property
    def local_start(self) -> dt.datetime:
        return self.booking.starts_at.astimezone(zone(self.timezone))


def list_bookings(
    db: Session, filters: BookingFilters, *, now: dt.datetime | None = None
) -> list[ListedBooking]:
    """Bookings matching the filters, soonest first. Without dates, "open" means the open
    bookings that have not ended; with dates, every booking of those local days."""
    now = now or utcnow()
    stmt = (
        sa.select(Booking, BookingService.name, BookingResource.name, Site.timezone)
        .join(BookingService, BookingService.id == Booking.service_id)
        .join(BookingResource, BookingResource.id == Booking.resource_id)
        .join(Site, Site.id == BookingService.site_id)
    )
    if filters.status == "open":
        stmt = stmt.where(Booking.status.in_(OPEN))
        if filters.since is None and filters.until is None:
            stmt = stmt.where(Booking.ends_at > now)
    else:
        stmt = stmt.where(Booking.status == filters.status)
    if filters.service is not None:
        stmt = stmt.where(Booking.service_id == filters.service)
    if filters.resource is not None:
        stmt = stmt.where(Booking.resource_id == filters.resource)
    if filters.since is not None:
        stmt = stmt.where(Booking.local_date >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(Booking.local_date <= filters.until)
    stmt = stmt.order_by(Booking.starts_at, Booking.id).limit(LIST_LIMIT)
    return [ListedBooking(*row) for row in db.execute(stmt)]


def service_choices(db: Session) -> list[tuple[int, str]]:
    return list(db.execute(sa.select(BookingService.id, BookingService.name).order_by("id")))


def resource_choices(db: Session) -> list[tuple[int, str]]:
    return list(db.execute(sa.select(BookingResource.id, BookingResource.name).order_by("id")))


# -- the calendar --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    booking_id: int
    label: str  # "09:30–10:00 Haircut · Alice"
    status: str
    resource_name: str


@dataclass
class Grid:
    view: str
    day: dt.date
    timezone: str
    columns: list[str]  # staff members (day) or days (week)
    hours: list[tuple[str, list[list[Entry]]]]  # ("09:00", one list of entries per column)
    previous: dt.date
    following: dt.date
    resource_id: int | None
    empty: bool = True


def calendar(db: Session, query: CalendarQuery, *, today: dt.date | None = None) -> Grid | None:
    """The day (one column per staff member) or week (one column per day, Monday first) of
    ``query.date``; None when there is nobody to show."""
    resource = db.get(BookingResource, query.resource) if query.resource else None
    if resource is None:
        resource = db.scalar(
            sa.select(BookingResource)
            .where(BookingResource.active.is_(True))
            .order_by(BookingResource.id)
        )
        if resource is None:
            return None
        shown = list(
            db.scalars(
                sa.select(BookingResource)
                .where(
                    BookingResource.site_id == resource.site_id,
                    BookingResource.active.is_(True),
                )
                .order_by(BookingResource.id)
            )
        )
        resource_id = None
    else:
        shown, resource_id = [resource], resource.id
    site = db.get(Site, resource.site_id)
    tz = zone(site.timezone)
    day = query.date or today or utcnow().astimezone(tz).date()
    if query.view == "week":
        first = day - dt.timedelta(days=day.weekday())
        days = [first + dt.timedelta(days=n) for n in range(7)]
        columns = [d.strftime("%a %d %b") for d in days]
        step = dt.timedelta(days=7)
    else:
        days = [day]
        columns = [r.name for r in shown]
        step = dt.timedelta(days=1)
    names = {r.id: r.name for r in shown}
    rows = db.execute(
        sa.select(Booking, BookingService.name)
        .join(BookingService, BookingService.id == Booking.service_id)
        .where(
            Booking.resource_id.in_(list(names)),
            Booking.local_date >= days[0],
            Booking.local_date <= days[-1],
            Booking.status.in_(ON_CALENDAR),
        )
        .order_by(Booking.starts_at, Booking.id)
    ).all()
    placed: dict[tuple[int, int], list[Entry]] = {}
    first_hour, last_hour = FIRST_HOUR, LAST_HOUR
    for booking, service_name in rows:
        start = booking.starts_at.astimezone(tz)
        end = booking.ends_at.astimezone(tz)
        if query.view == "week":
            column = (start.date() - days[0]).days
        else:
            column = list(names).index(booking.resource_id)
        if not 0 <= column < len(columns):
            continue
        first_hour = min(first_hour, start.hour)
        last_hour = max(last_hour, end.hour + (1 if end.minute else 0), start.hour + 1)
        who = booking.customer_name or booking.customer_email or booking.reference[:8]
        label = f"{start:%H:%M}–{end:%H:%M} {service_name} · {who}"
        placed.setdefault((start.hour, column), []).append(
            Entry(booking.id, label, booking.status, names[booking.resource_id])
        )
    hours = [
        (f"{hour:02d}:00", [placed.get((hour, column), []) for column in range(len(columns))])
        for hour in range(first_hour, min(last_hour, 24))
    ]
    return Grid(
        view=query.view,
        day=day,
        timezone=site.timezone,
        columns=columns,
        hours=hours,
        previous=day - step,
        following=day + step,
        resource_id=resource_id,
        empty=not rows,
    )

"""Booking logic: free slots from the database, and booking a slot without double booking.

A booking is reserved in one transaction: take the write lock, check the slot is still free
(local bookings, external busy times, the daily limit), insert. The lock is

- on SQLite, the database's single write lock, taken up front (``BEGIN IMMEDIATE``), so the
  check and the insert of two visitors can never interleave;
- on PostgreSQL, the rows of the staff members/resources concerned (``FOR UPDATE``), and under
  it the exclusion constraint ``ex_bookings_no_overlap`` (btree_gist over ``tstzrange``),
  which refuses an overlapping booking whatever wrote it.

A visitor who loses the race gets ``SlotTaken`` with the next free slots. Holds (``hold`` then
``confirm``) keep a slot for ``HOLD_MINUTES`` while the form is filled in.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
import zope.sqlalchemy
from sqlalchemy.orm import Session

from asthron import audit
from asthron.audit.service import Actor
from asthron.bookings import calendars
from asthron.bookings.availability import Rules, Schedule, Slot, free_slots
from asthron.bookings.models import (
    NO_OVERLAP_CONSTRAINT,
    Booking,
    BookingResource,
    BookingService,
    BookingServiceResource,
    CalendarConnection,
    ExternalBusy,
)
from asthron.db import utcnow
from asthron.sites.hours import zone
from asthron.sites.models import Site

HOLD_MINUTES = 10
# Bookings read around a range: a whole week either side, for the weekly limit (and a day for
# ranges past midnight and time zones).
WEEK_MARGIN_DAYS = 8
ALTERNATIVES = 5


class BookingError(Exception):
    """A booking request that cannot be carried out; the message is fit to show."""


class ServiceNotFound(BookingError):
    pass


class SlotTaken(BookingError):
    """Someone else has the slot (or it is no longer offered)."""

    def __init__(self, alternatives: list[OfferedSlot]):
        super().__init__("That time has just been taken. Please pick another one.")
        self.alternatives = alternatives


class HoldExpired(BookingError):
    pass


class CalendarUnavailable(BookingError):
    """The staff member's calendar could not be checked just now: nothing was booked."""

    def __init__(self):
        super().__init__(
            "We could not check the calendar just now, so nothing was booked. "
            "Please try again in a minute."
        )


@dataclass(frozen=True)
class OfferedSlot:
    start: dt.datetime  # UTC
    end: dt.datetime
    resource_ids: tuple[int, ...]  # who is free then, in the order they are assigned


@dataclass(frozen=True)
class Customer:
    name: str = ""
    email: str | None = None
    phone: str | None = None
    notes: str = ""


# -- reading -----------------------------------------------------------------------------------


def rules_for(service: BookingService) -> Rules:
    minutes = dt.timedelta(minutes=1)
    return Rules(
        duration=service.duration_minutes * minutes,
        interval=service.interval_minutes * minutes,
        buffer_before=service.buffer_before_minutes * minutes,
        buffer_after=service.buffer_after_minutes * minutes,
        min_notice=service.min_notice_minutes * minutes,
        window=dt.timedelta(days=service.window_days),
        daily_limit=service.daily_limit,
        weekly_limit=service.weekly_limit,
    )


def schedule_for(resource: BookingResource, site: Site) -> Schedule:
    """The resource's own hours, or else the site's business hours, in the site's zone."""
    week = resource.working_hours if resource.working_hours is not None else site.business_hours
    holidays = resource.holidays if resource.holidays is not None else site.holidays
    return Schedule.from_config(site.timezone, week or {}, resource.overrides or {}, holidays)


def get_service(db: Session, site_id: int, slug: str) -> BookingService:
    service = db.scalar(
        sa.select(BookingService).where(
            BookingService.site_id == site_id,
            BookingService.slug == slug,
            BookingService.active.is_(True),
        )
    )
    if service is None:
        raise ServiceNotFound("No such service.")
    return service


def resources_of(db: Session, service: BookingService) -> list[BookingResource]:
    return list(
        db.scalars(
            sa.select(BookingResource)
            .join(BookingServiceResource, BookingServiceResource.resource_id == BookingResource.id)
            .where(
                BookingServiceResource.service_id == service.id,
                BookingResource.active.is_(True),
            )
            .order_by(BookingResource.id)
        )
    )


def _blocking(now: dt.datetime):
    return sa.or_(
        Booking.status.in_(("pending", "confirmed")),
        sa.and_(Booking.status == "held", Booking.hold_expires_at > now),
    )


def busy_times(
    db: Session, resource_ids: list[int], start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> tuple[dict[int, list], dict[int, dict[dt.date, int]]]:
    """Per resource: busy intervals (bookings with their buffers, external calendar events)
    meeting [start, end), and blocking bookings per local date of every week concerned
    (a weekly limit counts the whole week, however narrow the range asked)."""
    busy: dict[int, list] = defaultdict(list)
    counts: dict[int, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    rows = db.execute(
        sa.select(
            Booking.resource_id, Booking.blocks_from, Booking.blocks_until, Booking.local_date
        ).where(
            Booking.resource_id.in_(resource_ids),
            _blocking(now),
            Booking.blocks_until > start - dt.timedelta(days=WEEK_MARGIN_DAYS),
            Booking.blocks_from < end + dt.timedelta(days=WEEK_MARGIN_DAYS),
        )
    )
    for resource_id, blocks_from, blocks_until, local_date in rows:
        busy[resource_id].append((blocks_from, blocks_until))
        counts[resource_id][local_date] += 1
    rows = db.execute(
        sa.select(ExternalBusy.resource_id, ExternalBusy.starts_at, ExternalBusy.ends_at).where(
            ExternalBusy.resource_id.in_(resource_ids),
            ExternalBusy.ends_at > start,
            ExternalBusy.starts_at < end + dt.timedelta(days=1),
        )
    )
    for resource_id, starts_at, ends_at in rows:
        busy[resource_id].append((starts_at, ends_at))
    # A calendar we could not read (last time), or whose grant was revoked, hides whatever
    # it holds: its resource is busy throughout, never falsely free.
    for connection in db.scalars(
        sa.select(CalendarConnection).where(CalendarConnection.resource_id.in_(resource_ids))
    ):
        if not connection.readable:
            busy[connection.resource_id].append(
                (start - dt.timedelta(days=1), end + dt.timedelta(days=2))
            )
    return busy, counts


def offered_slots(
    db: Session,
    service: BookingService,
    *,
    now: dt.datetime | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int | None = None,
    fresh: FreshBusy | None = None,
) -> list[OfferedSlot]:
    """The service's free slots: a time is offered when any of its staff/resources is free.
    ``fresh``: calendar busy times just read (``read_fresh_busy``), counted besides the
    stored ones; a resource whose calendar could not be read then is not free at all."""
    now = now or utcnow()
    site = db.get(Site, service.site_id)
    resources = resources_of(db, service)
    if fresh is not None:
        resources = [r for r in resources if r.id not in fresh.unreadable]
    if not resources:
        return []
    rules = rules_for(service)
    horizon = now + rules.window + dt.timedelta(minutes=service.duration_minutes)
    busy, counts = busy_times(db, [r.id for r in resources], start or now, end or horizon, now)
    if fresh is not None:
        for resource_id, intervals in fresh.busy.items():
            busy[resource_id].extend(intervals)
    by_start: dict[Slot, list[int]] = defaultdict(list)
    for resource in resources:
        for slot in free_slots(
            schedule_for(resource, site),
            rules,
            now=now,
            busy=busy.get(resource.id, ()),
            day_counts=counts.get(resource.id),
            start=start,
            end=end,
        ):
            by_start[slot].append(resource.id)
    offered = [OfferedSlot(s.start, s.end, tuple(ids)) for s, ids in sorted(by_start.items())]
    return offered[:limit] if limit is not None else offered


# -- booking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FreshBusy:
    busy: dict[int, list]
    unreadable: frozenset[int]


def read_fresh_busy(
    db: Session, service: BookingService, start: dt.datetime, resource_ids=None
) -> FreshBusy:
    """Read the calendars of the service's staff/resources now, uncached, around a slot that
    starts at ``start`` (buffers included). Done before the booking's lock is taken: the
    network is slow, and the lock is the database's."""
    ids = resource_ids or [r.id for r in resources_of(db, service)]
    begins = start - dt.timedelta(minutes=service.buffer_before_minutes)
    ends = start + dt.timedelta(minutes=service.duration_minutes + service.buffer_after_minutes)
    busy, unreadable = calendars.fresh_busy(db, ids, begins, ends)
    return FreshBusy(busy, frozenset(unreadable))


def _lock_resources(db: Session, resource_ids: list[int]) -> None:
    """Serialise the busy check and the insert with every other booking of these resources."""
    connection = db.connection()
    if connection.dialect.name == "sqlite":
        # pysqlite opens a transaction only before the first INSERT/UPDATE/DELETE. If none is
        # open, open one that holds the write lock from the start; if one is open, a write has
        # happened in it, so it already holds the write lock.
        if not connection.connection.driver_connection.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        return
    db.execute(
        sa.select(BookingResource.id)
        .where(BookingResource.id.in_(resource_ids))
        .order_by(BookingResource.id)
        .with_for_update()
    )


def _expire_holds(db: Session, resource_ids: list[int], now: dt.datetime) -> None:
    # An expired hold still sits in the exclusion constraint's range until it is marked so.
    db.execute(
        sa.update(Booking)
        .where(
            Booking.resource_id.in_(resource_ids),
            Booking.status == "held",
            Booking.hold_expires_at <= now,
        )
        .values(status="expired", updated_at=now)
    )
    zope.sqlalchemy.mark_changed(db)


def _reserve(
    db: Session,
    service: BookingService,
    start: dt.datetime,
    customer: Customer,
    *,
    status: str,
    now: dt.datetime,
    exclude_booking_id: int | None = None,
    fresh: FreshBusy | None = None,
) -> Booking:
    if start.tzinfo is None:
        raise BookingError("The time must carry its time zone.")
    if fresh is None:
        fresh = read_fresh_busy(db, service, start)
    resources = resources_of(db, service)
    ids = [r.id for r in resources]
    _lock_resources(db, ids)
    _expire_holds(db, ids, now)
    duration = dt.timedelta(minutes=service.duration_minutes)
    wanted = Slot(start.astimezone(dt.UTC), start.astimezone(dt.UTC) + duration)
    # Read under the lock: the slot as it is now, not as the visitor saw it, with the
    # calendars as they were just read.
    offered = offered_slots(db, service, now=now, start=wanted.start, end=wanted.end, fresh=fresh)
    match = next((o for o in offered if o.start == wanted.start), None)
    if match is None:
        if fresh.unreadable and any(
            o.start == wanted.start
            for o in offered_slots(db, service, now=now, start=wanted.start, end=wanted.end)
        ):
            raise CalendarUnavailable()
        raise SlotTaken(offered_slots(db, service, now=now, start=start, limit=ALTERNATIVES))
    site = db.get(Site, service.site_id)
    booking = Booking(
        reference=secrets.token_urlsafe(16),
        service_id=service.id,
        resource_id=match.resource_ids[0],
        status=status,
        starts_at=wanted.start,
        ends_at=wanted.end,
        blocks_from=wanted.start - dt.timedelta(minutes=service.buffer_before_minutes),
        blocks_until=wanted.end + dt.timedelta(minutes=service.buffer_after_minutes),
        local_date=wanted.start.astimezone(zone(site.timezone)).date(),
        hold_expires_at=now + dt.timedelta(minutes=HOLD_MINUTES) if status == "held" else None,
        customer_name=customer.name,
        customer_email=customer.email,
        customer_phone=customer.phone,
        notes=customer.notes,
    )
    try:
        with db.begin_nested():
            db.add(booking)
    except sa.exc.IntegrityError as error:
        # Only another writer that bypassed the lock can get here; the constraint refuses it.
        if NO_OVERLAP_CONSTRAINT not in str(error.orig):
            raise
        raise SlotTaken(
            offered_slots(db, service, now=now, start=start, limit=ALTERNATIVES)
        ) from None
    return booking


def book(
    db: Session,
    service: BookingService,
    start: dt.datetime,
    customer: Customer,
    *,
    now: dt.datetime | None = None,
) -> Booking:
    """Book ``start`` in one transaction: confirmed, or pending when the service requires the
    business's approval. Raises ``SlotTaken`` (with alternatives) when it is no longer free."""
    status = "pending" if service.requires_approval else "confirmed"
    return _reserve(db, service, start, customer, status=status, now=now or utcnow())


def hold(
    db: Session,
    service: BookingService,
    start: dt.datetime,
    *,
    now: dt.datetime | None = None,
) -> Booking:
    """Keep ``start`` for the visitor for ``HOLD_MINUTES`` while they fill in the form."""
    return _reserve(db, service, start, Customer(), status="held", now=now or utcnow())


def confirm(
    db: Session, reference: str, customer: Customer, *, now: dt.datetime | None = None
) -> Booking:
    """Turn a hold into a booking. A hold that has expired is booked again if its time is
    still free, else ``SlotTaken``."""
    now = now or utcnow()
    booking = db.scalar(sa.select(Booking).where(Booking.reference == reference))
    if booking is None or booking.status not in ("held", "expired"):
        raise HoldExpired("This booking can no longer be confirmed. Please start again.")
    service = db.get(BookingService, booking.service_id)
    status = "pending" if service.requires_approval else "confirmed"
    # The calendars as they are now (before the lock: the network is slow). Something put
    # into the staff member's calendar while the visitor filled in the form wins.
    fresh = read_fresh_busy(db, service, booking.starts_at)
    _lock_resources(db, [booking.resource_id])
    db.refresh(booking)
    if booking.status == "held" and booking.hold_expires_at > now:
        if booking.resource_id in fresh.unreadable:
            raise CalendarUnavailable()
        if any(
            low < booking.blocks_until and booking.blocks_from < high
            for low, high in fresh.busy.get(booking.resource_id, ())
        ):
            booking.status = "expired"
            db.flush()
            return _reserve(
                db, service, booking.starts_at, customer, status=status, now=now, fresh=fresh
            )
        booking.status = status
        booking.hold_expires_at = None
        booking.customer_name = customer.name
        booking.customer_email = customer.email
        booking.customer_phone = customer.phone
        booking.notes = customer.notes
        booking.updated_at = now
        return booking
    booking.status = "expired"
    db.flush()
    return _reserve(db, service, booking.starts_at, customer, status=status, now=now, fresh=fresh)


# -- staff -------------------------------------------------------------------------------------

# action → (the statuses it applies to, the status it leads to)
DECISIONS = {
    "approve": (("pending",), "confirmed"),
    "reject": (("pending",), "rejected"),
    "cancel": (("held", "pending", "confirmed"), "cancelled"),
}


def decide(
    db: Session, actor: Actor, booking: Booking, action: str, *, now: dt.datetime | None = None
) -> Booking:
    """Approve or reject a pending booking, or cancel one; audited. Rejected and cancelled
    bookings free their time at once."""
    if action not in DECISIONS:
        raise BookingError("Unknown action.")
    allowed, status = DECISIONS[action]
    if booking.status not in allowed:
        raise BookingError(f"A {booking.status} booking cannot be {status}.")
    before = booking.status
    booking.status = status
    booking.updated_at = now or utcnow()
    audit.record(
        db, actor, f"booking.{action}", "booking", booking.id, {"from": before, "to": status}
    )
    return booking


@dataclass(frozen=True)
class BookingRow:
    booking: Booking
    service_name: str
    resource_name: str
    timezone: str


def upcoming(db: Session, *, now: dt.datetime | None = None, limit: int = 200) -> list[BookingRow]:
    """Bookings that have not ended, pending and confirmed ones, soonest first."""
    now = now or utcnow()
    rows = db.execute(
        sa.select(Booking, BookingService.name, BookingResource.name, Site.timezone)
        .join(BookingService, BookingService.id == Booking.service_id)
        .join(BookingResource, BookingResource.id == Booking.resource_id)
        .join(Site, Site.id == BookingService.site_id)
        .where(Booking.ends_at > now, Booking.status.in_(("pending", "confirmed")))
        .order_by(Booking.starts_at, Booking.id)
        .limit(limit)
    )
    return [BookingRow(*row) for row in rows]

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

from asthron import audit, domain_events
from asthron.audit.service import Actor
from asthron.bookings import calendars, links, notices, reminders
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
    if start <= now:
        raise BookingError("That time has passed. Please pick a time in the future.")
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
    now = now or utcnow()
    status = "pending" if service.requires_approval else "confirmed"
    booking = _reserve(db, service, start, customer, status=status, now=now)
    _booked(db, booking, now)
    return booking


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
            booking = _reserve(
                db, service, booking.starts_at, customer, status=status, now=now, fresh=fresh
            )
            _booked(db, booking, now)
            return booking
        booking.status = status
        booking.hold_expires_at = None
        booking.customer_name = customer.name
        booking.customer_email = customer.email
        booking.customer_phone = customer.phone
        booking.notes = customer.notes
        booking.updated_at = now
        _booked(db, booking, now)
        return booking
    booking.status = "expired"
    db.flush()
    booking = _reserve(
        db, service, booking.starts_at, customer, status=status, now=now, fresh=fresh
    )
    _booked(db, booking, now)
    return booking
    return booking


# -- what follows every change ---------------------------------------------------------------


def _announce(db: Session, booking: Booking, kind: str, **extra) -> None:
    """Record the ``booking.<kind>`` domain event (webhooks deliver it)."""
    service = db.get(BookingService, booking.service_id)
    db.flush()
    domain_events.record(
        db,
        f"booking.{kind}",
        booking_id=booking.id,
        site_id=service.site_id,
        service_id=service.id,
        conversation_id=booking.conversation_id,
        starts_at=booking.starts_at.astimezone(dt.UTC).isoformat(),
        **extra,
    )


def _customer_of(booking: Booking) -> dict:
    """The customer as the new-booking events carry them (leads makes them a lead)."""
    return {
        "name": booking.customer_name or None,
        "email": booking.customer_email,
        "phone": booking.customer_phone,
    }


def _booked(db: Session, booking: Booking, now: dt.datetime) -> None:
    """A new booking (not a hold): the event, the customer's email, the staff's, reminders."""
    if booking.status == "confirmed":
        _announce(db, booking, "confirmed", customer=_customer_of(booking))
        notices.customer_email(db, booking, "confirmed", now=now)
        notices.staff_email(db, booking, "new")
        reminders.schedule_reminders(db, booking, now)
    elif booking.status == "pending":
        _announce(db, booking, "requested", customer=_customer_of(booking))
        notices.customer_email(db, booking, "requested", now=now)
        notices.staff_email(db, booking, "requested")


def _closed(db: Session, booking: Booking, now: dt.datetime) -> None:
    """Cancelled, declined or a no-show: no more reminders, the customer's links stop."""
    reminders.cancel_reminders(db, booking)
    links.revoke_links(db, booking, now)


# -- staff and customers change bookings ---------------------------------------------------------

CUSTOMER = "customer"
STAFF = "staff"


def _refuse_unless(booking: Booking, allowed: tuple[str, ...], doing: str) -> None:
    if booking.status not in allowed:
        label = STATUS_LABELS.get(booking.status, booking.status)
        raise BookingError(f"A booking that is {label} cannot be {doing}.")


def _audit(db: Session, actor: Actor, action: str, booking: Booking, summary: dict) -> None:
    audit.record(db, actor, f"booking.{action}", "booking", booking.id, summary)


def approve(
    db: Session, actor: Actor, booking: Booking, *, now: dt.datetime | None = None
) -> Booking:
    """Confirm a requested (pending) booking; audited; the customer gets the invitation."""
    now = now or utcnow()
    _refuse_unless(booking, ("pending",), "approved")
    booking.status = "confirmed"
    booking.updated_at = now
    _audit(db, actor, "approve", booking, {"from": "pending", "to": "confirmed"})
    _announce(db, booking, "confirmed")
    notices.customer_email(db, booking, "confirmed", now=now)
    reminders.schedule_reminders(db, booking, now)
    return booking


def decline(
    db: Session, actor: Actor, booking: Booking, *, now: dt.datetime | None = None
) -> Booking:
    """Decline a requested booking; audited; its time is free again at once."""
    now = now or utcnow()
    _refuse_unless(booking, ("pending",), "declined")
    booking.status = "rejected"
    booking.updated_at = now
    _audit(db, actor, "decline", booking, {"from": "pending", "to": "rejected"})
    _announce(db, booking, "declined")
    _closed(db, booking, now)
    notices.customer_email(db, booking, "declined", now=now)
    return booking


def refund_percent(policy: dict | None, starts_at: dt.datetime, cancelled_at: dt.datetime) -> int:
    """The share of the payment a cancellation gives back under the service's policy:
    ``{"full_hours": 48, "partial_hours": 24, "partial_percent": 50}`` means in full up to
    48 hours before the start, half up to 24 hours before, nothing later. No policy: in full."""
    if not policy:
        return 100
    hours_before = (starts_at - cancelled_at).total_seconds() / 3600
    if hours_before >= float(policy.get("full_hours", 0)):
        return 100
    partial_hours = policy.get("partial_hours")
    if partial_hours is not None and hours_before >= float(partial_hours):
        return max(0, min(100, int(policy.get("partial_percent", 0))))
    return 0


def cancel(
    db: Session,
    actor: Actor,
    booking: Booking,
    *,
    by: str = STAFF,
    now: dt.datetime | None = None,
) -> Booking:
    """Cancel a booking (staff: any open one; the customer: until it starts); audited. The
    customer gets the cancellation (with the .ics that removes it from their calendar when
    they had the invitation); a customer's cancellation is told to the staff."""
    now = now or utcnow()
    _refuse_unless(booking, ("held", "pending", "confirmed"), "cancelled")
    if by == CUSTOMER and booking.starts_at <= now:
        raise BookingError("This booking has already started, so it cannot be cancelled here.")
    before = booking.status
    booking.status = "cancelled"
    booking.updated_at = now
    booking.ical_sequence += 1
    _audit(db, actor, "cancel", booking, {"from": before, "to": "cancelled", "by": by})
    if before == "held":
        return booking  # nobody was told of a hold, and nothing was paid for it
    service = db.get(BookingService, booking.service_id)
    # Payments refunds this share of whatever was paid (subscribed to booking.cancelled).
    _announce(
        db,
        booking,
        "cancelled",
        by=by,
        reference=booking.reference,
        refund_percent=refund_percent(service.refund_policy, booking.starts_at, now),
        reason=f"cancelled by the {by}",
    )
    _closed(db, booking, now)
    notices.customer_email(db, booking, "cancelled", now=now, invite=before == "confirmed")
    if by == CUSTOMER:
        notices.staff_email(db, booking, "cancelled")
    return booking


def mark_no_show(
    db: Session, actor: Actor, booking: Booking, *, now: dt.datetime | None = None
) -> Booking:
    """The customer did not come: only a confirmed booking, only once it has started."""
    now = now or utcnow()
    _refuse_unless(booking, ("confirmed",), "marked a no-show")
    if booking.starts_at > now:
        raise BookingError("A booking can be marked a no-show only after its start time.")
    booking.status = "no_show"
    booking.updated_at = now
    _audit(db, actor, "no_show", booking, {"from": "confirmed", "to": "no_show"})
    _announce(db, booking, "no_show")
    _closed(db, booking, now)
    return booking


def reschedule(
    db: Session,
    actor: Actor,
    booking: Booking,
    start: dt.datetime,
    *,
    by: str = STAFF,
    now: dt.datetime | None = None,
) -> Booking:
    """Move a pending or confirmed booking to ``start``, a free slot of the same service
    (any of its staff members; the booking's own time counts as free). Locked and checked
    like a new booking: ``SlotTaken`` with alternatives when the time is not free. The
    booking keeps its id, reference, links and calendar UID; its reminders move with it."""
    now = now or utcnow()
    _refuse_unless(booking, ("pending", "confirmed"), "moved")
    if start.tzinfo is None:
        raise BookingError("The time must carry its time zone.")
    start = start.astimezone(dt.UTC)
    if start <= now:
        raise BookingError("That time has passed. Please pick a time in the future.")
    if by == CUSTOMER and booking.starts_at <= now:
        raise BookingError("This booking has already started, so it cannot be moved here.")
    if start == booking.starts_at:
        raise BookingError("The booking is already at that time.")
    service = db.get(BookingService, booking.service_id)
    resources = resources_of(db, service)
    _lock_resources(db, sorted({booking.resource_id, *(r.id for r in resources)}))
    _expire_holds(db, [r.id for r in resources], now)
    db.refresh(booking)
    _refuse_unless(booking, ("pending", "confirmed"), "moved")
    status, previous = booking.status, booking.starts_at
    # Out of the way while the new time is checked, so its own time counts as free; the
    # rows stay locked (and the transaction uncommitted) meanwhile.
    booking.status = "cancelled"
    db.flush()
    duration = dt.timedelta(minutes=service.duration_minutes)
    offered = offered_slots(db, service, now=now, start=start, end=start + duration)
    match = next((o for o in offered if o.start == start), None)
    if match is None:
        alternatives = offered_slots(db, service, now=now, start=start, limit=ALTERNATIVES)
        booking.status = status
        db.flush()
        raise SlotTaken(alternatives)
    site = db.get(Site, service.site_id)
    resource_id = booking.resource_id if booking.resource_id in match.resource_ids else None
    booking.resource_id = resource_id or match.resource_ids[0]
    booking.starts_at, booking.ends_at = start, start + duration
    booking.blocks_from = start - dt.timedelta(minutes=service.buffer_before_minutes)
    booking.blocks_until = booking.ends_at + dt.timedelta(minutes=service.buffer_after_minutes)
    booking.local_date = start.astimezone(zone(site.timezone)).date()
    booking.status = status
    booking.updated_at = now
    booking.ical_sequence += 1
    try:
        with db.begin_nested():
            db.flush()
    except sa.exc.IntegrityError as error:
        if NO_OVERLAP_CONSTRAINT not in str(error.orig):
            raise
        # The savepoint took the move back; the booking must not stay out of the way.
        booking.status = status
        db.flush()
        raise SlotTaken(
            offered_slots(db, service, now=now, start=start, limit=ALTERNATIVES)
        ) from None
    _audit(
        db,
        actor,
        "reschedule",
        booking,
        {"from": previous.isoformat(), "to": start.isoformat(), "by": by},
    )
    _announce(db, booking, "rescheduled", previous_starts_at=previous.isoformat(), by=by)
    notices.customer_email(db, booking, "rescheduled", now=now, invite=status == "confirmed")
    if by == CUSTOMER:
        notices.staff_email(db, booking, "rescheduled", previous=previous)
    if status == "confirmed":
        reminders.schedule_reminders(db, booking, now)
    return booking


def in_site_zone(db: Session, booking: Booking, moment: dt.datetime) -> dt.datetime:
    """``moment`` as an instant: a wall-clock time without offset is read in the booking's
    site's zone. A wall time the clocks skip (a DST gap) is refused, not guessed."""
    if moment.tzinfo is not None:
        return moment
    service = db.get(BookingService, booking.service_id)
    site = db.get(Site, service.site_id)
    tz = zone(site.timezone)
    aware = moment.replace(tzinfo=tz)
    if aware.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None) != moment:
        raise BookingError(
            f"{moment:%Y-%m-%d %H:%M} does not exist in {site.timezone}: the clocks skip it."
        )
    return aware


STATUS_LABELS = {
    "held": "being booked",
    "pending": "awaiting approval",
    "confirmed": "confirmed",
    "cancelled": "cancelled",
    "expired": "expired",
    "rejected": "declined",
    "no_show": "a no-show",
}

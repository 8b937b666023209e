"""The bookings' place on the message path: the assistant may offer the next free times; staff
see a conversation's bookings beside it, and a person's bookings on their timeline."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.bookings import service as bookings
from asthron.bookings.models import Booking, BookingService
from asthron.bookings.notices import local_time
from asthron.bookings.service import STATUS_LABELS
from asthron.conversations.hooks import (
    PromptContribution,
    SidePanel,
    TimelineEntry,
    TimelineSubject,
)
from asthron.conversations.models import Conversation
from asthron.db import registry_of, utcnow
from asthron.sites.hours import zone
from asthron.sites.models import Site
from asthron.snapshots import snapshots

OFFER_DAYS = 7
TIMES_PER_SERVICE = 3
MAX_SERVICES = 5


def open_slots_prompt(db: Session, conversation_id: int) -> PromptContribution | None:
    """ "You can offer these times": the next free slots of the site's services this week,
    in the business's time zone, with the page where the visitor books them."""
    # Most installs offer no bookings: a snapshot answers that without a query per message.
    if not snapshots(db).get("bookings_in_use", lambda: _any_active_service(db)):
        return None
    conversation = db.get(Conversation, conversation_id)
    if conversation is None:
        return None
    services = list(
        db.scalars(
            sa.select(BookingService)
            .where(BookingService.site_id == conversation.site_id, BookingService.active)
            .order_by(BookingService.id)
            .limit(MAX_SERVICES)
        )
    )
    if not services:
        return None
    site = db.get(Site, conversation.site_id)
    tz = zone(site.timezone)
    now = utcnow()
    base = registry_of(db)["app_settings"].public_url
    lines = []
    for service in services:
        slots = bookings.offered_slots(
            db, service, now=now, end=now + dt.timedelta(days=OFFER_DAYS), limit=TIMES_PER_SERVICE
        )
        if not slots:
            continue
        times = ", ".join(s.start.astimezone(tz).strftime("%a %d %b %H:%M") for s in slots)
        link = f"{base}/book/{site.public_key}/{service.slug}"
        lines.append(f"- {service.name} ({service.duration_minutes} min): {times}. Book: {link}")
    if not lines:
        return None
    return PromptContribution(
        instruction=(
            f"If the visitor wants an appointment, you can offer these free times "
            f"({site.timezone}); never promise a time that is not listed, and send them to the "
            "booking link to book it:\n" + "\n".join(lines)
        )
    )


def _any_active_service(db: Session) -> bool:
    return bool(db.scalar(sa.select(sa.exists().where(BookingService.active))))


# -- the bookings beside the conversation and on the person's timeline ---------------------------

PANEL_BOOKINGS = 5
TIMELINE_BOOKINGS = 50
SHOWN = ("pending", "confirmed", "cancelled", "rejected", "no_show")


def _described(rows) -> list[tuple[Booking, str, str]]:
    """(booking, service name, its time on the business's clock) for each row."""
    return [(b, name, local_time(b.starts_at, timezone)) for b, name, timezone in rows]


def _with_names(stmt):
    return (
        stmt.join(BookingService, BookingService.id == Booking.service_id)
        .join(Site, Site.id == BookingService.site_id)
        .where(Booking.status.in_(SHOWN))
    )


def booking_panel(db: Session, conversation_id: int) -> SidePanel | None:
    """The conversation's bookings, beside the chat in the inbox, newest first."""
    rows = db.execute(
        _with_names(sa.select(Booking, BookingService.name, Site.timezone))
        .where(Booking.conversation_id == conversation_id)
        .order_by(Booking.starts_at.desc(), Booking.id.desc())
        .limit(PANEL_BOOKINGS)
    )
    facts = [
        (f"{name} · {STATUS_LABELS.get(booking.status, booking.status)}", when)
        for booking, name, when in _described(rows)
    ]
    return SidePanel("Bookings", facts) if facts else None


def booking_timeline(db: Session, subject: TimelineSubject) -> list[TimelineEntry]:
    """The person's bookings (made in their conversations, or with their email or phone)."""
    matches = []
    if subject.conversation_ids:
        matches.append(Booking.conversation_id.in_(subject.conversation_ids))
    if subject.email:
        matches.append(Booking.customer_email == subject.email)
    if subject.phone:
        matches.append(Booking.customer_phone == subject.phone)
    if not matches:
        return []
    rows = db.execute(
        _with_names(sa.select(Booking, BookingService.name, Site.timezone))
        .where(sa.or_(*matches))
        .order_by(Booking.created_at.desc(), Booking.id.desc())
        .limit(TIMELINE_BOOKINGS)
    )
    return [
        TimelineEntry(
            booking.created_at,
            "booking",
            f"{name}, {when}: {STATUS_LABELS.get(booking.status, booking.status)}"
            f" (reference {booking.reference}).",
            booking.customer_name or "customer",
            booking.conversation_id,
        )
        for booking, name, when in _described(rows)
    ]

"""The bookings where staff look at a person: beside the conversation in the inbox (the
``side_panels`` hook) and on the lead's timeline (the ``timeline_entries`` hook)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.bookings.models import Booking, BookingService
from asthron.bookings.notices import local_time
from asthron.bookings.service import STATUS_LABELS
from asthron.conversations.hooks import SidePanel, TimelineEntry, TimelineSubject
from asthron.sites.models import Site

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

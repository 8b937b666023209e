"""The customer's reschedule and cancel links.

Each email about a booking carries a link of its own, ``/booking/<token>``: 256 random bits
(``asthron.security.tokens``), of which only the SHA-256 is stored (``BookingLink``). A link
only ever shows a page on GET; what it changes is done by a POST from that page (CSRF
protected). A link stops working when its booking is cancelled, declined or marked a no-show
(``revoked_at``); an unknown or revoked token changes nothing and gets a page saying so.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import zope.sqlalchemy
from sqlalchemy.orm import Session

from asthron.bookings.models import Booking, BookingLink
from asthron.security.tokens import new_token, token_hash

# urlsafe base64 of 32 bytes is 43 characters; anything else cannot be ours.
TOKEN_LENGTH = 43


class LinkNotValid(Exception):
    """The link is unknown, or was revoked; ``gone`` tells a revoked link (410) from an
    unknown one (404). The message is fit to show."""

    def __init__(self, message: str, *, gone: bool):
        super().__init__(message)
        self.gone = gone


def issue_link(db: Session, booking: Booking) -> str:
    """A new link token for ``booking`` (shown once: put it in the email)."""
    token = new_token()
    db.add(BookingLink(booking_id=booking.id, token_hash=token_hash(token)))
    return token


def booking_for_token(db: Session, token: str) -> Booking:
    """The booking a link names, or ``LinkNotValid``."""
    link = None
    if isinstance(token, str) and len(token) == TOKEN_LENGTH:
        link = db.scalar(sa.select(BookingLink).where(BookingLink.token_hash == token_hash(token)))
    if link is None:
        raise LinkNotValid(
            "This link is not valid. Please use the link in your latest email about the booking.",
            gone=False,
        )
    if link.revoked_at is not None:
        raise LinkNotValid("This link no longer works: the booking is closed.", gone=True)
    return db.get(Booking, link.booking_id)


def revoke_links(db: Session, booking: Booking, now: dt.datetime) -> None:
    db.execute(
        sa.update(BookingLink)
        .where(BookingLink.booking_id == booking.id, BookingLink.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    zope.sqlalchemy.mark_changed(db)

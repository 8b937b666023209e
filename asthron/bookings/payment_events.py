"""Paid services: the bookings' side of payments, through domain events only.

A service with a deposit or a price is not booked at once: the slot is held while the visitor
pays (``booking.held`` carries the amount due; the payments feature makes the Checkout
Session). ``payment.succeeded`` confirms the booking; ``payment.expired`` and
``payment.failed`` release the hold; a cancelled booking records ``booking.cancelled`` with the
share its service's refund policy gives back.

Kept apart from ``service.py``: it only calls ``hold``/``confirm`` and reads the policy.
"""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import domain_events
from asthron.bookings import service as bookings
from asthron.bookings.models import Booking, BookingService
from asthron.db import registry_of, utcnow

log = logging.getLogger(__name__)

# Stripe lets a Checkout Session live 30 minutes at least. The hold covers that, the walk from
# the booking form to the pay button, and a margin after the session closes (PAYMENT_MARGIN)
# for the news of a payment made in its last second.
PAYMENT_HOLD = dt.timedelta(minutes=60)
PAYMENT_MARGIN = dt.timedelta(minutes=10)


def amount_due(service: BookingService) -> int:
    """What the visitor pays before the slot is theirs: the deposit, else the price, else 0."""
    return service.deposit_cents or service.price_cents or 0


def hold_for_payment(
    db: Session,
    service: BookingService,
    start: dt.datetime,
    customer: bookings.Customer,
    *,
    conversation_id: int | None = None,
    now: dt.datetime | None = None,
) -> Booking:
    """Hold ``start`` for the customer until they have paid (raises ``SlotTaken`` like
    ``book``) and record ``booking.held``; its subscribers prepare the payment."""
    now = now or utcnow()
    booking = bookings.hold(db, service, start, now=now)
    return await_payment(db, booking, service, customer, conversation_id=conversation_id, now=now)


def await_payment(
    db: Session,
    booking: Booking,
    service: BookingService,
    customer: bookings.Customer,
    *,
    conversation_id: int | None = None,
    now: dt.datetime | None = None,
) -> Booking:
    """Keep a held booking for the customer while they pay (the booking page's hold, or the
    chat card's hold once the visitor gave their details) and record ``booking.held``."""
    now = now or utcnow()
    booking.hold_expires_at = now + PAYMENT_HOLD
    booking.customer_name = customer.name
    booking.customer_email = customer.email
    booking.customer_phone = customer.phone
    booking.notes = customer.notes
    booking.conversation_id = conversation_id
    db.flush()
    base = registry_of(db)["app_settings"].public_url
    kind = "deposit" if service.deposit_cents else "payment"
    domain_events.record(
        db,
        "booking.held",
        booking_id=booking.id,
        reference=booking.reference,
        site_id=service.site_id,
        service_id=service.id,
        amount_due=amount_due(service),
        currency=service.currency,
        description=f"{service.name} ({kind})",
        # Checkout must close before the hold does.
        pay_by=(booking.hold_expires_at - PAYMENT_MARGIN).isoformat(),
        return_url=f"{base}/booked/{booking.reference}",
        customer_email=customer.email,
        conversation_id=conversation_id,
    )
    return booking


def _customer_of(booking: Booking) -> bookings.Customer:
    return bookings.Customer(
        name=booking.customer_name,
        email=booking.customer_email,
        phone=booking.customer_phone,
        notes=booking.notes,
    )


def confirm_paid_booking(db: Session, event: domain_events.DomainEvent) -> None:
    """``payment.succeeded``: the hold becomes the booking. Checkout closes before the hold
    ends, so a hold still marked held was ours when the customer paid, even if the news came
    late. One released meanwhile (another booking took the time) is cancelled and the money
    goes back in full."""
    booking_id = event.payload.get("booking_id")
    booking = db.get(Booking, booking_id) if booking_id else None
    if booking is None or booking.status not in ("held", "expired"):
        return
    now = utcnow()
    if booking.status == "held":
        booking.hold_expires_at = max(booking.hold_expires_at, now + dt.timedelta(minutes=1))
        bookings.confirm(db, booking.reference, _customer_of(booking), now=now)
        return
    log.warning("booking %s was paid after its hold was released; refunding", booking.id)
    booking.status = "cancelled"
    booking.updated_at = now
    _record_cancelled(db, booking, refund_percent=100, reason="the time was no longer held")


def release_unpaid_hold(db: Session, event: domain_events.DomainEvent) -> None:
    """``payment.expired`` / ``payment.failed``: the held time is free again."""
    booking_id = event.payload.get("booking_id")
    if not booking_id:
        return
    db.execute(
        sa.update(Booking)
        .where(Booking.id == booking_id, Booking.status == "held")
        .values(status="expired", updated_at=utcnow())
    )


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


def booking_cancelled(db: Session, booking: Booking, *, now: dt.datetime | None = None) -> None:
    """Call after a booking was cancelled: records ``booking.cancelled`` with the refund its
    service's policy gives (payments refunds that share of whatever was paid)."""
    service = db.get(BookingService, booking.service_id)
    percent = refund_percent(service.refund_policy, booking.starts_at, now or utcnow())
    _record_cancelled(db, booking, refund_percent=percent, reason="booking cancelled")


def _record_cancelled(db: Session, booking: Booking, *, refund_percent: int, reason: str) -> None:
    domain_events.record(
        db,
        "booking.cancelled",
        booking_id=booking.id,
        reference=booking.reference,
        refund_percent=refund_percent,
        reason=reason,
    )


def subscribe(config) -> None:
    config.add_domain_event_subscriber("payment.succeeded", confirm_paid_booking)
    config.add_domain_event_subscriber("payment.expired", release_unpaid_hold)
    config.add_domain_event_subscriber("payment.failed", release_unpaid_hold)

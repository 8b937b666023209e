"""The booking card's actions, called only by its widget endpoints
(``bookings/widget_views.py``) when the visitor clicks in the card: the free times of a
service in the visitor's time zone, a hold while the visitor types their details, then the
booking (``service.hold`` / ``service.confirm``). The visitor's own submission is the only
thing that reserves a time (tests/security/test_classes.py holds the code to that).
"""

from __future__ import annotations

import datetime as dt
from itertools import groupby

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from asthron.bookings import intent as intents
from asthron.bookings import service as bookings
from asthron.bookings.chat import BOOKING_CARD, language, service_json, zone_or
from asthron.bookings.models import Booking, BookingService
from asthron.bookings.payment_events import amount_due, await_payment
from asthron.bookings.tasks import queue_calendar_write
from asthron.conversations import service as conversations
from asthron.conversations.history import history
from asthron.conversations.models import Conversation, ConversationEvent, Visitor
from asthron.db import utcnow
from asthron.sites.hours import HoursError, zone
from asthron.sites.models import Site
from asthron.text import international_phone, single_line

# What the card offers: the next days with free times, at most this many slots in all.
CARD_DAYS = 14
CARD_SLOTS = 150
BOOKED_TEXT = {
    "en": {
        "confirmed": "Booked: {service} on {when} ({zone}). See you then!",
        "pending": "Requested: {service} on {when} ({zone}). We will confirm it shortly.",
        "held": "Held for you: {service} on {when} ({zone}). Pay below to confirm it.",
    },
    "es": {
        "confirmed": "Reservado: {service} el {when} ({zone}). ¡Hasta pronto!",
        "pending": "Solicitado: {service} el {when} ({zone}). Te lo confirmaremos pronto.",
        "held": "Reservado para ti: {service} el {when} ({zone}). Paga abajo para confirmarlo.",
    },
}


class SlotUnavailable(conversations.ConversationError):
    """The time asked for is not (or no longer) free: the card shows fresh times."""

    code = "slot_unavailable"


class BookingCardError(conversations.ConversationError):
    """The visitor's details need fixing; ``fields`` says which, for the card's form."""

    code = "invalid_input"

    def __init__(self, message: str, fields: dict | None = None):
        super().__init__(message)
        self.fields = fields or {}


def _card(db: Session, conversation: Conversation, card_id: str) -> ConversationEvent:
    for event in history(db, conversation.id, types=["card"]):
        data = event.data or {}
        if data.get("card") == BOOKING_CARD and data.get("card_id") == card_id:
            return event
    raise conversations.NotFound("No such booking card in this conversation.")


def _visitor_zone(name: str | None, visitor: Visitor, site: Site):
    """The zone the widget sent (it must be a real IANA name), else the visitor's, else the
    business's."""
    if name:
        try:
            return zone(name)
        except HoursError:
            raise conversations.InvalidInput(
                "timezone is not a time zone name like Europe/Paris."
            ) from None
    return zone_or(visitor.timezone, site.timezone)


def _service(db: Session, conversation: Conversation, slug: str) -> BookingService:
    try:
        return bookings.get_service(db, conversation.site_id, slug)
    except bookings.ServiceNotFound:
        raise conversations.NotFound("No such service.") from None


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# -- the card's endpoints ------------------------------------------------------------------------


def card_slots(
    db: Session,
    conversation: Conversation,
    visitor: Visitor,
    card_id: str,
    slug: str,
    timezone: str | None,
    *,
    now: dt.datetime | None = None,
) -> dict:
    """The service's free times grouped by day in the visitor's time zone; narrowed to what
    the visitor asked for ("Thursday afternoon") when that has free times, else the next ones
    with ``relaxed``."""
    now = now or utcnow()
    card = _card(db, conversation, card_id)
    service = _service(db, conversation, slug)
    site = db.get(Site, conversation.site_id)
    tz = _visitor_zone(timezone, visitor, site)
    want = (card.data.get(BOOKING_CARD) or {}).get("want") or {}
    slots, relaxed = [], False
    day = _date(want.get("date"))
    if day is not None and day >= now.astimezone(tz).date():
        hours = intents.PARTS_OF_DAY.get(want.get("part"), (0, 24))
        midnight = dt.datetime.combine(day, dt.time(), tz)
        start = midnight + dt.timedelta(hours=hours[0])
        end = midnight + dt.timedelta(hours=hours[1])
        slots = bookings.offered_slots(db, service, now=now, start=start, end=end)
        relaxed = not slots
    if not slots:
        slots = bookings.offered_slots(
            db, service, now=now, end=now + dt.timedelta(days=CARD_DAYS), limit=CARD_SLOTS
        )
    local = [(slot, slot.start.astimezone(tz)) for slot in slots]
    days = [
        {
            "date": date.isoformat(),
            "slots": [
                {"start": _iso(s.start), "end": _iso(s.end), "time": moment.strftime("%H:%M")}
                for s, moment in group
            ],
        }
        for date, group in groupby(local, key=lambda pair: pair[1].date())
    ]
    return {
        "service": service_json(service),
        "timezone": tz.key,
        "relaxed": relaxed,
        "days": days,
    }


def _date(value) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def parse_start(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        moment = None
    if moment is None or moment.tzinfo is None:
        raise conversations.InvalidInput("start must be a time like 2026-03-05T13:00:00Z.")
    return moment.astimezone(dt.UTC)


def hold_slot(
    db: Session,
    conversation: Conversation,
    visitor: Visitor,
    card_id: str,
    slug: str,
    start_text: str,
    *,
    now: dt.datetime | None = None,
) -> dict:
    """Keep the time for this visitor while they type their details. A visitor holds one
    time at a time: a new hold releases their earlier ones."""
    now = now or utcnow()
    card = _card(db, conversation, card_id)
    if card.data.get("done"):
        raise SlotUnavailable("This card is already booked.")
    service = _service(db, conversation, slug)
    start = parse_start(start_text)
    if start <= now:
        raise SlotUnavailable("That time has passed. Please pick another one.")
    db.execute(
        sa.update(Booking)
        .where(Booking.visitor_id == visitor.id, Booking.status == "held")
        .values(status="expired", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    try:
        booking = bookings.hold(db, service, start, now=now)
    except bookings.SlotTaken as taken:
        raise SlotUnavailable(str(taken)) from None
    except bookings.BookingError as error:
        raise SlotUnavailable(str(error)) from None
    booking.visitor_id = visitor.id
    booking.conversation_id = conversation.id
    return {
        "hold": booking.reference,
        "start": _iso(booking.starts_at),
        "end": _iso(booking.ends_at),
        "expires_at": _iso(booking.hold_expires_at),
        # The details the visitor (or a lead the leads feature matched) already gave.
        "prefill": {
            "name": visitor.name or "",
            "email": visitor.verified_email or visitor.email or "",
            "phone": visitor.phone or "",
        },
    }


def _customer(name: str, email: str | None, phone: str | None) -> bookings.Customer:
    errors = {}
    name = single_line(name or "").strip()
    if not name:
        errors["name"] = "Your name is required."
    clean_email = None
    if email and email.strip():
        try:
            # Syntax only: never a DNS lookup while a visitor waits.
            clean_email = validate_email(
                email.strip(), check_deliverability=False
            ).normalized.lower()
        except EmailNotValidError:
            errors["email"] = "That email address does not look right."
    clean_phone = None
    if phone and phone.strip():
        try:
            clean_phone = international_phone(phone) or None
        except ValueError:
            errors["phone"] = "Give the phone number with its country code, like +49 30 123456."
    if not errors and clean_email is None and clean_phone is None:
        errors["email"] = "Give an email address or a phone number."
    if errors:
        raise BookingCardError(next(iter(errors.values())), errors)
    return bookings.Customer(name=name[:120], email=clean_email, phone=clean_phone)


def confirm_slot(
    db: Session,
    conversation: Conversation,
    visitor: Visitor,
    card_id: str,
    reference: str,
    details: dict,
    timezone: str | None,
    *,
    now: dt.datetime | None = None,
) -> tuple[Booking, ConversationEvent]:
    """Book the held time with the visitor's details; the card is done and a system event
    says what was booked, in the visitor's time zone."""
    now = now or utcnow()
    card = _card(db, conversation, card_id)
    held = db.scalar(
        sa.select(Booking).where(
            Booking.reference == reference,
            Booking.visitor_id == visitor.id,
            Booking.conversation_id == conversation.id,
        )
    )
    if held is None:
        raise conversations.NotFound("No such hold for this visitor.")
    site = db.get(Site, conversation.site_id)
    tz = _visitor_zone(timezone, visitor, site)
    customer = _customer(details.get("name"), details.get("email"), details.get("phone"))
    service = db.get(BookingService, held.service_id)
    if amount_due(service) and held.status == "held" and held.hold_expires_at > now:
        # A paid service: the time stays held while the visitor pays with the payment card
        # that follows (booking.held → the payments feature); paying confirms it.
        return _awaiting_payment(db, conversation, card, held, service, customer, tz, site, now)
    try:
        booking = bookings.confirm(db, reference, customer, now=now)
    except bookings.SlotTaken as taken:
        raise SlotUnavailable(str(taken)) from None
    except bookings.BookingError as error:
        raise SlotUnavailable(str(error)) from None
    booking.visitor_id, booking.conversation_id = visitor.id, conversation.id
    # Known from now on: the next card (and the leads' forms) start from these.
    visitor.name = visitor.name or customer.name
    visitor.email = visitor.email or customer.email
    confirmed = {
        "service": service.name,
        "start": _iso(booking.starts_at),
        "end": _iso(booking.ends_at),
        "timezone": tz.key,
        "status": booking.status,
    }
    card.data = {
        **card.data,
        "done": True,
        BOOKING_CARD: {**(card.data.get(BOOKING_CARD) or {}), "confirmed": confirmed},
    }
    local = booking.starts_at.astimezone(tz)
    text = BOOKED_TEXT[language(site)]["pending" if booking.status == "pending" else "confirmed"]
    event = conversations.append_event(
        db,
        conversation,
        "system",
        text.format(service=service.name, when=local.strftime("%Y-%m-%d %H:%M"), zone=tz.key),
        author_name="System",
        data={"action": "booking_" + booking.status, "booking_reference": booking.reference},
    )
    queue_calendar_write(db, booking)
    return booking, event


def _awaiting_payment(
    db: Session,
    conversation: Conversation,
    card: ConversationEvent,
    held: Booking,
    service: BookingService,
    customer: bookings.Customer,
    tz,
    site: Site,
    now: dt.datetime,
) -> tuple[Booking, ConversationEvent]:
    await_payment(db, held, service, customer, conversation_id=conversation.id, now=now)
    visitor = db.get(Visitor, conversation.visitor_id)
    visitor.name = visitor.name or customer.name
    visitor.email = visitor.email or customer.email
    confirmed = {
        "service": service.name,
        "start": _iso(held.starts_at),
        "end": _iso(held.ends_at),
        "timezone": tz.key,
        "status": "held",
    }
    card.data = {
        **card.data,
        "done": True,
        BOOKING_CARD: {**(card.data.get(BOOKING_CARD) or {}), "confirmed": confirmed},
    }
    local = held.starts_at.astimezone(tz)
    text = BOOKED_TEXT[language(site)]["held"]
    event = conversations.append_event(
        db,
        conversation,
        "system",
        text.format(service=service.name, when=local.strftime("%Y-%m-%d %H:%M"), zone=tz.key),
        author_name="System",
        data={"action": "booking_held", "booking_reference": held.reference},
    )
    return held, event

"""The bookings' place on the message path, and booking inside the chat.

- ``open_slots_prompt`` (prompt contributor): the assistant may offer the next free times.
- ``offer_booking_card`` (on_visitor_message): a message that asks for an appointment
  ("can I come in Thursday afternoon?", "quiero reservar una cita") gets a booking card: a
  ``card`` event whose ``data.card`` is "booking" and whose ``data.booking`` lists the
  services and what the visitor asked for. The widget renders it natively.

What the card then does (free times, a hold, the booking) is ``bookings/card.py``, called only
by the card's widget endpoints when the visitor clicks: nothing here reserves a time.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.bookings import intent as intents
from asthron.bookings import service as bookings
from asthron.bookings.models import BookingService
from asthron.conversations import service as conversations
from asthron.conversations.history import history
from asthron.conversations.hooks import PromptContribution, VisitorMessage
from asthron.conversations.models import Conversation, ConversationEvent, Visitor
from asthron.db import registry_of, utcnow
from asthron.sites.hours import HoursError, zone
from asthron.sites.models import Site
from asthron.snapshots import snapshots

OFFER_DAYS = 7
TIMES_PER_SERVICE = 3
MAX_SERVICES = 5
BOOKING_CARD = "booking"
CARD_TEXT = {
    "en": "Would you like to book an appointment? Pick a time here.",
    "es": "¿Quieres reservar una cita? Elige una hora aquí.",
}


def language(site: Site) -> str:
    base = (site.language or "en").split("-")[0]
    return base if base in CARD_TEXT else "en"


def _active_services(db: Session, site_id: int) -> list[BookingService]:
    return list(
        db.scalars(
            sa.select(BookingService)
            .where(BookingService.site_id == site_id, BookingService.active)
            .order_by(BookingService.id)
            .limit(MAX_SERVICES)
        )
    )


def _in_use(db: Session) -> bool:
    # Most installs offer no bookings: a snapshot answers that without a query per message.
    return bool(snapshots(db).get("bookings_in_use", lambda: _any_active_service(db)))


# -- hooks -------------------------------------------------------------------------------------


def open_slots_prompt(db: Session, conversation_id: int) -> PromptContribution | None:
    """ "You can offer these times": the next free slots of the site's services this week,
    in the business's time zone, with the page where the visitor books them; or, when a
    booking card is open in the chat, "point the visitor to the card"."""
    if not _in_use(db):
        return None
    conversation = db.get(Conversation, conversation_id)
    if conversation is None:
        return None
    services = _active_services(db, conversation.site_id)
    if not services:
        return None
    card = _latest_card(db, conversation.id)
    if card is not None and not (card.data or {}).get("done"):
        return PromptContribution(
            instruction=(
                "A booking card listing the free times is shown in the chat right now. If the "
                "visitor wants an appointment, tell them briefly to pick a time in that card; "
                "do not list times or promise any yourself."
            )
        )
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


def offer_booking_card(db: Session, message: VisitorMessage) -> bool:
    """A message asking for an appointment gets a booking card (once per request: the same
    ask again while its card is open adds nothing). Never handles the message: the assistant
    still answers."""
    if not _in_use(db):
        return False
    conversation = message.conversation
    if conversation.owner == "human":
        return False  # a person answers now; they book for the visitor
    text = message.event.body or ""
    # Most messages ask nothing of the kind: no query for them.
    said = intents.when(text)
    if not intents.asks_to_book(text) and said.weekday is None and said.days_ahead is None:
        return False
    services = _active_services(db, conversation.site_id)
    if not services:
        return False
    named = [s for s in services if intents.mentions(text, s.name)]
    wanted = intents.detect(text, service_named=bool(named))
    if wanted is None:
        return False
    chosen = named[0].slug if len(named) == 1 else None
    if chosen is None and len(services) == 1:
        chosen = services[0].slug
    want = wanted.as_data()
    previous = _latest_card(db, conversation.id)
    if previous is not None and not previous.data.get("done"):
        asked = previous.data.get(BOOKING_CARD) or {}
        if asked.get("want") == want and asked.get("service") == chosen:
            return False
    site = db.get(Site, conversation.site_id)
    visitor = db.get(Visitor, conversation.visitor_id)
    # "Thursday" means the next Thursday on the visitor's calendar, as of this message.
    visitor_zone = zone_or(visitor.timezone if visitor else None, site.timezone)
    window = intents.resolve(want, utcnow().astimezone(visitor_zone).date())
    if window.day is not None:
        want["date"] = window.day.isoformat()
    base = registry_of(db)["app_settings"].public_url
    offered = [s for s in services if chosen is None or s.slug == chosen][:MAX_SERVICES]
    # WhatsApp and friends show no cards: the booking pages' links instead.
    fallback = "\n".join(
        [CARD_TEXT[language(site)]]
        + [f"{s.name}: {base}/book/{site.public_key}/{s.slug}" for s in offered]
    )
    conversations.append_event(
        db,
        conversation,
        "card",
        CARD_TEXT[language(site)],
        author_name="Assistant",
        data={
            "card": BOOKING_CARD,
            "card_id": uuid.uuid4().hex,
            conversations.CARD_FALLBACK: fallback,
            BOOKING_CARD: {
                "services": [service_json(s) for s in services],
                "service": chosen,
                "want": want,
            },
        },
    )
    return False


def service_json(service: BookingService) -> dict:
    return {
        "slug": service.slug,
        "name": service.name,
        "duration_minutes": service.duration_minutes,
        "price_cents": service.price_cents,
        "currency": service.currency,
    }


def zone_or(name: str | None, fallback: str):
    """The named zone, or ``fallback``'s when there is none or it is unknown."""
    try:
        return zone(name) if name else zone(fallback)
    except HoursError:
        return zone(fallback)


def _any_active_service(db: Session) -> bool:
    return bool(db.scalar(sa.select(sa.exists().where(BookingService.active))))


def _latest_card(db: Session, conversation_id: int) -> ConversationEvent | None:
    cards = [
        e
        for e in history(db, conversation_id, types=["card"], last=20)
        if (e.data or {}).get("card") == BOOKING_CARD
    ]
    return cards[-1] if cards else None

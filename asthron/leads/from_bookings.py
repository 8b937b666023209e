"""A person who books is a lead: the ``booking.requested`` and ``booking.confirmed`` domain
events carry the customer's name, email and phone, and the lead is captured (or matched) from
them like any other claim, linked to the booking's conversation when it has one. Leads never
imports bookings; the event is the contract."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from asthron.audit.service import Actor
from asthron.conversations.models import Conversation, Visitor
from asthron.domain_events import DomainEvent
from asthron.leads import capture
from asthron.leads.normalize import LeadDataError
from asthron.leads.notify import notify_new_or_qualified

log = logging.getLogger(__name__)
BOOKING_ACTOR = Actor(label="booking")


def lead_from_booking(db: Session, event: DomainEvent) -> None:
    customer = event.payload.get("customer") or {}
    settings = capture.lead_settings(db)
    try:
        claim = capture.LeadClaim.parse(customer, settings.phone_region or "US")
    except LeadDataError:
        # The booking checked these already; a detail leads reads more strictly is skipped.
        log.info("booking %s: its customer's details make no lead", event.payload["booking_id"])
        return
    if not claim.identifies:
        return
    conversation_id = event.payload.get("conversation_id")
    conversation = db.get(Conversation, conversation_id) if conversation_id else None
    visitor = db.get(Visitor, conversation.visitor_id) if conversation is not None else None
    result = capture.capture(
        db,
        claim,
        actor=BOOKING_ACTOR,
        site_id=event.payload.get("site_id"),
        conversation=conversation,
        visitor=visitor,
        source="booking",
        verified=capture.is_verified_claim(visitor, claim),
    )
    notify_new_or_qualified(
        db, result.lead, conversation, created=result.created, qualified=False, source="booking"
    )

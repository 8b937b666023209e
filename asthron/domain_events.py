"""Domain events: "a lead qualified", "a person joined": facts that other features react to.

An event is recorded as a ``domain_events`` row in the transaction of the change that caused
it, and handed at once to the in-process subscribers that features registered in their
``includeme`` (``config.add_domain_event_subscriber``). Subscribers run inside that same
transaction, so what they change commits or rolls back with the cause. The rows stay behind
for outbound webhooks, which deliver the same events to other systems.

This is how features talk to each other without importing each other: leads records
``lead.qualified``; the inbox subscribes and hands the chat to a person when its rules say so.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from asthron.db import Base, UTCDateTime, registry_of, utcnow
from asthron.personal_data import personal_data

log = logging.getLogger(__name__)

# Every event the code records, with what its payload carries. Recording a kind not listed
# here is a programming error: the list is the contract webhooks and docs are built from.
# Every kind's subject is a row of the named type; the payload always carries its id.
EVENT_KINDS: dict[str, str] = {
    "conversation.created": "conversation: conversation_id, site_id, visitor_id",
    "conversation.closed": "conversation: conversation_id, site_id",
    "handoff.requested": "conversation: conversation_id, site_id, trigger, reason, "
    "someone_available",
    "handoff.joined": "conversation: conversation_id, site_id, user_id",
    "handoff.returned": "conversation: conversation_id, site_id, user_id",
    "lead.created": "lead: lead_id, source, conversation_id",
    "lead.qualified": "lead: lead_id, conversation_id",
    "lead.updated": "lead: lead_id, change (update, status, assign, tags, verified) and what "
    "changed: fields, from/to, user_id or tags",
    "message.created": "conversation: conversation_id, site_id, message_id, author (visitor, "
    "assistant or staff), author_name, text",
    "booking.confirmed": "booking: booking_id",
    "booking.rescheduled": "booking: booking_id",
    "booking.held": "booking: booking_id, reference, site_id, service_id, amount_due, currency, "
    "description, pay_by, return_url, customer_email, conversation_id",
    "booking.cancelled": "booking: booking_id, reference, refund_percent, reason",
    "payment.created": "payment: payment_id, payment_kind, amount_cents, currency, booking_id, "
    "conversation_id",
    "payment.succeeded": "payment: payment_id, payment_kind, amount_cents, currency, booking_id, "
    "conversation_id",
    "payment.failed": "payment: payment_id, payment_kind, booking_id, conversation_id",
    "payment.expired": "payment: payment_id, payment_kind, booking_id, conversation_id",
    "payment.refunded": "payment: payment_id, amount_cents, currency, refunded_cents, booking_id",
}

Subscriber = Callable[[Session, "DomainEvent"], None]


class UnknownDomainEvent(ValueError):
    pass


class DomainEvent(Base):
    """One fact, as recorded in its cause's transaction."""

    __tablename__ = "domain_events"
    __table_args__ = (
        sa.Index("ix_domain_events_kind_id", "kind", "id"),
        personal_data(
            refs=(("subject_type", "subject_id"),), mentions=("payload",), retention="events"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(64))
    subject_type: Mapped[str] = mapped_column(sa.String(40))
    subject_id: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscribers:
    """Who reacts to which kind of event, in registration order."""

    def __init__(self):
        self._by_kind: dict[str, list[Subscriber]] = defaultdict(list)

    def add(self, kind: str, subscriber: Subscriber) -> None:
        _check(kind)
        self._by_kind[kind].append(subscriber)

    def for_kind(self, kind: str) -> list[Subscriber]:
        return list(self._by_kind.get(kind, ()))


def _check(kind: str) -> None:
    if kind not in EVENT_KINDS:
        raise UnknownDomainEvent(f"no domain event is called {kind!r}")


def record(db: Session, kind: str, **payload: Any) -> DomainEvent:
    """Record ``kind`` in ``db``'s transaction and run its subscribers in it.

    The subject is named by the kind's prefix ("lead.qualified" → the payload's ``lead_id``).
    A subscriber's exception propagates: the cause and its consequences commit together or
    not at all.
    """
    _check(kind)
    subject_type = EVENT_KINDS[kind].split(":", 1)[0]
    event = DomainEvent(
        kind=kind,
        subject_type=subject_type,
        subject_id=str(payload[f"{subject_type}_id"]),
        payload=payload,
        created_at=utcnow(),
    )
    db.add(event)
    subscribers: Subscribers = registry_of(db)["domain_event_subscribers"]
    for subscriber in subscribers.for_kind(kind):
        subscriber(db, event)
    return event


def _add_subscriber(config, kind: str, subscriber: Subscriber) -> None:
    config.registry["domain_event_subscribers"].add(kind, subscriber)


def includeme(config):
    config.registry["domain_event_subscribers"] = Subscribers()
    config.add_directive("add_domain_event_subscriber", _add_subscriber)

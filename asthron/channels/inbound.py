"""Inbound deliveries: Meta's webhook payloads into visitor messages.

An inbound text becomes a visitor message through the one entry point,
``conversations.service.receive_visitor_message``: the person behind a WhatsApp number or a
page-scoped id is one visitor for good (``ChannelContact``), their open conversation is marked
with the channel, and the hooks (handoff rules, leads, bookings) and the assistant's reply run
as for the widget. A replayed delivery finds its message id in ``channel_inbound`` (a unique
constraint) and stores nothing.
"""

from __future__ import annotations

import hashlib
import logging

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.channels import meta, outbound
from asthron.channels.models import ChannelConnection, ChannelContact, ChannelInbound
from asthron.channels.service import KIND_LABELS, apply_status
from asthron.conversations import service as conversations
from asthron.conversations.models import Visitor
from asthron.db import utcnow
from asthron.sites.config import MAX_MESSAGE_LENGTH
from asthron.sites.models import Site
from asthron.text import international_phone, single_line, strip_controls

log = logging.getLogger(__name__)


def client_id_for(message_id: str) -> str:
    """A widget-style client id (letters and digits) standing for a channel's message id."""
    return hashlib.sha256(message_id.encode()).hexdigest()[:40]


def _contact(db: Session, connection: ChannelConnection, item: meta.InboundText) -> ChannelContact:
    contact = db.scalar(
        sa.select(ChannelContact).where(
            ChannelContact.connection_id == connection.id,
            ChannelContact.external_id == item.sender_id,
        )
    )
    if contact is not None:
        return contact
    site = db.get(Site, connection.site_id)
    visitor, _token = conversations.start_visitor(db, site, KIND_LABELS[connection.kind])
    # The token is never handed out: this visitor speaks only through the channel.
    if connection.kind == "whatsapp":
        try:
            # Meta verified the number (the wa_id is it, without the "+"): a verified phone.
            visitor.phone = international_phone("+" + item.sender_id)
        except ValueError:
            log.warning("WhatsApp sender id %r is not a phone number", item.sender_id[:20])
    contact = ChannelContact(
        connection_id=connection.id, external_id=item.sender_id, visitor_id=visitor.id
    )
    try:
        with db.begin_nested():
            db.add(contact)
    except sa.exc.IntegrityError:
        # Their first two messages came in two deliveries at once: the other one made the
        # contact (the unique constraint decides); this visitor row is left unused and goes.
        db.delete(visitor)
        contact = db.scalar(
            sa.select(ChannelContact).where(
                ChannelContact.connection_id == connection.id,
                ChannelContact.external_id == item.sender_id,
            )
        )
        if contact is None:
            raise
    return contact


def receive_text(db: Session, connection: ChannelConnection, item: meta.InboundText) -> bool:
    """Store one inbound message unless this message id was received before. True if new."""
    try:
        with db.begin_nested():
            record = ChannelInbound(connection_id=connection.id, message_id=item.message_id[:200])
            db.add(record)
    except sa.exc.IntegrityError:
        log.info("channel %s: message %s received again, ignored", connection.id, item.message_id)
        return False
    contact = _contact(db, connection, item)
    contact.last_inbound_at = utcnow()
    visitor = db.get(Visitor, contact.visitor_id)
    if item.sender_name and not visitor.name:
        visitor.name = single_line(strip_controls(item.sender_name))[:120] or None
    visitor.last_seen_at = utcnow()
    conversation, _created = conversations.open_conversation(
        db, visitor, channel=connection.kind, thread_id=item.sender_id
    )
    record.conversation_id = conversation.id
    text = strip_controls(item.text, keep="\n\t").strip()[:MAX_MESSAGE_LENGTH] or "[empty message]"
    conversations.receive_visitor_message(
        db, visitor, conversation, text, client_id_for(item.message_id)
    )
    if conversation.owner == "assistant" and conversation.status == "open":
        outbound.queue_typing(db, connection, item.sender_id, item.message_id)
    return True


def handle_delivery(db: Session, connection: ChannelConnection, payload) -> dict:
    """Everything in one signed delivery; returns counts for the log."""
    counts = {"stored": 0, "replayed": 0, "statuses": 0, "ignored": 0}
    kind = meta.OBJECT_KINDS.get(payload.get("object")) if isinstance(payload, dict) else None
    if kind is not None and kind != connection.kind:
        log.warning("channel %s (%s) got a %s delivery", connection.id, connection.kind, kind)
        counts["ignored"] += 1
        return counts
    for item in meta.parse(payload):
        if isinstance(item, meta.Ignored):
            log.info("channel %s: ignored %s", connection.id, item.what)
            counts["ignored"] += 1
        elif item.account_id != connection.account_id:
            log.warning("channel %s: item for another account ignored", connection.id)
            counts["ignored"] += 1
        elif isinstance(item, meta.InboundText):
            counts["stored" if receive_text(db, connection, item) else "replayed"] += 1
        else:
            counts["statuses"] += apply_status(db, connection, item)
    return counts

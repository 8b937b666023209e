"""Replies going back out through the channel a conversation came from.

The ``outbound_message`` hook runs in the transaction that stores an assistant, staff or
system message: it splits the text to the channel's limit, writes one ``channel_messages`` row
per part and an outbox item, so a rolled-back message sends nothing and a committed one is
sent even if the process dies (the outbox sweeper). Nothing streams: the finished text is sent.
Each part is sent once: the Graph API's message id is committed as soon as it answers, and a
retry (a 500, a timeout) skips the parts that already have one. WhatsApp's 24-hour window is
checked first: outside it a person's free-form reply is refused (an approved template can go).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.channels import graph
from asthron.channels import service as channels
from asthron.channels.models import ChannelConnection, ChannelContact, ChannelMessage
from asthron.conversations.hooks import OutboundMessage
from asthron.conversations.models import Conversation, ConversationEvent
from asthron.conversations.service import CARD_FALLBACK
from asthron.db import new_transaction
from asthron.jobs.service import PermanentJobError, add_outbox_item, outbox_handler

log = logging.getLogger(__name__)

SEND_KIND = "channels.send"
TYPING_KIND = "channels.typing"
# The longest text one message may carry on each channel.
TEXT_LIMITS = {"whatsapp": 4096, "messenger": 2000, "instagram": 1000}
TEMPLATE_NAME_MAX = 512


def split_text(text: str, limit: int) -> list[str]:
    """The text in parts of at most ``limit`` characters, cut at a paragraph, a line, a
    sentence or a word where one is near enough, mid-word only when nothing else fits."""
    text = text.strip()
    parts = []
    while len(text) > limit:
        window = text[: limit + 1]
        cut = -1
        for separator in ("\n\n", "\n", ". ", " "):
            at = window.rfind(separator, limit // 2)
            if at > 0:
                cut = at + (1 if separator == ". " else 0)
                break
        if cut <= 0:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


def _parts(connection: ChannelConnection, event: ConversationEvent) -> list[dict]:
    """What each Graph call carries, recomputed identically on every attempt."""
    template = (event.data or {}).get("template")
    if template:
        return [{"template": template}]
    text = event.body
    if event.type == "card":
        # Widget-only: the channel gets the card's own words for a chat without cards.
        text = (event.data or {}).get(CARD_FALLBACK) or event.body
    return [{"text": part} for part in split_text(text, TEXT_LIMITS[connection.kind])]


def queue_outbound(db: Session, message: OutboundMessage) -> None:
    """The ``outbound_message`` hook: queue the event's delivery, or refuse it."""
    conversation, event = message.conversation, message.event
    contact = channels.contact_of(db, conversation)
    connection = db.get(ChannelConnection, contact.connection_id) if contact else None
    by_person = event.type == "staff_message"
    if connection is None or not connection.enabled:
        if by_person:
            raise channels.ChannelError(
                "This conversation's channel is no longer connected; the reply cannot be sent."
            )
        log.warning("conversation %s: its channel is disconnected", conversation.id)
        return
    is_template = bool((event.data or {}).get("template"))
    if connection.kind == "whatsapp" and not is_template and not channels.window_open(contact):
        if by_person:
            raise channels.TemplateRequired(
                "WhatsApp's 24-hour window is closed: they last wrote more than a day ago. "
                "Only an approved template message can be sent until they write again."
            )
        log.info("conversation %s: window closed, %s not sent", conversation.id, event.type)
        return
    for number, _part in enumerate(_parts(connection, event)):
        db.add(
            ChannelMessage(
                connection_id=connection.id,
                conversation_id=conversation.id,
                event_id=event.id,
                part=number,
            )
        )
    event.data = {**(event.data or {}), "channel_status": "queued"}
    db.flush()
    add_outbox_item(db, SEND_KIND, {"event_id": event.id})


def _graph_call(connection: ChannelConnection, contact: ChannelContact, part: dict, event):
    """(path, payload) of one part for this channel."""
    to = contact.external_id
    if connection.kind == "whatsapp":
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
        if "template" in part:
            template = part["template"]
            payload.update(
                type="template",
                template={"name": template["name"], "language": {"code": template["language"]}},
            )
        else:
            payload.update(type="text", text={"preview_url": False, "body": part["text"]})
        return f"{connection.send_id}/messages", payload
    payload = {"recipient": {"id": to}, "message": {"text": part.get("text", "")}}
    if event.type == "staff_message" and not channels.window_open(contact):
        # Messenger and Instagram let a person answer for 7 days with the human-agent tag.
        payload.update(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
    else:
        payload["messaging_type"] = "RESPONSE"
    return f"{connection.send_id}/messages", payload


def _sent_id(connection: ChannelConnection, answer: dict) -> str | None:
    if connection.kind == "whatsapp":
        messages = answer.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else {}
        value = first.get("id") if isinstance(first, dict) else None
    else:
        value = answer.get("message_id")
    return value[:200] if isinstance(value, str) and value else None


@outbox_handler(SEND_KIND)
def send(ctx, payload: dict) -> None:
    """Send every part of one event that has not been sent yet (idempotent per part)."""
    db = ctx.db
    event = db.get(ConversationEvent, payload["event_id"])
    rows = list(
        db.scalars(
            sa.select(ChannelMessage)
            .where(ChannelMessage.event_id == payload["event_id"])
            .order_by(ChannelMessage.part)
        )
    )
    if event is None or not rows:
        return
    connection = db.get(ChannelConnection, rows[0].connection_id)
    conversation = db.get(Conversation, event.conversation_id)
    contact = channels.contact_of(db, conversation) if conversation else None
    if contact is None or not connection.enabled:
        raise PermanentJobError("the channel was disconnected")
    config = graph.GraphConfig.from_settings(ctx.settings)
    token = ctx.secret_box.decrypt(connection.access_token_encrypted)
    parts = _parts(connection, event)
    for row in rows:
        if row.external_id is not None or row.status == "failed" or row.part >= len(parts):
            continue
        path, body = _graph_call(connection, contact, parts[row.part], event)
        try:
            answer = graph.request(config, "POST", path, token, body)
        except graph.GraphError as exc:
            log.warning("channel %s: sending event %s failed: %s", connection.id, event.id, exc)
            if exc.retryable:
                raise
            _record(ctx.registry, row.id, None, exc.message)
            raise PermanentJobError(exc.message) from None
        # Committed at once: a failure of a later part must not make this one go out again.
        _record(ctx.registry, row.id, _sent_id(connection, answer), None)


def _record(registry, row_id: int, external_id: str | None, error: str | None) -> None:
    with new_transaction(registry) as db:
        row = db.get(ChannelMessage, row_id)
        if external_id:
            row.external_id = external_id
            channels.set_status(db, row, "sent")
        else:
            channels.set_status(db, row, "failed", error or "not accepted")


def queue_typing(db: Session, connection: ChannelConnection, sender_id: str, message_id: str):
    """Show "typing…" while the assistant prepares its reply, where the channel has it."""
    add_outbox_item(
        db,
        TYPING_KIND,
        {"connection_id": connection.id, "to": sender_id, "message_id": message_id},
    )


@outbox_handler(TYPING_KIND)
def send_typing(ctx, payload: dict) -> None:
    """Best effort, never retried: a late typing indicator is worse than none."""
    connection = ctx.db.get(ChannelConnection, payload["connection_id"])
    if connection is None or not connection.enabled:
        return
    if connection.kind == "whatsapp":
        # Marks their message read and shows the typing indicator until the reply.
        body = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": payload["message_id"],
            "typing_indicator": {"type": "text"},
        }
    else:
        body = {"recipient": {"id": payload["to"]}, "sender_action": "typing_on"}
    try:
        graph.request(
            graph.GraphConfig.from_settings(ctx.settings),
            "POST",
            f"{connection.send_id}/messages",
            ctx.secret_box.decrypt(connection.access_token_encrypted),
            body,
        )
    except graph.GraphError as exc:
        raise PermanentJobError(f"typing indicator not shown: {exc.message}") from None


def check_template(name: str, language: str) -> tuple[str, str]:
    """An approved template's name (lowercase letters, digits, _) and language code."""
    name, language = (name or "").strip(), (language or "").strip()
    if not (0 < len(name) <= TEMPLATE_NAME_MAX) or not all(
        c.islower() or c.isdigit() or c == "_" for c in name
    ):
        raise channels.ChannelError(
            "The template name is as approved in WhatsApp Manager: lowercase letters, digits, _."
        )
    if not (2 <= len(language) <= 15) or not all(c.isalpha() or c in "_-" for c in language):
        raise channels.ChannelError("The language is a code such as en_US.")
    return name, language

"""Channel connections (audited, secrets encrypted), delivery statuses and WhatsApp's
24-hour customer-service window. Statuses only ever move forward."""

from __future__ import annotations

import datetime as dt
import logging
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.audit.service import Actor
from asthron.audit.service import record as audit
from asthron.channels import meta
from asthron.channels.models import (
    KINDS,
    ChannelConnection,
    ChannelContact,
    ChannelInbound,
    ChannelMessage,
)
from asthron.conversations import service as conversations
from asthron.conversations.hooks import SidePanel
from asthron.conversations.models import Conversation, ConversationEvent
from asthron.db import utcnow
from asthron.security.crypto import masked
from asthron.sites.models import Site
from asthron.text import single_line, strip_controls

log = logging.getLogger(__name__)

KIND_LABELS = {"whatsapp": "WhatsApp", "messenger": "Messenger", "instagram": "Instagram"}
# WhatsApp's customer-service window: free-form messages only within 24 hours of theirs.
SERVICE_WINDOW = dt.timedelta(hours=24)
STATUS_RANK = {"queued": 0, "sent": 1, "delivered": 2, "read": 3}
MAX_WEBHOOK_BYTES = 256 * 1024


class ChannelError(conversations.ConversationError):
    """A refused change or message; the message is for the person who made it."""

    code = "invalid_input"


class TemplateRequired(ChannelError):
    code = "template_required"


def option(settings, name: str, default: str) -> str:
    value = settings.extra.get(f"asthron.channels.{name}")
    return value if value not in (None, "") else default


def max_webhook_bytes(settings) -> int:
    return int(option(settings, "max_webhook_bytes", str(MAX_WEBHOOK_BYTES)))


# -- connections ------------------------------------------------------------------------------


def list_connections(db: Session) -> list[ChannelConnection]:
    return list(db.scalars(sa.select(ChannelConnection).order_by(ChannelConnection.id)))


def _clean_id(value: str, label: str) -> str:
    value = (value or "").strip()
    if not (value.isascii() and value.isdigit() and 1 <= len(value) <= 64):
        raise ChannelError(f"{label} is the number Meta shows for it (digits only).")
    return value


def _clean_secret(value: str, label: str, required: bool = True) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise ChannelError(f"Enter the {label}.")
        return None
    if len(value) > 1000 or any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise ChannelError(f"The {label} is not valid.")
    return value


def connect(
    db: Session,
    box,
    actor: Actor,
    *,
    site_id: int,
    kind: str,
    account_id: str,
    send_id: str | None,
    label: str,
    access_token: str,
    app_secret: str,
) -> tuple[ChannelConnection, str]:
    """A new connection and its webhook verify token (shown on its page, for Meta's form)."""
    if kind not in KINDS:
        raise ChannelError("Choose WhatsApp, Messenger or Instagram.")
    if db.get(Site, site_id) is None:
        raise ChannelError("Choose a site.")
    account_id = _clean_id(account_id, "The account id")
    send_id = _clean_id(send_id, "The page id") if kind == "instagram" else account_id
    label = single_line(strip_controls(label or "")).strip()[:120] or KIND_LABELS[kind]
    token = _clean_secret(access_token, "access token")
    secret = _clean_secret(app_secret, "app secret")
    if db.scalar(
        sa.select(ChannelConnection.id).where(
            ChannelConnection.kind == kind, ChannelConnection.account_id == account_id
        )
    ):
        raise ChannelError("That account is already connected.")
    verify_token = secrets.token_urlsafe(24)
    connection = ChannelConnection(
        site_id=site_id,
        kind=kind,
        account_id=account_id,
        send_id=send_id,
        label=label,
        access_token_encrypted=box.encrypt(token),
        app_secret_encrypted=box.encrypt(secret),
        verify_token_encrypted=box.encrypt(verify_token),
        enabled=True,
    )
    db.add(connection)
    db.flush()
    audit(
        db,
        actor,
        "channel.connect",
        "channel_connection",
        connection.id,
        {"kind": kind, "account_id": account_id, "site_id": site_id},
    )
    return connection, verify_token


def update_connection(
    db: Session,
    box,
    actor: Actor,
    connection: ChannelConnection,
    *,
    label: str,
    enabled: bool,
    access_token: str = "",
    app_secret: str = "",
) -> None:
    """Blank secrets keep the stored ones (the page shows them masked, never in full)."""
    token = _clean_secret(access_token, "access token", required=False)
    secret = _clean_secret(app_secret, "app secret", required=False)
    changed = {}
    label = single_line(strip_controls(label or "")).strip()[:120] or connection.label
    if label != connection.label:
        connection.label, changed["label"] = label, label
    if enabled != connection.enabled:
        connection.enabled, changed["enabled"] = enabled, enabled
    if token:
        connection.access_token_encrypted, changed["access_token"] = box.encrypt(token), "replaced"
    if secret:
        connection.app_secret_encrypted, changed["app_secret"] = box.encrypt(secret), "replaced"
    if changed:
        audit(db, actor, "channel.update", "channel_connection", connection.id, changed)


def disconnect(db: Session, actor: Actor, connection: ChannelConnection) -> None:
    """Conversations stay (they are the business's records); the connection and what only it
    knew (contacts, delivery ids) go."""
    audit(
        db,
        actor,
        "channel.disconnect",
        "channel_connection",
        connection.id,
        {"kind": connection.kind, "account_id": connection.account_id},
    )
    for model in (ChannelMessage, ChannelInbound, ChannelContact):
        db.execute(sa.delete(model).where(model.connection_id == connection.id))
    db.delete(connection)


def connection_for(db: Session, connection_id: int) -> ChannelConnection | None:
    connection = db.get(ChannelConnection, connection_id)
    return connection if connection is not None and connection.enabled else None


def masked_secrets(box, connection: ChannelConnection) -> dict:
    return {
        "access_token": masked(box.decrypt(connection.access_token_encrypted)),
        "app_secret": masked(box.decrypt(connection.app_secret_encrypted)),
    }


def verify_token(box, connection: ChannelConnection) -> str:
    return box.decrypt(connection.verify_token_encrypted)


def check_verification(box, connection: ChannelConnection | None, mode, token) -> bool:
    """Meta's subscription handshake: hub.mode=subscribe and our verify token."""
    if connection is None or mode != "subscribe" or not isinstance(token, str):
        return False
    return secrets.compare_digest(token.encode(), verify_token(box, connection).encode())


# -- statuses -----------------------------------------------------------------------------------


def _moves_forward(current: str, new: str) -> bool:
    if new == "failed":
        return current in ("queued", "sent")
    return new in STATUS_RANK and current in STATUS_RANK and STATUS_RANK[new] > STATUS_RANK[current]


def set_status(db: Session, message: ChannelMessage, status: str, error: str | None = None) -> bool:
    """Move a message's status forward (sent → delivered → read; failed before delivery),
    never back: receipts arrive out of order. The event's data mirrors it for the inbox."""
    if not _moves_forward(message.status, status):
        return False
    message.status, message.updated_at = status, utcnow()
    if error:
        message.error = error[:2000]
    event = db.get(ConversationEvent, message.event_id)
    if event is not None:
        data = dict(event.data or {})
        data["channel_status"] = status
        event.data = data
        conversation = db.get(Conversation, message.conversation_id)
        if conversation is not None:
            conversations.publish_inbox(db, conversation, "status")
    return True


def apply_status(db: Session, connection: ChannelConnection, item: meta.StatusUpdate) -> int:
    query = sa.select(ChannelMessage).where(ChannelMessage.connection_id == connection.id)
    if item.message_ids:
        query = query.where(ChannelMessage.external_id.in_(item.message_ids))
    elif item.watermark is not None:
        contact = db.scalar(
            sa.select(ChannelContact).where(
                ChannelContact.connection_id == connection.id,
                ChannelContact.external_id == item.recipient_id,
            )
        )
        if contact is None:
            return 0
        query = query.join(Conversation, Conversation.id == ChannelMessage.conversation_id).where(
            Conversation.visitor_id == contact.visitor_id,
            ChannelMessage.external_id.is_not(None),
            ChannelMessage.created_at <= item.watermark,
        )
    else:
        return 0
    return sum(set_status(db, m, item.status, item.error) for m in db.scalars(query))


# -- the customer-service window ----------------------------------------------------------------


def contact_of(db: Session, conversation: Conversation) -> ChannelContact | None:
    return db.scalar(
        sa.select(ChannelContact).where(ChannelContact.visitor_id == conversation.visitor_id)
    )


def window_open(contact: ChannelContact, now: dt.datetime | None = None) -> bool:
    return contact.last_inbound_at is not None and (now or utcnow()) - contact.last_inbound_at < (
        SERVICE_WINDOW
    )


def window_closes_at(contact: ChannelContact) -> dt.datetime | None:
    return contact.last_inbound_at + SERVICE_WINDOW if contact.last_inbound_at else None


def channel_panel(db: Session, conversation_id: int) -> SidePanel | None:
    """Beside a channel's conversation in the inbox: where it came from, the last message's
    status and, on WhatsApp, whether a free-form reply can still be sent."""
    conversation = db.get(Conversation, conversation_id)
    if conversation is None or conversation.channel not in KIND_LABELS:
        return None
    facts = [("Channel", KIND_LABELS[conversation.channel])]
    contact = contact_of(db, conversation)
    last = db.scalar(
        sa.select(ChannelMessage)
        .where(ChannelMessage.conversation_id == conversation_id)
        .order_by(ChannelMessage.id.desc())
        .limit(1)
    )
    if last is not None:
        facts.append(("Last reply", last.status + (f" ({last.error[:200]})" if last.error else "")))
    if conversation.channel == "whatsapp" and contact is not None:
        if window_open(contact):
            closes = window_closes_at(contact)
            facts.append(("Reply window", f"open until {closes:%Y-%m-%d %H:%M} UTC"))
        else:
            facts.append(
                (
                    "Reply window",
                    "closed: they last wrote over 24 hours ago. Only an approved template "
                    "message can be sent until they write again.",
                )
            )
    return SidePanel("Channel", facts)

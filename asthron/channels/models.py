"""Messaging channels: the connected WhatsApp numbers and Meta pages, the people who write
through them, the deliveries received and the messages sent with their statuses."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from asthron.db import Base, UTCDateTime, utcnow
from asthron.personal_data import not_personal, personal_data

KINDS = ("whatsapp", "messenger", "instagram")
# Statuses move forward only: a late "delivered" never replaces "read" (see service.py).
STATUSES = ("queued", "sent", "delivered", "read", "failed")


class ChannelConnection(Base):
    """One WhatsApp business number (its phone number id) or one Facebook page / Instagram
    account, attached to a site. Its tokens are Fernet-encrypted."""

    __tablename__ = "channel_connections"
    __table_args__ = (
        sa.UniqueConstraint("kind", "account_id"),
        sa.CheckConstraint("kind IN ('whatsapp', 'messenger', 'instagram')", name="kind"),
        not_personal("the business's own channel settings"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    # WhatsApp: the phone number id; Messenger: the page id; Instagram: the Instagram account
    # id the webhooks name (messages are sent through the page, ``send_id``).
    account_id: Mapped[str] = mapped_column(sa.String(64))
    send_id: Mapped[str] = mapped_column(sa.String(64))
    label: Mapped[str] = mapped_column(sa.String(120))
    access_token_encrypted: Mapped[str] = mapped_column(sa.Text)
    app_secret_encrypted: Mapped[str] = mapped_column(sa.Text)
    verify_token_encrypted: Mapped[str] = mapped_column(sa.Text)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChannelContact(Base):
    """A person on a channel (a WhatsApp number, a page-scoped id): one visitor for good."""

    __tablename__ = "channel_contacts"
    __table_args__ = (
        sa.UniqueConstraint("connection_id", "external_id"),
        sa.UniqueConstraint("visitor_id"),
        personal_data(links={"visitor_id": "visitor"}, mentions=("external_id",)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        sa.ForeignKey("channel_connections.id", ondelete="CASCADE")
    )
    external_id: Mapped[str] = mapped_column(sa.String(128))
    visitor_id: Mapped[int] = mapped_column(sa.ForeignKey("visitors.id", ondelete="CASCADE"))
    # The start of WhatsApp's 24-hour customer-service window: their last message.
    last_inbound_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ChannelInbound(Base):
    """A message id received once: a replayed delivery finds it and stores nothing again."""

    __tablename__ = "channel_inbound"
    __table_args__ = (
        sa.UniqueConstraint("connection_id", "message_id"),
        personal_data(links={"conversation_id": "conversation"}, retention="events"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        sa.ForeignKey("channel_connections.id", ondelete="CASCADE")
    )
    message_id: Mapped[str] = mapped_column(sa.String(200))
    conversation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChannelMessage(Base):
    """One message sent (or to send) through a channel: a part of a conversation event, split
    to the channel's length limit. A part with an ``external_id`` was accepted by the Graph API
    and is never sent again, whatever retries follow."""

    __tablename__ = "channel_messages"
    __table_args__ = (
        sa.UniqueConstraint("event_id", "part"),
        sa.UniqueConstraint("external_id"),
        sa.CheckConstraint(
            "status IN ('queued', 'sent', 'delivered', 'read', 'failed')", name="status"
        ),
        personal_data(links={"conversation_id": "conversation"}, mentions=("error",)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        sa.ForeignKey("channel_connections.id", ondelete="CASCADE")
    )
    conversation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int] = mapped_column(
        sa.ForeignKey("conversation_events.id", ondelete="CASCADE")
    )
    part: Mapped[int] = mapped_column(default=0)
    external_id: Mapped[str | None] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

"""Visitors, conversations and the append-only conversation event log."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from asthron.db import Base, UTCDateTime, utcnow
from asthron.personal_data import personal_data

EVENT_TYPES = (
    "visitor_message",
    "assistant_message",
    "staff_message",
    "system",
    "note",
    "card",
)
OWNERS = ("assistant", "waiting", "human")
LIFECYCLES = ("open", "closed")


class Visitor(Base):
    """A browser on a site, known by a bearer token whose SHA-256 alone is stored.

    No IP address is stored; the user agent and current page help staff give context.
    """

    __tablename__ = "visitors"
    __table_args__ = (
        sa.UniqueConstraint("token_hash"),
        personal_data(
            entity="visitor",
            identifiers={"email": "email", "verified_email": "email", "phone": "phone"},
            retention="conversations",
            retention_column="last_seen_at",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))
    current_page_url: Mapped[str | None] = mapped_column(sa.String(2000))
    timezone: Mapped[str | None] = mapped_column(sa.String(64))
    consent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    consent_notice: Mapped[str | None] = mapped_column(sa.Text)
    # The version of the site's privacy page (sites.privacy_policy_version) when they agreed.
    consent_policy_version: Mapped[int | None]
    name: Mapped[str | None] = mapped_column(sa.String(120))
    email: Mapped[str | None] = mapped_column(sa.String(320))
    # E.164, set by staff (inbox correction); the visitor never sets it directly.
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    # Set only when the business's backend signed the identity (HMAC), never from a claim.
    verified_email: Mapped[str | None] = mapped_column(sa.String(320))
    # Set by the unsubscribe link of reply emails: none is sent to this visitor again.
    email_opt_out_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        # One open conversation per visitor, decided by the database, not check-then-insert:
        # open_slot is 1 while open and NULL once closed, and NULLs never collide.
        sa.UniqueConstraint("visitor_id", "open_slot"),
        sa.CheckConstraint("status IN ('open', 'closed')", name="status"),
        sa.CheckConstraint("owner IN ('assistant', 'waiting', 'human')", name="owner"),
        sa.CheckConstraint("open_slot IS NULL OR open_slot = 1", name="open_slot"),
        sa.Index("ix_conversations_site_id_last_activity_at", "site_id", "last_activity_at"),
        sa.Index("ix_conversations_channel", "channel"),
        # The staff inbox (bench/inbox_list.py): newest activity first, keyset-paginated on
        # (last_activity_at, id), without sorting the whole table for every list and push...
        sa.Index("ix_conversations_last_activity_at_id", "last_activity_at", "id"),
        # ...and the chats waiting for a person, longest-waiting first (a few rows: partial).
        sa.Index(
            "ix_conversations_waiting_since_waiting",
            "waiting_since",
            sqlite_where=sa.text("owner = 'waiting'"),
            postgresql_where=sa.text("owner = 'waiting'"),
        ),
        personal_data(
            entity="conversation",
            links={"visitor_id": "visitor"},
            retention="conversations",
            retention_column="last_activity_at",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"))
    visitor_id: Mapped[int] = mapped_column(
        sa.ForeignKey("visitors.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(sa.String(8), default="open")
    open_slot: Mapped[int | None] = mapped_column(default=1)
    owner: Mapped[str] = mapped_column(sa.String(16), default="assistant")
    assigned_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_activity_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    waiting_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The last public event id each side has read; unread counts derive from these.
    visitor_read_event_id: Mapped[int] = mapped_column(default=0)
    staff_read_event_id: Mapped[int] = mapped_column(default=0)
    unread_for_staff: Mapped[int] = mapped_column(default=0)
    unread_for_visitor: Mapped[int] = mapped_column(default=0)
    # The last staff event the visitor was emailed about (one email per batch of replies).
    visitor_emailed_event_id: Mapped[int] = mapped_column(default=0, server_default="0")
    # When the on-duty staff were emailed that this chat is waiting (once per wait).
    waiting_alert_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Consecutive assistant replies that did not answer (for the handoff rule).
    unanswered_streak: Mapped[int] = mapped_column(default=0, server_default="0")
    # The way in and out: "web" (the widget) or a messaging channel (asthron.channels:
    # whatsapp, messenger, instagram), whose replies go back the same way.
    channel: Mapped[str] = mapped_column(sa.String(16), default="web", server_default="web")
    # The other side's id on that channel (a WhatsApp number, a page-scoped user id).
    channel_thread_id: Mapped[str | None] = mapped_column(sa.String(128))

    visitor: Mapped[Visitor] = relationship()


class ConversationEvent(Base):
    """One entry in a conversation's log. The id is global and increasing, so "events after
    N" is one indexed range scan, and SSE reuses it as the Last-Event-ID."""

    __tablename__ = "conversation_events"
    __table_args__ = (
        # Retrying a send with the same client-generated id never duplicates the message.
        sa.UniqueConstraint("conversation_id", "client_id"),
        sa.Index("ix_conversation_events_conversation_id_id", "conversation_id", "id"),
        sa.CheckConstraint(
            "type IN ('visitor_message', 'assistant_message', 'staff_message', 'system', 'note', "
            "'card')",
            name="type",
        ),
        # Never reuse the id of a deleted last row: readers resume from "after N".
        {"sqlite_autoincrement": True, **personal_data(links={"conversation_id": "conversation"})},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("conversations.id", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(sa.String(24))
    author_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    author_name: Mapped[str | None] = mapped_column(sa.String(120))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    client_id: Mapped[str | None] = mapped_column(sa.String(64))
    # Public events reach the visitor; internal ones (notes) only staff.
    public: Mapped[bool] = mapped_column(default=True)
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class VisitorPageView(Base):
    """Pages a visitor had open while chatting (context for staff), kept short."""

    __tablename__ = "visitor_page_views"
    __table_args__ = (
        sa.Index("ix_visitor_page_views_visitor_id_id", "visitor_id", "id"),
        personal_data(
            links={"visitor_id": "visitor"}, retention="page_views", retention_column="seen_at"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    visitor_id: Mapped[int] = mapped_column(sa.ForeignKey("visitors.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(sa.String(2000))
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

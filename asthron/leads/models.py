"""Leads: people to follow up, how they were captured, qualified and worked."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from asthron.db import Base, UTCDateTime, utcnow
from asthron.personal_data import not_personal, personal_data

LEAD_STATUSES = ("new", "contacted", "qualified", "won", "lost")
QUESTION_KINDS = ("text", "single", "multi", "number", "date")
FORM_FIELD_KINDS = ("text", "email", "phone", "textarea", "select")


class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (
        # Dedupe is decided by the database: one lead per email and per phone.
        sa.UniqueConstraint("email"),
        sa.UniqueConstraint("phone"),
        sa.CheckConstraint(
            "status IN ('new', 'contacted', 'qualified', 'won', 'lost')", name="status"
        ),
        sa.Index("ix_leads_created_at_id", "created_at", "id"),
        personal_data(
            entity="lead",
            identifiers={"email": "email", "phone": "phone"},
            links={"ai_note_conversation_id": "conversation"},
            retention="leads",
            retention_column="updated_at",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(120))
    email: Mapped[str | None] = mapped_column(sa.String(320))  # lower-cased
    phone: Mapped[str | None] = mapped_column(sa.String(20))  # E.164
    company: Mapped[str | None] = mapped_column(sa.String(200))
    custom_fields: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    source_site_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sites.id", ondelete="SET NULL"), index=True
    )
    source_page: Mapped[str | None] = mapped_column(sa.String(2000))
    utm: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    consent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    consent_notice: Mapped[str | None] = mapped_column(sa.Text)
    consent_notice_version: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16), default="new")
    qualified: Mapped[bool] = mapped_column(default=False)
    qualified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    assigned_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    tags: Mapped[list] = mapped_column(sa.JSON, default=list)
    ai_note: Mapped[str | None] = mapped_column(sa.Text)
    ai_note_edited: Mapped[bool] = mapped_column(default=False)
    ai_note_conversation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("conversations.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    conversations: Mapped[list[LeadConversation]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )


class LeadConversation(Base):
    __tablename__ = "lead_conversations"
    __table_args__ = (
        sa.UniqueConstraint("conversation_id"),
        personal_data(links={"lead_id": "lead", "conversation_id": "conversation"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("conversations.id", ondelete="CASCADE")
    )
    linked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LeadProposal(Base):
    """An unverified claim that differs from a lead's stored data: staff accept or reject it,
    it never overwrites on its own."""

    __tablename__ = "lead_proposals"
    __table_args__ = (
        sa.CheckConstraint("state IN ('pending', 'accepted', 'rejected')", name="state"),
        personal_data(links={"lead_id": "lead", "conversation_id": "conversation"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(sa.String(64))
    value: Mapped[str] = mapped_column(sa.Text)
    conversation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("conversations.id", ondelete="SET NULL")
    )
    state: Mapped[str] = mapped_column(sa.String(10), default="pending")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LeadActivity(Base):
    """The lead's timeline: captures, merges, changes, notes, exports."""

    __tablename__ = "lead_activity"
    __table_args__ = (
        sa.Index("ix_lead_activity_lead_id_id", "lead_id", "id"),
        personal_data(links={"lead_id": "lead"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(32))  # captured, merged, changed, note, ...
    body: Mapped[str] = mapped_column(sa.Text, default="")
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    actor_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    actor_label: Mapped[str] = mapped_column(sa.String(320), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LeadForm(Base):
    """The lead-form card of one site: which fields, in what order, and when it is offered."""

    __tablename__ = "lead_forms"
    __table_args__ = (not_personal("the form's configuration; notify_emails are staff addresses"),)

    site_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    # [{"name": "email", "label": "Email", "kind": "email", "required": true, "options": []}]
    fields: Mapped[list] = mapped_column(sa.JSON, default=list)
    intro: Mapped[str] = mapped_column(
        sa.String(500), default="Leave your details and we'll follow up."
    )
    after_messages: Mapped[int] = mapped_column(default=0)  # 0: not by message count
    before_handoff: Mapped[bool] = mapped_column(default=True)
    on_booking_intent: Mapped[bool] = mapped_column(default=True)
    notify_emails: Mapped[list] = mapped_column(sa.JSON, default=list)
    custom_fields: Mapped[list] = mapped_column(sa.JSON, default=list)  # admin-defined names


class QualificationQuestion(Base):
    __tablename__ = "qualification_questions"
    __table_args__ = (
        sa.UniqueConstraint("key"),
        sa.CheckConstraint("kind IN ('text', 'single', 'multi', 'number', 'date')", name="kind"),
        not_personal("questions written by the business"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(40))  # budget, timeline, service...
    text: Mapped[str] = mapped_column(sa.String(300))
    kind: Mapped[str] = mapped_column(sa.String(8))
    options: Mapped[list] = mapped_column(sa.JSON, default=list)
    required: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)


class QualificationAnswer(Base):
    __tablename__ = "qualification_answers"
    __table_args__ = (
        sa.UniqueConstraint("lead_id", "question_id"),
        personal_data(links={"lead_id": "lead"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int] = mapped_column(
        sa.ForeignKey("qualification_questions.id", ondelete="CASCADE")
    )
    value: Mapped[dict] = mapped_column(sa.JSON)  # {"v": ...}: a string, number, list or date
    event_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("conversation_events.id", ondelete="SET NULL")
    )
    answered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LeadSettings(Base):
    """One row: the rules that make a lead qualified, and what happens then."""

    __tablename__ = "lead_settings"
    __table_args__ = (
        sa.CheckConstraint("id = 1", name="single_row"),
        not_personal("qualification rules and the default phone region"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    # All must hold: [{"question": "budget", "op": ">=", "value": 5000}, ...]
    rules: Mapped[list] = mapped_column(sa.JSON, default=list)
    handoff_when_qualified: Mapped[bool] = mapped_column(default=False)
    notify_when_qualified: Mapped[bool] = mapped_column(default=True)
    # Phone numbers typed without a country code are read as numbers of this region.
    phone_region: Mapped[str] = mapped_column(sa.String(2), default="US")

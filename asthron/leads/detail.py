"""Reading one lead: its conversations, timeline, pending proposals and answers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.conversations.hooks import TimelineSubject, message_hooks
from asthron.conversations.models import Conversation, ConversationEvent
from asthron.leads import capture
from asthron.leads.models import (
    Lead,
    LeadActivity,
    LeadConversation,
    LeadProposal,
    QualificationAnswer,
    QualificationQuestion,
)

# -- reading one lead -----------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineItem:
    when: dt.datetime
    kind: str
    body: str
    actor: str
    conversation_id: int | None = None
    data: dict = field(default_factory=dict)


def linked_conversations(db: Session, lead_id: int) -> list[Conversation]:
    return list(
        db.scalars(
            sa.select(Conversation)
            .join(LeadConversation, LeadConversation.conversation_id == Conversation.id)
            .where(LeadConversation.lead_id == lead_id)
            .order_by(Conversation.created_at.desc(), Conversation.id.desc())
        )
    )


def timeline(db: Session, lead: Lead, limit: int = 300) -> list[TimelineItem]:
    """Activity (captures, merges, changes, notes, answers), the conversations linked to the
    lead, and what other features know of the lead (``timeline_entries`` hooks: bookings),
    newest first."""
    items = []
    for entry in db.scalars(
        sa.select(LeadActivity)
        .where(LeadActivity.lead_id == lead.id)
        .order_by(LeadActivity.id.desc())
        .limit(limit)
    ):
        conversation_id = (entry.data or {}).get("conversation_id")
        items.append(
            TimelineItem(
                entry.created_at,
                entry.kind,
                entry.body,
                entry.actor_label,
                conversation_id if isinstance(conversation_id, int) else None,
                entry.data or {},
            )
        )
    conversations = linked_conversations(db, lead.id)
    for conversation in conversations:
        items.append(
            TimelineItem(
                conversation.created_at,
                "conversation_started",
                f"Conversation #{conversation.id} started ({conversation.status}).",
                "visitor",
                conversation.id,
            )
        )
    subject = TimelineSubject(tuple(c.id for c in conversations), lead.email, lead.phone)
    for entry in message_hooks(db).timeline_entries(db, subject):
        items.append(
            TimelineItem(entry.when, entry.kind, entry.body, entry.actor, entry.conversation_id)
        )
    items.sort(key=lambda item: item.when, reverse=True)
    return items


def pending_proposals(db: Session, lead_id: int) -> list[LeadProposal]:
    return list(
        db.scalars(
            sa.select(LeadProposal)
            .where(LeadProposal.lead_id == lead_id, LeadProposal.state == "pending")
            .order_by(LeadProposal.id)
        )
    )


@dataclass(frozen=True)
class AnswerRow:
    question: str
    key: str
    value: object
    answered_at: dt.datetime
    conversation_id: int | None


def answer_rows(db: Session, lead_id: int) -> list[AnswerRow]:

    rows = db.execute(
        sa.select(
            QualificationQuestion.text,
            QualificationQuestion.key,
            QualificationAnswer.value,
            QualificationAnswer.answered_at,
            ConversationEvent.conversation_id,
        )
        .join(QualificationAnswer, QualificationAnswer.question_id == QualificationQuestion.id)
        .outerjoin(ConversationEvent, ConversationEvent.id == QualificationAnswer.event_id)
        .where(QualificationAnswer.lead_id == lead_id)
        .order_by(QualificationQuestion.position, QualificationQuestion.id)
    )
    out = []
    for text, key, value, answered_at, conversation_id in rows:
        shown = (value or {}).get("v")
        if isinstance(shown, list):
            shown = ", ".join(str(v) for v in shown)
        out.append(AnswerRow(text, key, shown, answered_at, conversation_id))
    return out


def custom_field_names(db: Session, lead: Lead) -> list[str]:
    """The custom fields staff may edit: those the lead has, and those its site's form asks."""
    names = list((lead.custom_fields or {}).keys())
    if lead.source_site_id:
        for name in capture.lead_form(db, lead.source_site_id).custom_fields or []:
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names

"""Queries behind the staff views of conversations."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.conversations.models import Conversation, ConversationEvent, Visitor
from asthron.sites.models import Site


@dataclass(frozen=True)
class ConversationRow:
    conversation: Conversation
    visitor: Visitor
    site_name: str
    last_message: str | None


def recent_conversations(db: Session, limit: int = 100) -> list[ConversationRow]:
    last_event = (
        sa.select(ConversationEvent.body)
        .where(
            ConversationEvent.conversation_id == Conversation.id,
            ConversationEvent.type != "note",
        )
        .order_by(ConversationEvent.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = db.execute(
        sa.select(Conversation, Visitor, Site.name, last_event)
        .join(Visitor, Visitor.id == Conversation.visitor_id)
        .join(Site, Site.id == Conversation.site_id)
        .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
        .limit(limit)
    )
    return [ConversationRow(c, v, name, last) for c, v, name, last in rows]


def transcript(db: Session, conversation_id: int) -> list[ConversationEvent]:
    return list(
        db.scalars(
            sa.select(ConversationEvent)
            .where(ConversationEvent.conversation_id == conversation_id)
            .order_by(ConversationEvent.id)
        )
    )

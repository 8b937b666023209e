"""Staff marking an assistant reply wrong (from the conversation in the inbox).

The flag is kept on the reply's event (``data.marked_wrong``, staff-side only: not among the
keys a visitor sees), and the question it answered goes to the knowledge gaps page
(``knowledge.gaps``: conversations may use knowledge, never the reverse). Audited."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit
from asthron.audit.service import Actor
from asthron.conversations.models import ConversationEvent
from asthron.conversations.service import ConversationError
from asthron.db import utcnow
from asthron.knowledge import gaps


class NotAnAssistantReply(ConversationError):
    code = "not_an_assistant_reply"


def question_before(db: Session, event: ConversationEvent) -> ConversationEvent | None:
    """The visitor's message a reply answered: the last one before it."""
    return db.scalar(
        sa.select(ConversationEvent)
        .where(
            ConversationEvent.conversation_id == event.conversation_id,
            ConversationEvent.type == "visitor_message",
            ConversationEvent.id < event.id,
        )
        .order_by(ConversationEvent.id.desc())
        .limit(1)
    )


def mark_reply_wrong(
    db: Session, actor: Actor, conversation_id: int, event_id: int
) -> ConversationEvent:
    """Flag one assistant reply of this conversation as wrong; marking it again changes
    nothing (and records nothing twice)."""
    event = db.get(ConversationEvent, event_id)
    if (
        event is None
        or event.conversation_id != conversation_id
        or event.type != "assistant_message"
    ):
        raise NotAnAssistantReply("That message is not one of the assistant's replies here.")
    data = dict(event.data or {})
    if data.get("marked_wrong"):
        return event
    data["marked_wrong"] = {"by": actor.label, "at": utcnow().isoformat()}
    event.data = data  # a new dict: JSON columns track assignment, not mutation
    question = question_before(db, event)
    if question is not None:
        gaps.record_gap(db, question.body, "marked_wrong", conversation_id, event.id)
    audit.record(
        db,
        actor,
        "conversation.reply_marked_wrong",
        "conversation",
        conversation_id,
        {"event_id": event.id, "sources": [s.get("title") for s in data.get("sources", [])][:5]},
    )
    db.flush()
    return event

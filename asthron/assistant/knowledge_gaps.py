"""Recording knowledge gaps from the message path: a reply that said "I don't know" (no
passage was answerable), and a chat handed to a person (the question the assistant last
answered). Staff marking a reply wrong is recorded by ``conversations.feedback``."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.conversations.feedback import question_before
from asthron.conversations.hooks import HandoffRequested, StoredReply
from asthron.conversations.models import ConversationEvent
from asthron.db import new_transaction
from asthron.knowledge import gaps

log = logging.getLogger(__name__)

# Kept with the reply (staff-side event data): no passage could answer the question.
ABSTAINED_KEY = "abstained"
# Handoffs that say the assistant's answer did not do (conversations.handoff triggers).
GAP_TRIGGERS = ("visitor", "assistant")


def record_abstention(registry, reply: StoredReply) -> None:
    """after_reply: the assistant said it didn't know → the question is a gap."""
    outcome = reply.outcome
    if outcome is None or not (getattr(outcome, "data", None) or {}).get(ABSTAINED_KEY):
        return
    with new_transaction(registry) as db:
        event = db.get(ConversationEvent, reply.event.id)
        question = question_before(db, event) if event is not None else None
        if question is not None:
            gaps.record_gap(db, question.body, "abstained", reply.conversation_id, event.id)


def record_handoff(db: Session, handoff: HandoffRequested) -> None:
    """on_handoff: the question behind the assistant's last reply is a gap (the visitor
    wanted a person after it, or the assistant asked for one). Not for a rule's handoff (a
    qualified lead, a keyword, a provider failure: no sign the answer was missing), nor when
    the assistant never replied or that reply is already recorded (it had abstained)."""
    if handoff.trigger not in GAP_TRIGGERS:
        return
    conversation_id = handoff.conversation.id
    reply = db.scalar(
        sa.select(ConversationEvent)
        .where(
            ConversationEvent.conversation_id == conversation_id,
            ConversationEvent.type == "assistant_message",
        )
        .order_by(ConversationEvent.id.desc())
        .limit(1)
    )
    if reply is None or gaps.recorded_for(db, reply.id):
        return
    question = question_before(db, reply)
    if question is not None:
        gaps.record_gap(db, question.body, "handed_off", conversation_id, reply.id)

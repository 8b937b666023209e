"""Background work for leads: the AI lead note, written after capture and after the
conversation closes (and when a person presses Regenerate)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.conversations.models import Conversation
from asthron.domain_events import DomainEvent
from asthron.jobs.queue import app_task, enqueue_after_commit
from asthron.leads.models import Lead, LeadConversation
from asthron.leads.notes import write_note


@app_task()
def write_lead_note(db: Session, lead_id: int, conversation_id: int | None = None) -> str | None:
    lead = db.get(Lead, lead_id)
    if lead is None:
        return None
    return write_note(db, lead, conversation_id)


def note_after_commit(db: Session, lead_id: int, conversation_id: int | None = None) -> None:
    """Queue the note once the current transaction commits (never if it aborts)."""
    enqueue_after_commit(write_lead_note, lead_id, conversation_id, db=db)


def note_after_capture(db: Session, event: DomainEvent) -> None:
    """The ``lead.created`` subscriber."""
    note_after_commit(db, event.payload["lead_id"], event.payload.get("conversation_id"))


def note_after_close(db: Session, conversation: Conversation) -> None:
    """The on-close hook: only a conversation linked to a lead gets a note."""
    lead_id = db.scalar(
        sa.select(LeadConversation.lead_id).where(
            LeadConversation.conversation_id == conversation.id
        )
    )
    if lead_id is not None:
        note_after_commit(db, lead_id, conversation.id)

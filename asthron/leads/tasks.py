"""Background work for leads: the AI lead note, written after capture and after the
conversation closes (and when a person presses Regenerate)."""

from __future__ import annotations

import transaction

from asthron.db import get_tm_session
from asthron.jobs.queue import app_context, enqueue_after_commit, huey


@huey.task()
def write_lead_note(lead_id: int, conversation_id: int | None = None) -> str | None:
    from asthron.leads.models import Lead
    from asthron.leads.notes import write_note

    registry = app_context["registry"]
    tm = transaction.TransactionManager(explicit=True)
    with tm:
        db = get_tm_session(registry["dbsession_factory"], tm)
        lead = db.get(Lead, lead_id)
        if lead is None:
            return None
        responder = getattr(registry.get("reply_runner"), "responder", None)
        return write_note(db, lead, responder, conversation_id)


def note_after_commit(db, lead_id: int, conversation_id: int | None = None) -> None:
    """Queue the note once the current transaction commits (never if it aborts)."""
    enqueue_after_commit(
        write_lead_note,
        lead_id,
        conversation_id,
        transaction_manager=db.info.get("transaction_manager"),
    )


def note_after_capture(db, lead, conversation=None) -> None:
    """Called by capture.capture when it creates a lead."""
    note_after_commit(db, lead.id, conversation.id if conversation is not None else None)


def note_after_close(db, conversation_id: int) -> None:
    """Called when a conversation closes: only a conversation linked to a lead gets a note."""
    import sqlalchemy as sa

    from asthron.leads.models import LeadConversation

    lead_id = db.scalar(
        sa.select(LeadConversation.lead_id).where(
            LeadConversation.conversation_id == conversation_id
        )
    )
    if lead_id is not None:
        note_after_commit(db, lead_id, conversation_id)

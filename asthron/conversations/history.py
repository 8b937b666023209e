"""Reading a conversation's event log: the one place that queries it for features.

``history`` returns events oldest first; ``transcript`` turns them into the plain
"author: text" lines given to a model or shown in a note.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.conversations.models import ConversationEvent

AUTHOR_OF_TYPE = {
    "visitor_message": "visitor",
    "assistant_message": "assistant",
    "staff_message": "staff",
    "system": "system",
    "note": "staff",
    # Interactive cards in the chat (the lead form, confirmations, later bookings).
    "card": "assistant",
}


def history(
    db: Session,
    conversation_id: int | None,
    *,
    public_only: bool = False,
    types: Iterable[str] | None = None,
    last: int | None = None,
    before_id: int | None = None,
) -> list[ConversationEvent]:
    """The conversation's events, oldest first: all of them, or the ``last`` N that match."""
    if conversation_id is None:
        return []
    query = sa.select(ConversationEvent).where(ConversationEvent.conversation_id == conversation_id)
    if public_only:
        query = query.where(ConversationEvent.public.is_(True))
    if types is not None:
        query = query.where(ConversationEvent.type.in_(list(types)))
    if before_id is not None:
        query = query.where(ConversationEvent.id < before_id)
    if last is None:
        return list(db.scalars(query.order_by(ConversationEvent.id)))
    newest_first = db.scalars(query.order_by(ConversationEvent.id.desc()).limit(last))
    return list(reversed(list(newest_first)))


def latest(
    db: Session, conversation_id: int, type: str, before_id: int | None = None
) -> ConversationEvent | None:
    found = history(db, conversation_id, types=[type], last=1, before_id=before_id)
    return found[0] if found else None


def transcript(events: Sequence[ConversationEvent], limit: int = 20) -> str:
    """The last ``limit`` events as "author: text" lines."""
    return "\n".join(f"{AUTHOR_OF_TYPE[e.type]}: {e.body}" for e in events[-limit:])

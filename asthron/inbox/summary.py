"""The summary a person reads when they join: what the visitor wants, in a few lines.

A model writes it when one is configured; the built-in provider writes an extractive one
(the visitor's own first and latest messages, and the contact details they gave).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.assistant.providers.builtin import extract_contacts
from asthron.conversations.models import Conversation, ConversationEvent
from asthron.inbox.models import ConversationSummary

MAX_QUOTE = 240


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTE else text[: MAX_QUOTE - 1] + "…"


def extractive_summary(events: list[ConversationEvent]) -> str:
    visitor = [e.body for e in events if e.type == "visitor_message" and e.public]
    if not visitor:
        return "The visitor has not written anything yet."
    lines = [f"First message: “{_quote(visitor[0])}”"]
    if len(visitor) > 1:
        lines.append(f"Latest message: “{_quote(visitor[-1])}”")
    lines.append(f"{len(visitor)} visitor message(s) so far.")
    contacts = extract_contacts(" ".join(visitor))
    found = [f"{k}: {v}" for k, v in contacts.items() if v]
    if found:
        lines.append("Contact given: " + ", ".join(found) + ".")
    reasons = [e.body for e in events if e.type == "note" and (e.data or {}).get("handoff_trigger")]
    if reasons:
        lines.append(reasons[-1])
    return "\n".join(lines)


def write_summary(db: Session, conversation: Conversation, responder=None) -> ConversationSummary:
    events = list(
        db.scalars(
            sa.select(ConversationEvent)
            .where(ConversationEvent.conversation_id == conversation.id)
            .order_by(ConversationEvent.id)
        )
    )
    text, provider = None, "builtin"
    summarize = getattr(responder, "summarize", None)
    if summarize is not None:
        result = summarize(db, conversation, [e for e in events if e.public])
        if result:
            text, provider = result
    if not text:
        text = extractive_summary(events)
    summary = db.get(ConversationSummary, conversation.id) or ConversationSummary(
        conversation_id=conversation.id
    )
    summary.text, summary.provider = text, provider
    summary.up_to_event_id = events[-1].id if events else 0
    db.add(summary)
    return summary

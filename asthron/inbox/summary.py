"""The summary a person reads when they join: what the visitor wants, in a few lines.

A model writes it when one is configured; the built-in provider writes an extractive one
(the visitor's own first and latest messages, and the contact details they gave).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from asthron.assistant.model_tasks import model_tasks
from asthron.assistant.providers.builtin import extract_contacts
from asthron.conversations.history import history, transcript
from asthron.conversations.models import Conversation, ConversationEvent
from asthron.inbox.models import ConversationSummary

MAX_QUOTE = 240
SUMMARY_SCHEMA = {
    "type": "object",
    "properties": {"summary": {"type": "string", "minLength": 1, "maxLength": 1200}},
    "required": ["summary"],
}
SUMMARY_INSTRUCTION = (
    "Summarise this website chat for the team member about to join it: who the visitor is if "
    "known, what they want, what was already answered, and what is still open. At most five "
    "short lines."
)


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


def model_summary(db: Session, conversation: Conversation, events) -> str | None:
    result = model_tasks(db).structured(
        db,
        purpose="summary",
        instruction=SUMMARY_INSTRUCTION,
        material=transcript([e for e in events if e.public], 60),
        schema=SUMMARY_SCHEMA,
        conversation_id=conversation.id,
    )
    return result["summary"] if result else None


def write_summary(db: Session, conversation: Conversation) -> ConversationSummary:
    events = history(db, conversation.id)
    text = model_summary(db, conversation, events)
    provider = "model" if text else "builtin"
    if not text:
        text = extractive_summary(events)
    summary = db.get(ConversationSummary, conversation.id) or ConversationSummary(
        conversation_id=conversation.id
    )
    summary.text, summary.provider = text, provider
    summary.up_to_event_id = events[-1].id if events else 0
    db.add(summary)
    return summary

"""When a conversation goes to a person: the visitor asks, a keyword rule fires, the reply
went unanswered too often, the provider failed, a lead qualified, or the model decides.

The model's decision costs a call, so it is asked only on a cheap signal: the visitor sounds
unhappy or asks for something a person must do, or the reply itself sounds unsure. Everything
else is decided by rules on the message and the reply's own data.
"""

from __future__ import annotations

import logging
import re

from sqlalchemy.orm import Session

from asthron.assistant.model_tasks import model_tasks
from asthron.conversations.handoff import asks_for_person, request_handoff
from asthron.conversations.history import history, latest, transcript
from asthron.conversations.hooks import StoredReply, VisitorMessage
from asthron.conversations.models import Conversation
from asthron.db import new_transaction
from asthron.domain_events import DomainEvent
from asthron.inbox.models import HandoffRules
from asthron.snapshots import frozen, snapshots

log = logging.getLogger(__name__)

DECISION_SCHEMA = {
    "type": "object",
    "properties": {
        "handoff": {"type": "boolean"},
        "answered": {"type": "boolean"},
        "reason": {"type": "string", "maxLength": 300},
    },
    "required": ["handoff", "answered", "reason"],
    "additionalProperties": False,
}
DECISION_INSTRUCTION = (
    "You review a website chat between a visitor and an AI assistant. Decide whether a "
    "person from the business should take over (the visitor is upset, asks for something "
    "only a person can do, or the assistant cannot help), and whether the assistant's last "
    "reply answered the visitor. Give a short reason for staff."
)
# The visitor is unhappy, or wants something only a person can do.
ESCALATION_RE = re.compile(
    r"\b(complain\w*|angry|upset|annoy\w*|frustrat\w*|unacceptable|ridiculous|useless|"
    r"terrible|awful|worst|disappoint\w*|refund\w*|cancel\w*|manager|supervisor|lawyer|"
    r"urgent\w*|emergency|broken|doesn'?t work|not working|didn'?t help|not helpful|"
    r"wrong|mistake|invoice|billing|charged)\b",
    re.IGNORECASE,
)
# The reply admits it could not answer.
UNSURE_RE = re.compile(
    r"\b(I (don'?t|do not) (know|have)|I'?m not sure|I am not sure|I can'?t (help|answer|find)|"
    r"I cannot (help|answer|find)|I'?m unable|I am unable|no information|not able to (help|"
    r"answer)|unfortunately|sorry)\b",
    re.IGNORECASE,
)


def rules_snapshot(db: Session):
    """The rules as last committed (``asthron.snapshots``), for the visitor-message path."""
    return snapshots(db).get("handoff_rules", lambda: frozen(rules(db)))


def rules(db: Session) -> HandoffRules:
    return db.get(HandoffRules, 1) or HandoffRules(
        id=1,
        keywords=[],
        unanswered_in_a_row=2,
        on_provider_failure=True,
        on_lead_qualified=False,
        assistant_decides=True,
        waiting_alert_minutes=5,
    )


def on_visitor_message(db: Session, message: VisitorMessage) -> bool:
    """Rules on the visitor's words: an explicit request for a person, or an admin keyword."""
    conversation = message.conversation
    if conversation.owner != "assistant" or conversation.status != "open":
        return False
    body = message.event.body
    if asks_for_person(body):
        return request_handoff(db, conversation, "visitor", "The visitor asked for a person.")
    lowered = body.lower()
    for keyword in rules_snapshot(db).keywords or []:
        if keyword and keyword.lower() in lowered:
            return request_handoff(
                db, conversation, "rule", f"Keyword “{keyword}” in the visitor's message."
            )
    return False


def after_reply(registry, reply: StoredReply) -> None:
    """Provider failure, the unanswered streak, and (on a signal) the model's decision."""
    data = dict(reply.event.data or {}) if reply.event is not None else {}
    provider = data.get("provider")
    failed = bool(data.get("cut_off")) or provider is None
    # Asking a qualification question is progress, not a failure to answer.
    answered = (
        bool(data.get("sources"))
        or provider not in (None, "builtin")
        or bool(data.get("asked_question"))
    )
    decision = None
    with new_transaction(registry) as db:
        conversation = db.get(Conversation, reply.conversation_id)
        if conversation is None or conversation.owner != "assistant":
            return
        current = rules(db)
        if (
            current.assistant_decides
            and provider not in (None, "builtin")
            and worth_a_decision(db, conversation, reply)
        ):
            decision = assistant_decision(db, conversation)
            if decision is not None:
                answered = decision["answered"]
        conversation.unanswered_streak = 0 if answered else conversation.unanswered_streak + 1
        if failed and current.on_provider_failure and provider is None:
            request_handoff(db, conversation, "rule", "The AI provider failed.")
        elif decision is not None and decision["handoff"]:
            request_handoff(
                db,
                conversation,
                "assistant",
                decision["reason"] or "The assistant asked for a person.",
            )
        elif (
            current.unanswered_in_a_row
            and conversation.unanswered_streak >= current.unanswered_in_a_row
        ):
            request_handoff(
                db,
                conversation,
                "rule",
                f"{conversation.unanswered_streak} replies in a row without an answer.",
            )


def worth_a_decision(db: Session, conversation: Conversation, reply: StoredReply) -> bool:
    """The cheap signal that gates the model's handoff decision."""
    if reply.event is not None and UNSURE_RE.search(reply.event.body or ""):
        return True
    asked = latest(db, conversation.id, "visitor_message")
    return asked is not None and bool(ESCALATION_RE.search(asked.body))


def assistant_decision(db: Session, conversation: Conversation) -> dict | None:
    """Ask the primary model, as structured output validated against DECISION_SCHEMA."""
    try:
        return model_tasks(db).structured(
            db,
            purpose="handoff_decision",
            instruction=DECISION_INSTRUCTION,
            material=transcript(history(db, conversation.id, public_only=True)),
            schema=DECISION_SCHEMA,
            conversation_id=conversation.id,
        )
    except Exception:
        log.info("handoff decision unavailable for conversation %s", conversation.id)
        return None


def hand_off_qualified_lead(db: Session, event: DomainEvent) -> None:
    """The ``lead.qualified`` subscriber: hand the chat to a person when the rule says so."""
    conversation_id = event.payload.get("conversation_id")
    if conversation_id is None or not rules(db).on_lead_qualified:
        return
    conversation = db.get(Conversation, conversation_id)
    if conversation is not None and (conversation.owner, conversation.status) == (
        "assistant",
        "open",
    ):
        request_handoff(db, conversation, "rule", "The lead has just qualified.")

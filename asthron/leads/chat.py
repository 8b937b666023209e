"""Leads in the chat: the lead-form card, contact extraction with confirmation, and
qualification questions asked one at a time."""

from __future__ import annotations

import logging
import re
import uuid

from sqlalchemy.orm import Session

from asthron.assistant.model_tasks import model_tasks
from asthron.assistant.providers.builtin import extract_contacts
from asthron.audit.service import Actor
from asthron.conversations import service as conversations
from asthron.conversations.history import history, latest
from asthron.conversations.hooks import (
    HandoffRequested,
    PromptContribution,
    SidePanel,
    StoredReply,
    VisitorMessage,
)
from asthron.conversations.models import Conversation, ConversationEvent, Visitor
from asthron.db import new_transaction
from asthron.leads import capture, qualification
from asthron.leads.capture import lead_for_conversation
from asthron.leads.notify import notify_new_or_qualified

log = logging.getLogger(__name__)

EXTRACTION_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": ["string", "null"], "maxLength": 120},
        "email": {"type": ["string", "null"], "maxLength": 320},
        "phone": {"type": ["string", "null"], "maxLength": 40},
        "company": {"type": ["string", "null"], "maxLength": 200},
    },
    "required": ["name", "email", "phone", "company"],
    "additionalProperties": False,
}
EXTRACTION_INSTRUCTION = (
    "Extract the visitor's own contact details from their message. Use null for anything not "
    "given. Never invent values."
)
# Only a message that looks like it holds an email address or a phone number is worth a model
# call: without one, extraction keeps nothing anyway (a name alone is not worth asking about).
CONTACT_SIGNAL_RE = re.compile(r"@|\bat\b.{1,40}\bdot\b|\d[\d ().+/-]{5,}\d", re.IGNORECASE)
VISITOR_ACTOR = Actor(label="visitor")
LEAD_FORM_FALLBACK = "Just reply with your name and your email address or phone number."


class CardError(conversations.ConversationError):
    code = "invalid_input"

    def __init__(self, message: str, fields: dict | None = None):
        super().__init__(message)
        self.fields = fields or {}


def _cards(db: Session, conversation_id: int, kind: str) -> list[ConversationEvent]:
    return [
        e
        for e in history(db, conversation_id, types=["card"])
        if (e.data or {}).get("card") == kind
    ]


def offer_lead_form(
    db: Session, conversation: Conversation, reason: str
) -> ConversationEvent | None:
    """Put the site's lead form in the chat, once, unless a lead is already known."""
    if lead_for_conversation(db, conversation.id) is not None:
        return None
    if any(not (e.data or {}).get("done") for e in _cards(db, conversation.id, "lead_form")):
        return None
    form = capture.lead_form(db, conversation.site_id)
    return conversations.append_event(
        db,
        conversation,
        "card",
        form.intro,
        author_name="Assistant",
        data={
            "card": "lead_form",
            "card_id": uuid.uuid4().hex,
            "fields": form.fields,
            "reason": reason,
            # A channel without forms: the visitor answers in words (contact extraction).
            conversations.CARD_FALLBACK: f"{form.intro}\n{LEAD_FORM_FALLBACK}".strip(),
        },
    )


def offer_confirmation(
    db: Session, conversation: Conversation, values: dict
) -> ConversationEvent | None:
    """Ask the visitor to confirm details read from their message before anything is saved."""
    values = {k: v for k, v in values.items() if v}
    if not values:
        return None
    lead = lead_for_conversation(db, conversation.id)
    if lead is not None and all(getattr(lead, k, None) == v for k, v in values.items()):
        return None
    for card in _cards(db, conversation.id, "confirm_contact"):
        if (card.data or {}).get("values") == values:
            return None
    return conversations.append_event(
        db,
        conversation,
        "card",
        "Shall I save these details so the team can follow up?",
        author_name="Assistant",
        data={"card": "confirm_contact", "card_id": uuid.uuid4().hex, "values": values},
    )


def submit_card(
    db: Session, conversation: Conversation, visitor: Visitor, card_id, fields
) -> capture.CaptureResult:
    """The visitor submitted a lead form or confirmed extracted details."""
    if not isinstance(fields, dict) or len(fields) > 30:
        raise CardError("fields must be an object.")
    card = None
    if card_id is not None:
        for kind in ("lead_form", "confirm_contact"):
            for candidate in _cards(db, conversation.id, kind):
                if (candidate.data or {}).get("card_id") == card_id:
                    card = candidate
        if card is None:
            raise conversations.NotFound("No such card in this conversation.")
    form = capture.lead_form(db, conversation.site_id)
    settings = capture.lead_settings(db)
    errors = {}
    if card is not None and card.data.get("card") == "lead_form":
        for spec in card.data.get("fields", []):
            value = fields.get(spec["name"])
            if spec.get("required") and (
                value is None or (isinstance(value, str) and not value.strip())
            ):
                errors[spec["name"]] = "This field is required."
    try:
        claim = capture.LeadClaim.parse(fields, settings.phone_region, form.custom_fields or [])
    except capture.normalize.LeadDataError as exc:
        errors.setdefault(exc.field, exc.message)
        claim = None
    if errors:
        raise CardError("Some details need fixing.", errors)
    try:
        result = capture.capture(
            db,
            claim,
            actor=VISITOR_ACTOR,
            site_id=conversation.site_id,
            conversation=conversation,
            visitor=visitor,
            source="chat",
            verified=capture.is_verified_claim(visitor, claim),
        )
    except capture.normalize.LeadDataError as exc:
        raise CardError(exc.message, {exc.field: exc.message}) from None
    if card is not None:
        card.data = {**card.data, "done": True}
    conversations.append_event(
        db,
        conversation,
        "system",
        "Thanks! Your details were saved; the team will follow up.",
        author_name="System",
        data={"action": "lead_saved"},
    )
    qualified = qualification.evaluate(db, result.lead, VISITOR_ACTOR, conversation.id)
    notify_new_or_qualified(
        db,
        result.lead,
        conversation,
        created=result.created,
        qualified=qualified,
        source="lead form",
    )
    return result


def capture_offline_message(db: Session, conversation: Conversation, visitor: Visitor):
    """The "leave a message" form gives a name and an email: that is a lead too."""
    settings = capture.lead_settings(db)
    claim = capture.LeadClaim.parse(
        {"name": visitor.name, "email": visitor.email}, settings.phone_region
    )
    result = capture.capture(
        db,
        claim,
        actor=VISITOR_ACTOR,
        site_id=conversation.site_id,
        conversation=conversation,
        visitor=visitor,
        source="offline form",
        verified=capture.is_verified_claim(visitor, claim),
    )
    notify_new_or_qualified(
        db,
        result.lead,
        conversation,
        created=result.created,
        qualified=False,
        source="offline form",
    )
    return result


# -- hooks on the message path (registered in asthron.leads.includeme) ----------------------


def after_reply(registry, reply: StoredReply) -> None:
    """Offer to save contact details the visitor just typed, or the lead form after N
    messages."""
    with new_transaction(registry) as db:
        conversation = db.get(Conversation, reply.conversation_id)
        if conversation is None or conversation.status != "open":
            return
        visitor_events = history(db, conversation.id, types=["visitor_message"])
        if not visitor_events:
            return
        values = _extract(db, conversation, visitor_events[-1].body)
        if not offer_confirmation(db, conversation, values):
            form = capture.lead_form(db, conversation.site_id)
            if form.after_messages and len(visitor_events) >= form.after_messages:
                offer_lead_form(db, conversation, f"after {form.after_messages} messages")


def _extract(db: Session, conversation: Conversation, text: str) -> dict:
    """Contact details in free text: the model's structured output validated against the
    schema, or the built-in deterministic parser."""
    if not CONTACT_SIGNAL_RE.search(text):
        return {}
    result = model_tasks(db).structured(
        db,
        purpose="extraction",
        instruction=EXTRACTION_INSTRUCTION,
        material=f"visitor: {text}",
        schema=EXTRACTION_SCHEMA,
        conversation_id=conversation.id,
    )
    if result is None:
        result = extract_contacts(text)
    settings = capture.lead_settings(db)
    clean = {}
    for key in ("name", "email", "phone", "company"):
        value = result.get(key)
        if not value:
            continue
        try:
            parsed = capture.LeadClaim.parse({key: value}, settings.phone_region)
        except capture.normalize.LeadDataError:
            continue  # invalid model output is dropped, never saved
        clean[key] = getattr(parsed, key)
    # A name alone is not worth interrupting the visitor for.
    return clean if ("email" in clean or "phone" in clean) else {}


def capture_offline_form(db: Session, message: VisitorMessage) -> bool:
    """The "leave a message" form gives a name and an email: that is a lead too."""
    if (message.event.data or {}).get("offline"):
        visitor = db.get(Visitor, message.conversation.visitor_id)
        capture_offline_message(db, message.conversation, visitor)
    return False


def read_qualification_answer(db: Session, message: VisitorMessage) -> bool:
    """Read the visitor's answer to the question asked last, before the next reply is
    composed (in the transaction that stores the visitor's message), so that reply moves on to
    the next question. Never handles the message itself."""
    conversation = message.conversation
    # Without qualification questions there is nothing to read; most conversations have no
    # lead yet: one indexed lookup, then nothing to do.
    if (
        conversation.owner != "assistant"
        or not qualification.any_active_question(db)
        or lead_for_conversation(db, conversation.id) is None
    ):
        return False
    # A savepoint, so a failure here never costs the visitor's message.
    try:
        with db.begin_nested():
            _record_qualification_answer(db, conversation, message.event)
    except Exception:
        log.exception("reading a qualification answer failed in conversation %s", conversation.id)
    return False


def _record_qualification_answer(
    db: Session, conversation: Conversation, answer: ConversationEvent
) -> None:
    """If the assistant's previous reply asked a question, read the visitor's answer."""
    lead = lead_for_conversation(db, conversation.id)
    if lead is None:
        return
    asked = latest(db, conversation.id, "assistant_message", before_id=answer.id)
    key = (asked.data or {}).get("asked_question") if asked else None
    if not key:
        return
    question = next((q for q in qualification.questions(db) if q.key == key), None)
    if question is None:
        return
    value = qualification.parse_answer(question, answer.body)
    if value is None:
        return
    qualification.record_answer(db, lead, question, value, answer.id, VISITOR_ACTOR)
    if qualification.evaluate(db, lead, VISITOR_ACTOR, conversation.id):
        notify_new_or_qualified(
            db, lead, conversation, created=False, qualified=True, source="chat"
        )


def next_question_prompt(db: Session, conversation_id: int) -> PromptContribution | None:
    """Ask the lead's next qualification question after answering."""
    if not qualification.any_active_question(db):
        return None
    lead = lead_for_conversation(db, conversation_id)
    question = qualification.next_question(db, lead.id) if lead is not None else None
    if question is None:
        return None
    return PromptContribution(
        instruction=qualification.question_instruction(question),
        follow_up=qualification.question_text(question),
        reply_data={"asked_question": question.key},
    )


def lead_form_before_handoff(db: Session, handoff: HandoffRequested) -> None:
    """Collect contact details before a person takes over, when the site asks for it, or
    when nobody can answer now."""
    form = capture.lead_form(db, handoff.conversation.site_id)
    if form.before_handoff or not handoff.someone_available:
        offer_lead_form(db, handoff.conversation, "before handoff")


def lead_panel(db: Session, conversation_id: int) -> SidePanel | None:
    """The conversation's lead, beside the chat in the inbox."""
    lead = lead_for_conversation(db, conversation_id)
    if lead is None:
        return None
    given = (("Name", lead.name), ("Email", lead.email), ("Phone", lead.phone))
    facts = [(label, value) for label, value in (*given, ("Company", lead.company)) if value]
    facts.append(("Status", lead.status + (" · qualified" if lead.qualified else "")))
    return SidePanel("Lead", facts)

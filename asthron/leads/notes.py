"""The AI lead note: who the lead is, what they want, what is still open and the next step,
citing the conversation it was written from.

A configured model writes it through the assistant's model tasks (structured output, validated
against a schema: invalid output is rejected and never saved); the built-in provider writes a plain
extractive note from the visitor's own words and the lead's fields. A note a person edited
is left alone until someone presses Regenerate, which clears the flag first.
"""

from __future__ import annotations

import logging

import jsonschema
import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.assistant.model_tasks import model_tasks
from asthron.assistant.responder import without_remote_images
from asthron.audit.service import Actor
from asthron.conversations.history import history, transcript
from asthron.conversations.models import ConversationEvent
from asthron.leads import capture, qualification
from asthron.leads.models import Lead, LeadConversation, LeadProposal
from asthron.sites.models import Site

log = logging.getLogger(__name__)

MAX_QUOTE = 240
MAX_NOTE = 5000
NOTE_SCHEMA = {
    "type": "object",
    "properties": {
        "who": {"type": "string", "minLength": 1, "maxLength": 300},
        "wants": {"type": "string", "minLength": 1, "maxLength": 600},
        "open_questions": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 300},
            "maxItems": 6,
        },
        "next_step": {"type": "string", "minLength": 1, "maxLength": 300},
    },
    "required": ["who", "wants", "open_questions", "next_step"],
    "additionalProperties": False,
}
INSTRUCTION = (
    "You write a short internal note about a sales lead for the business's team, from a "
    "website chat and the details the lead gave. Say who the lead is, what they want, which "
    "questions are still open, and the best next step. Use only what the transcript and the "
    "details say; never invent names, prices or promises. Plain text, no markdown, no links."
)
SYSTEM = Actor(label="system")


def _quote(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= MAX_QUOTE else text[: MAX_QUOTE - 1] + "…"


def latest_conversation_id(db: Session, lead_id: int) -> int | None:
    return db.scalar(
        sa.select(LeadConversation.conversation_id)
        .where(LeadConversation.lead_id == lead_id)
        .order_by(LeadConversation.linked_at.desc(), LeadConversation.id.desc())
        .limit(1)
    )


def _events(db: Session, conversation_id: int | None) -> list[ConversationEvent]:
    return history(
        db,
        conversation_id,
        public_only=True,
        types=("visitor_message", "assistant_message", "staff_message"),
    )


def _who(lead: Lead, site_name: str | None = None) -> str:
    name = lead.name or "Name not given"
    if lead.company:
        name += f" ({lead.company})"
    contacts = [c for c in (lead.email, lead.phone) if c]
    who = name + (" — " + ", ".join(contacts) if contacts else "")
    return who + (f"; came through {site_name}" if site_name else "")


def _open_questions(db: Session, lead: Lead) -> list[str]:
    open_items = []
    answered = qualification.answers(db, lead.id)
    for question in qualification.questions(db):
        if question.key not in answered:
            open_items.append(question.text)
    for proposal in db.scalars(
        sa.select(LeadProposal).where(
            LeadProposal.lead_id == lead.id, LeadProposal.state == "pending"
        )
    ):
        open_items.append(f"Confirm the {proposal.field} (a different one was given).")
    return open_items[:6]


def _next_step(lead: Lead) -> str:
    if lead.status in ("won", "lost"):
        return f"Nothing pending: the lead is {lead.status}."
    how = f"email {lead.email}" if lead.email else (f"call {lead.phone}" if lead.phone else "reply")
    if lead.qualified:
        return f"The lead is qualified: {how} soon to move it forward."
    return f"Follow up: {how}."


def _compose(who: str, wants: str, open_questions: list[str], next_step: str, cite: int | None):
    lines = [f"Who: {who}", f"Wants: {wants}"]
    if open_questions:
        lines.append("Open questions:")
        lines.extend(f"- {q}" for q in open_questions)
    else:
        lines.append("Open questions: none.")
    lines.append(f"Next step: {next_step}")
    if cite is not None:
        lines.append(f"From conversation #{cite}")
    return "\n".join(lines)[:MAX_NOTE]


def extractive_note(db: Session, lead: Lead, conversation_id: int | None) -> str:
    """The built-in note: the lead's details and the visitor's own words, nothing invented."""
    site = db.get(Site, lead.source_site_id) if lead.source_site_id else None
    visitor = [e.body for e in _events(db, conversation_id) if e.type == "visitor_message"]
    if visitor:
        wants = f"“{_quote(visitor[0])}”"
        if len(visitor) > 1:
            wants += f" Latest: “{_quote(visitor[-1])}”"
    else:
        wants = "Not said yet."
    answers = qualification.answers(db, lead.id)
    if answers:
        given = "; ".join(
            f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in answers.items()
        )
        wants += f" Answers: {given}."
    return _compose(
        _who(lead, site.name if site else None),
        wants,
        _open_questions(db, lead),
        _next_step(lead),
        conversation_id,
    )


def _details(db: Session, lead: Lead) -> str:
    facts = [
        f"name: {lead.name or '-'}",
        f"company: {lead.company or '-'}",
        f"email: {lead.email or '-'}",
        f"phone: {lead.phone or '-'}",
        f"status: {lead.status}; qualified: {'yes' if lead.qualified else 'no'}",
    ]
    for key, value in qualification.answers(db, lead.id).items():
        facts.append(f"answer {key}: {value}")
    for question in _open_questions(db, lead):
        facts.append(f"not yet answered: {question}")
    return "\n".join(facts)


def valid_model_note(result) -> dict | None:
    """The model's output if it is exactly what the schema asks, else None (never saved)."""
    if not isinstance(result, dict):
        return None
    try:
        jsonschema.validate(result, NOTE_SCHEMA)
    except jsonschema.ValidationError:
        return None
    clean = {}
    for key in ("who", "wants", "next_step"):
        text = " ".join(without_remote_images(result[key]).split())
        if not text:
            return None
        clean[key] = text
    questions = [" ".join(without_remote_images(q).split()) for q in result["open_questions"]]
    clean["open_questions"] = [q for q in questions if q]
    return clean


def model_note(db: Session, lead: Lead, conversation_id: int | None):
    """The model's note text, or None when no model is configured or answered;
    ``False`` when a model answered with output that had to be rejected."""
    if conversation_id is None:
        return None
    material = (
        transcript(_events(db, conversation_id), 40)
        + "\n\n[Details the lead gave]\n"
        + _details(db, lead)
    )
    try:
        result = model_tasks(db).structured(
            db,
            purpose="lead_note",
            instruction=INSTRUCTION,
            material=material,
            schema=NOTE_SCHEMA,
            conversation_id=conversation_id,
        )
    except Exception:
        log.exception("the model could not write the note of lead %s", lead.id)
        return False
    if result is None:
        return None
    clean = valid_model_note(result)
    if clean is None:
        log.warning("rejected invalid lead note output for lead %s", lead.id)
        return False
    return _compose(
        clean["who"], clean["wants"], clean["open_questions"], clean["next_step"], conversation_id
    )


def write_note(db: Session, lead: Lead, conversation_id: int | None = None) -> str | None:
    """Write the lead's AI note; returns "model" or "builtin", or None when nothing was
    written (a person's edit is kept, or the model's output was rejected and a note exists).
    """
    if lead.ai_note_edited:
        return None
    if conversation_id is None:
        conversation_id = latest_conversation_id(db, lead.id)
    elif not db.scalar(
        sa.select(LeadConversation.id).where(
            LeadConversation.lead_id == lead.id,
            LeadConversation.conversation_id == conversation_id,
        )
    ):
        # Only a conversation of this lead is ever cited.
        conversation_id = latest_conversation_id(db, lead.id)
    text = model_note(db, lead, conversation_id)
    provider = "model"
    if text is False and lead.ai_note:
        return None  # the old note stays: rejected output is never saved
    if not text:
        text, provider = extractive_note(db, lead, conversation_id), "builtin"
    # A person may have edited the note while it was being written: their edit wins.
    written = db.execute(
        sa.update(Lead)
        .where(Lead.id == lead.id, Lead.ai_note_edited.is_(False))
        .values(
            ai_note=text,
            ai_note_conversation_id=conversation_id,
            # A note is not an edit of the lead: "updated" keeps meaning a change to its data.
            updated_at=Lead.updated_at,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not written:
        return None
    db.refresh(lead)
    source = f" from conversation #{conversation_id}" if conversation_id else ""
    label = "a model" if provider == "model" else "the built-in writer"
    capture.activity(
        db,
        lead,
        "ai_note",
        f"AI note written by {label}{source}.",
        SYSTEM,
        provider=provider,
        **({"conversation_id": conversation_id} if conversation_id else {}),
    )
    return provider

"""Changing leads: fields, status, assignment, tags, notes, the AI note, proposals and bulk
actions. Every change is recorded on the lead's timeline and in the audit log."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit, domain_events
from asthron.accounts.models import User
from asthron.audit.service import Actor
from asthron.leads import capture, normalize
from asthron.leads.models import (
    LEAD_STATUSES,
    Lead,
    LeadActivity,
    LeadProposal,
)
from asthron.leads.tasks import note_after_commit
from asthron.leads.validation import LeadInputError

MAX_NOTE = 5000
MAX_AI_NOTE = 5000


# -- changes --------------------------------------------------------------------------------


def _change(db: Session, actor: Actor, lead: Lead, body: str, action: str, summary: dict):
    capture.activity(db, lead, "changed", body, actor, **summary)
    audit.record(db, actor, action, "lead", lead.id, summary)
    # "lead.update" → change "update"; the summary names what changed, never the old values.
    domain_events.record(
        db, "lead.updated", lead_id=lead.id, change=action.split(".", 1)[1], **summary
    )


def update_fields(db: Session, actor: Actor, lead: Lead, values: dict, custom: dict) -> list[str]:
    """A staff edit: verified, so it overwrites. Unique email/phone conflicts are a
    LeadDataError on that field, never a database error."""
    region = capture.lead_settings(db).phone_region or "US"
    clean = {
        "name": normalize.text(values.get("name"), "name", 120),
        "email": normalize.email(values.get("email")),
        "phone": normalize.phone(values.get("phone"), region),
        "company": normalize.text(values.get("company"), "company", 200),
    }
    clean_custom = {}
    for name, value in custom.items():
        text = normalize.text(value, f"custom.{name}", 500)
        if text is not None:
            clean_custom[name] = text
    if not (clean["email"] or clean["phone"]):
        raise normalize.LeadDataError("email", "A lead needs an email address or a phone number.")
    for unique in ("email", "phone"):
        value = clean[unique]
        if value and db.scalar(
            sa.select(Lead.id).where(getattr(Lead, unique) == value, Lead.id != lead.id)
        ):
            raise normalize.LeadDataError(unique, f"Another lead already has this {unique}.")
    changed = [k for k, v in clean.items() if getattr(lead, k) != v]
    current_custom = dict(lead.custom_fields or {})
    kept = {k: v for k, v in current_custom.items() if k not in custom}
    new_custom = {**kept, **clean_custom}
    changed += [
        f"custom.{k}"
        for k in sorted(set(current_custom) | set(new_custom))
        if current_custom.get(k) != new_custom.get(k)
    ]
    if not changed:
        return []
    try:
        with db.begin_nested():
            for k, v in clean.items():
                setattr(lead, k, v)
            lead.custom_fields = new_custom
            db.flush()
    except sa.exc.IntegrityError:
        # Another request took this email or phone a moment ago.
        db.refresh(lead)
        raise normalize.LeadDataError(
            "email" if clean["email"] else "phone",
            "Another lead already has this email or phone.",
        ) from None
    _change(
        db, actor, lead, "Edited: " + ", ".join(changed) + ".", "lead.update", {"fields": changed}
    )
    return changed


def set_status(db: Session, actor: Actor, lead: Lead, status: str) -> bool:
    if status not in LEAD_STATUSES:
        raise LeadInputError("Unknown status.", "status")
    if lead.status == status:
        return False
    previous, lead.status = lead.status, status
    _change(
        db,
        actor,
        lead,
        f"Status: {previous} → {status}.",
        "lead.status",
        {"from": previous, "to": status},
    )
    return True


def assignable_user(db: Session, text: str) -> User | None:
    """An active team member from a form value ("" or "none": nobody)."""
    text = (text or "").strip()
    if text in ("", "none"):
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        raise LeadInputError("Choose an active team member.", "assignee")
    user = db.get(User, int(text))
    if user is None or not user.is_active:
        raise LeadInputError("Choose an active team member.", "assignee")
    return user


def assign(db: Session, actor: Actor, lead: Lead, user: User | None) -> bool:
    new_id = user.id if user else None
    if lead.assigned_user_id == new_id:
        return False
    lead.assigned_user_id = new_id
    body = f"Assigned to {user.display_name}." if user else "Unassigned."
    _change(db, actor, lead, body, "lead.assign", {"user_id": new_id})
    return True


def set_tags(db: Session, actor: Actor, lead: Lead, tags: list[str]) -> bool:
    if list(lead.tags or []) == tags:
        return False
    lead.tags = tags
    _change(
        db, actor, lead, "Tags: " + (", ".join(tags) or "none") + ".", "lead.tags", {"tags": tags}
    )
    return True


def add_note(db: Session, actor: Actor, lead: Lead, body: str) -> LeadActivity:
    body = (body or "").strip()
    if not body:
        raise LeadInputError("Write the note first.", "body")
    if len(body) > MAX_NOTE:
        raise LeadInputError(f"A note is {MAX_NOTE} characters at most.", "body")
    note = LeadActivity(
        lead_id=lead.id,
        kind="note",
        body=body,
        data={},
        actor_user_id=actor.user_id,
        actor_label=actor.label,
    )
    db.add(note)
    audit.record(db, actor, "lead.note", "lead", lead.id, {"length": len(body)})
    return note


def edit_ai_note(db: Session, actor: Actor, lead: Lead, text: str) -> None:
    """A person's edit: kept until someone presses Regenerate."""
    text = (text or "").replace("\r\n", "\n").strip()
    if len(text) > MAX_AI_NOTE:
        raise LeadInputError(f"The note is {MAX_AI_NOTE} characters at most.", "ai_note")
    lead.ai_note = text or None
    lead.ai_note_edited = True
    capture.activity(db, lead, "ai_note", "The AI note was edited by a person.", actor)
    audit.record(db, actor, "lead.ai_note_edit", "lead", lead.id, {"length": len(text)})


def request_regenerate(db: Session, actor: Actor, lead: Lead) -> None:
    """Regenerate: the person's edit no longer protects the note; the job rewrites it."""

    lead.ai_note_edited = False
    audit.record(db, actor, "lead.ai_note_regenerate", "lead", lead.id, {})
    note_after_commit(db, lead.id, lead.ai_note_conversation_id)


def resolve_proposal(
    db: Session, actor: Actor, lead: Lead, proposal_id: int, accept: bool
) -> LeadProposal:
    proposal = db.get(LeadProposal, proposal_id)
    if proposal is None or proposal.lead_id != lead.id:
        raise LeadInputError("No such proposal for this lead.")
    if proposal.state != "pending":
        raise LeadInputError("This proposal was already decided.")
    try:
        with db.begin_nested():
            capture.resolve_proposal(db, actor, proposal, accept)
            db.flush()
    except sa.exc.IntegrityError:
        db.refresh(lead)
        raise LeadInputError(f"Another lead already has this {proposal.field}.") from None
    return proposal


# -- bulk actions ---------------------------------------------------------------------------


def leads_by_ids(db: Session, ids: list[int]) -> list[Lead]:
    if not ids:
        return []
    return list(db.scalars(sa.select(Lead).where(Lead.id.in_(ids)).order_by(Lead.id)))


def bulk_status(db: Session, actor: Actor, leads: list[Lead], status: str) -> int:
    if status not in LEAD_STATUSES:
        raise LeadInputError("Choose a status.", "status")
    return sum(set_status(db, actor, lead, status) for lead in leads)


def bulk_assign(db: Session, actor: Actor, leads: list[Lead], user: User | None) -> int:
    return sum(assign(db, actor, lead, user) for lead in leads)

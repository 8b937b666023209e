"""Turning what a visitor gives into one clean, deduplicated lead.

The same email (case-insensitive) or the same E.164 phone is the same lead: unique
constraints decide, so two conversations capturing one email at the same moment end with one
lead. A claim from a visitor is unverified: it fills fields that are empty, and where it
differs from stored data it becomes a proposal for staff, never an overwrite. Only a claim whose
email is the visitor's signed identity (``Visitor.verified_email``) updates that lead directly.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit, domain_events
from asthron.audit.service import Actor
from asthron.conversations.models import Conversation, Visitor
from asthron.leads import normalize
from asthron.leads.models import (
    Lead,
    LeadActivity,
    LeadConversation,
    LeadForm,
    LeadProposal,
    LeadSettings,
)
from asthron.text import single_line

CORE_FIELDS = ("name", "email", "phone", "company")
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


@dataclass
class LeadClaim:
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    custom: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, data: dict, region: str, custom_names=()) -> LeadClaim:
        """Validate every field; raises LeadDataError naming the first bad one."""
        claim = cls(
            name=normalize.text(data.get("name"), "name", 120),
            email=normalize.email(data.get("email")),
            phone=normalize.phone(data.get("phone"), region),
            company=normalize.text(data.get("company"), "company", 200),
        )
        for name in custom_names:
            value = normalize.text(data.get(name), name, 500)
            if value is not None:
                claim.custom[name] = value
        return claim

    @property
    def identifies(self) -> bool:
        return bool(self.email or self.phone)


@dataclass
class CaptureResult:
    lead: Lead
    created: bool
    proposals: list[LeadProposal]
    merged_from: int | None = None


def lead_settings(db: Session) -> LeadSettings:
    return db.get(LeadSettings, 1) or LeadSettings(id=1, rules=[], phone_region="US")


def lead_form(db: Session, site_id: int) -> LeadForm:
    return db.get(LeadForm, site_id) or default_form(site_id)


def default_form(site_id: int) -> LeadForm:
    return LeadForm(
        site_id=site_id,
        fields=[
            {"name": "name", "label": "Name", "kind": "text", "required": True},
            {"name": "email", "label": "Email", "kind": "email", "required": True},
            {"name": "phone", "label": "Phone", "kind": "phone", "required": False},
        ],
        intro="Leave your details and we'll follow up.",
        after_messages=0,
        before_handoff=True,
        on_booking_intent=True,
        notify_emails=[],
        custom_fields=[],
    )


def _find(db: Session, claim: LeadClaim) -> Lead | None:
    if claim.email:
        lead = db.scalar(sa.select(Lead).where(Lead.email == claim.email))
        if lead is not None:
            return lead
    if claim.phone:
        return db.scalar(sa.select(Lead).where(Lead.phone == claim.phone))
    return None


def lead_for_conversation(db: Session, conversation_id: int) -> Lead | None:
    return db.scalar(
        sa.select(Lead)
        .join(LeadConversation, LeadConversation.lead_id == Lead.id)
        .where(LeadConversation.conversation_id == conversation_id)
    )


def _utm(page_url: str | None) -> dict:
    from urllib.parse import parse_qs, urlsplit

    if not page_url:
        return {}
    query = parse_qs(urlsplit(page_url).query)
    # Decoded from the page URL the visitor sent: "%1b" is an ESC, so keep one plain line.
    return {k: single_line(query[k][0])[:200] for k in UTM_KEYS if query.get(k)}


def activity(db: Session, lead: Lead, kind: str, body: str, actor: Actor, **data) -> None:
    db.add(
        LeadActivity(
            lead_id=lead.id,
            kind=kind,
            body=body,
            data=data,
            actor_user_id=actor.user_id,
            actor_label=actor.label,
        )
    )


def _link(db: Session, lead: Lead, conversation: Conversation | None, actor: Actor) -> int | None:
    """Link the conversation to the lead; a conversation of another lead merges into this one."""
    if conversation is None:
        return None
    link = db.scalar(
        sa.select(LeadConversation).where(LeadConversation.conversation_id == conversation.id)
    )
    if link is not None and link.lead_id == lead.id:
        return None
    if link is None:
        try:
            with db.begin_nested():
                db.add(LeadConversation(lead_id=lead.id, conversation_id=conversation.id))
        except sa.exc.IntegrityError:
            link = db.scalar(
                sa.select(LeadConversation).where(
                    LeadConversation.conversation_id == conversation.id
                )
            )
            if link is None or link.lead_id == lead.id:
                return None
        else:
            activity(
                db,
                lead,
                "conversation",
                f"Conversation #{conversation.id} linked.",
                actor,
                conversation_id=conversation.id,
            )
            return None
    previous = link.lead_id
    link.lead_id = lead.id
    activity(
        db,
        lead,
        "merged",
        f"Conversation #{conversation.id} merged in from lead #{previous}.",
        actor,
        conversation_id=conversation.id,
        from_lead=previous,
    )
    audit.record(
        db,
        actor,
        "lead.merge",
        "lead",
        lead.id,
        {"conversation": conversation.id, "from_lead": previous},
    )
    return previous


def capture(
    db: Session,
    claim: LeadClaim,
    *,
    actor: Actor,
    site_id: int | None,
    conversation: Conversation | None = None,
    visitor: Visitor | None = None,
    source: str = "form",
    verified: bool = False,
) -> CaptureResult:
    """Create or update the lead this claim identifies.

    ``verified``: the claim's email is the visitor's signed identity (``is_verified_claim``).
    Then the lead with that email is updated directly; any other claim only fills empty fields
    and proposes the rest.
    """
    if visitor is not None and visitor.phone and not claim.phone:
        # A phone that staff set or that a messaging channel verified (a WhatsApp number is
        # the sender's own): the lead gets it too, and finds the lead that already has it.
        claim = dataclasses.replace(claim, phone=visitor.phone)
    if not claim.identifies:
        raise normalize.LeadDataError("email", "Give an email address or a phone number.")
    # The conversation's own lead, when details come in pieces (an email, later a phone).
    lead = _find(db, claim) or (
        lead_for_conversation(db, conversation.id) if conversation is not None else None
    )
    created = False
    if lead is None:
        page = visitor.current_page_url if visitor else None
        lead = Lead(
            name=claim.name,
            email=claim.email,
            phone=claim.phone,
            company=claim.company,
            custom_fields=dict(claim.custom),
            source_site_id=site_id,
            source_page=page,
            utm=_utm(page),
            status="new",
            tags=[],
        )
        if visitor is not None and visitor.consent_at is not None:
            lead.consent_at = visitor.consent_at
            lead.consent_notice = visitor.consent_notice
            lead.consent_notice_version = hashlib.sha256(
                (visitor.consent_notice or "").encode()
            ).hexdigest()[:16]
        try:
            with db.begin_nested():
                db.add(lead)
            created = True
        except sa.exc.IntegrityError:
            # Another conversation captured the same email or phone at the same moment.
            lead = _find(db, claim)
            if lead is None:
                raise
    proposals: list[LeadProposal] = []
    if created:
        activity(db, lead, "captured", f"Captured from the {source}.", actor, source=source)
        audit.record(db, actor, "lead.create", "lead", lead.id, {"source": source})
        domain_events.record(
            db,
            "lead.created",
            lead_id=lead.id,
            source=source,
            conversation_id=conversation.id if conversation is not None else None,
        )
    elif verified and claim.email and lead.email == claim.email:
        proposals = _apply_verified(db, lead, claim, conversation, actor)
    else:
        proposals = _apply_unverified(db, lead, claim, conversation, actor)
    merged_from = _link(db, lead, conversation, actor)
    if visitor is not None:
        visitor.name = visitor.name or lead.name
        visitor.email = visitor.email or lead.email
    db.flush()
    return CaptureResult(lead, created, proposals, merged_from)


def is_verified_claim(visitor: Visitor | None, claim: LeadClaim) -> bool:
    """Whether the claim's email is the one the business's backend signed for this visitor."""
    return bool(
        visitor is not None
        and visitor.verified_email
        and claim.email
        and visitor.verified_email == claim.email
    )


def _apply_verified(db, lead: Lead, claim: LeadClaim, conversation, actor) -> list[LeadProposal]:
    """The owner of the email is speaking: their details replace the stored ones. A phone that
    another lead already has is still only proposed (it would collide)."""
    changed, collided = [], None
    values = {name: getattr(claim, name) for name in CORE_FIELDS if name != "email"}
    for name, value in values.items():
        if value is None or getattr(lead, name) == value:
            continue
        if name == "phone" and db.scalar(
            sa.select(Lead.id).where(Lead.phone == value, Lead.id != lead.id)
        ):
            collided = LeadClaim(phone=value)
            continue
        setattr(lead, name, value)
        changed.append(name)
    for key, value in claim.custom.items():
        if (lead.custom_fields or {}).get(key) != value:
            lead.custom_fields = {**(lead.custom_fields or {}), key: value}
            changed.append(f"custom.{key}")
    if changed:
        activity(
            db,
            lead,
            "updated",
            "Updated from the visitor's verified identity: " + ", ".join(changed),
            actor,
            fields=changed,
            verified=True,
        )
        domain_events.record(db, "lead.updated", lead_id=lead.id, change="verified", fields=changed)
    return _apply_unverified(db, lead, collided, conversation, actor) if collided else []


def _apply_unverified(db, lead: Lead, claim: LeadClaim, conversation, actor) -> list[LeadProposal]:
    """Fill what is empty; propose what differs."""
    proposals = []
    filled = []
    values = {name: getattr(claim, name) for name in CORE_FIELDS}
    values.update({f"custom.{k}": v for k, v in claim.custom.items()})
    for name, value in values.items():
        if value is None:
            continue
        if name.startswith("custom."):
            key = name.split(".", 1)[1]
            current = (lead.custom_fields or {}).get(key)
        else:
            current = getattr(lead, name)
        if current in (None, ""):
            # Email and phone are unique: filling one could collide with another lead.
            if name in ("email", "phone") and db.scalar(
                sa.select(Lead.id).where(getattr(Lead, name) == value, Lead.id != lead.id)
            ):
                continue
            if name.startswith("custom."):
                lead.custom_fields = {**(lead.custom_fields or {}), key: value}
            else:
                setattr(lead, name, value)
            filled.append(name)
        elif current != value:
            pending = db.scalar(
                sa.select(LeadProposal).where(
                    LeadProposal.lead_id == lead.id,
                    LeadProposal.field == name,
                    LeadProposal.value == value,
                    LeadProposal.state == "pending",
                )
            )
            if pending is None:
                proposal = LeadProposal(
                    lead_id=lead.id,
                    field=name,
                    value=value,
                    conversation_id=conversation.id if conversation else None,
                )
                db.add(proposal)
                proposals.append(proposal)
    if filled:
        activity(
            db,
            lead,
            "updated",
            "Filled from the visitor: " + ", ".join(filled),
            actor,
            fields=filled,
        )
    if proposals:
        activity(
            db,
            lead,
            "proposed",
            "Differing details proposed for review: " + ", ".join(p.field for p in proposals),
            actor,
        )
    return proposals


def resolve_proposal(db: Session, actor: Actor, proposal: LeadProposal, accept: bool) -> None:
    if proposal.state != "pending":
        return
    lead = db.get(Lead, proposal.lead_id)
    if accept:
        if proposal.field.startswith("custom."):
            key = proposal.field.split(".", 1)[1]
            lead.custom_fields = {**(lead.custom_fields or {}), key: proposal.value}
        else:
            if proposal.field in ("email", "phone") and db.scalar(
                sa.select(Lead.id).where(
                    getattr(Lead, proposal.field) == proposal.value, Lead.id != lead.id
                )
            ):
                raise normalize.LeadDataError(
                    proposal.field, f"Another lead already has this {proposal.field}."
                )
            setattr(lead, proposal.field, proposal.value)
    proposal.state = "accepted" if accept else "rejected"
    activity(
        db,
        lead,
        "proposal",
        f"{proposal.field} {'accepted' if accept else 'rejected'}.",
        actor,
        field=proposal.field,
    )
    audit.record(
        db, actor, "lead.proposal_" + proposal.state, "lead", lead.id, {"field": proposal.field}
    )

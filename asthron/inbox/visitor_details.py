"""Correcting a visitor's stored details (name, email, phone) from the conversation view.

The same rules as everywhere else a person's details are stored: control characters and
display controls go (``asthron.text``), emails are checked and lower-cased like account
emails, phones are stored in E.164 (``asthron.text.international_phone``: typed with the
country code). Every change is
audited with the fields that changed, never their values.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from asthron import audit
from asthron.accounts.service import AccountError, normalize_email
from asthron.audit.service import Actor
from asthron.conversations.models import Conversation, Visitor
from asthron.conversations.service import InvalidInput
from asthron.text import international_phone, single_line

MAX_NAME = 120


def clean_name(value: str) -> str | None:
    name = single_line(value)
    if len(name) > MAX_NAME:
        raise InvalidInput(f"The name must be at most {MAX_NAME} characters.")
    return name or None


def clean_email(value: str) -> str | None:
    if not value.strip():
        return None
    try:
        return normalize_email(single_line(value))
    except AccountError:
        raise InvalidInput("Enter a valid email address, like dana@example.com.") from None


def clean_phone(value: str) -> str | None:
    try:
        return international_phone(value)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def update_visitor(
    db: Session, actor: Actor, conversation: Conversation, name: str, email: str, phone: str
) -> list[str]:
    """Validate all three first (nothing is stored unless all are good), then store and audit;
    returns the names of the fields that changed."""
    values = {"name": clean_name(name), "email": clean_email(email), "phone": clean_phone(phone)}
    visitor = db.get(Visitor, conversation.visitor_id)
    changed = [k for k, v in values.items() if getattr(visitor, k) != v]
    if not changed:
        return []
    for key in changed:
        setattr(visitor, key, values[key])
    db.flush()
    audit.record(
        db,
        actor,
        "visitor.update",
        "visitor",
        visitor.id,
        {"conversation_id": conversation.id, "fields": changed},
    )
    return changed

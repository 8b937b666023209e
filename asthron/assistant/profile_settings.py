"""The assistant's business profile: its form values and saving it (one audit entry)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from asthron import audit
from asthron.assistant.forms import PROFILE_FIELDS, ProfileForm
from asthron.assistant.models import AssistantProfile
from asthron.audit.service import Actor


def profile_values(profile: AssistantProfile | None) -> dict:
    """The form's values: the stored profile, or the defaults of a fresh install."""
    if profile is None:
        defaults = {c.name: c.default.arg for c in AssistantProfile.__table__.columns if c.default}
        return {name: defaults.get(name, "") for name in PROFILE_FIELDS}
    return {name: getattr(profile, name) for name in PROFILE_FIELDS}


def get_profile_for_update(db: Session) -> AssistantProfile:
    profile = db.get(AssistantProfile, 1)
    if profile is None:
        profile = AssistantProfile(id=1)
        db.add(profile)
    return profile


def save_profile(db: Session, actor: Actor, new: ProfileForm) -> AssistantProfile:
    profile = get_profile_for_update(db)
    before = {name: getattr(profile, name) for name in PROFILE_FIELDS}
    values = new.model_dump()
    for name, value in values.items():
        setattr(profile, name, value)
    db.flush()
    changed = sorted(name for name, value in values.items() if before.get(name) != value)
    audit.record(
        db, actor, "assistant.profile_update", "assistant_profile", 1, {"changed": changed}
    )
    return profile

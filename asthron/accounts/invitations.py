"""Team invitations: single-use, expiring links that let a new member choose a password."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit
from asthron.accounts import passwords
from asthron.accounts.models import Invitation, User
from asthron.accounts.service import (
    AccountError,
    NotAllowed,
    create_user,
    display_name_for,
    find_user_by_email,
    normalize_email,
    validate_role,
)
from asthron.audit.service import Actor
from asthron.db import utcnow
from asthron.security.permissions import MANAGEABLE_ROLES
from asthron.security.tokens import new_token, token_hash
from asthron.settings import AppSettings


def invite(
    db: Session, settings: AppSettings, actor: Actor, acting_role: str, email: str, role: str
) -> tuple[Invitation, str]:
    email = normalize_email(email)
    role = validate_role(role)
    if role not in MANAGEABLE_ROLES.get(acting_role, frozenset()):
        raise NotAllowed("You cannot invite someone with this role.")
    if find_user_by_email(db, email) is not None:
        raise AccountError(f"{email} is already a member of the team.")
    # A new invitation replaces any pending one for the same email.
    db.execute(
        sa.update(Invitation)
        .where(
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    token = new_token()
    invitation = Invitation(
        token_hash=token_hash(token),
        email=email,
        role=role,
        invited_by_id=actor.user_id,
        expires_at=utcnow() + dt.timedelta(seconds=settings.invitation_lifetime),
    )
    db.add(invitation)
    db.flush()
    audit.record(
        db, actor, "invitation.create", "invitation", invitation.id, {"email": email, "role": role}
    )
    return invitation, token


def pending_invitations(db: Session) -> list[Invitation]:
    return list(
        db.scalars(
            sa.select(Invitation)
            .where(
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > utcnow(),
            )
            .order_by(Invitation.created_at.desc())
        )
    )


def get_invitation(db: Session, invitation_id: int) -> Invitation | None:
    return db.get(Invitation, invitation_id)


def find_invitation(db: Session, token) -> Invitation | None:
    """The invitation for a link token if it can still be accepted."""
    if not isinstance(token, str) or not (20 <= len(token) <= 100):
        return None
    invitation = db.scalar(sa.select(Invitation).where(Invitation.token_hash == token_hash(token)))
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= utcnow()
    ):
        return None
    return invitation


def accept_invitation(db: Session, token, display_name, password, ip_address: str | None) -> User:
    invitation = find_invitation(db, token)
    if invitation is None:
        raise AccountError("This invitation link is invalid, used or expired.")
    # Validate first: a rejected password must leave the invitation usable.
    passwords.check_policy(password, invitation.email)
    display_name_for(display_name, invitation.email)
    if find_user_by_email(db, invitation.email) is not None:
        # Checked before the invitation is claimed, so a refused attempt changes nothing.
        raise AccountError(f"{invitation.email} is already a member of the team.")
    # Single use even under a double submit: only one UPDATE can flip accepted_at.
    claimed = db.execute(
        sa.update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.accepted_at.is_(None))
        .values(accepted_at=utcnow())
    ).rowcount
    if claimed != 1:
        raise AccountError("This invitation link is invalid, used or expired.")
    actor = Actor(label=invitation.email, ip_address=ip_address)
    user = create_user(db, actor, invitation.email, invitation.role, password, display_name)
    audit.record(
        db,
        Actor(label=user.email, user_id=user.id, ip_address=ip_address),
        "invitation.accept",
        "invitation",
        invitation.id,
        {"email": user.email},
    )
    return user


def revoke_invitation(db: Session, actor: Actor, acting_role: str, invitation: Invitation) -> None:
    if invitation.role not in MANAGEABLE_ROLES.get(acting_role, frozenset()):
        raise NotAllowed("You cannot revoke this invitation.")
    if invitation.revoked_at is None and invitation.accepted_at is None:
        invitation.revoked_at = utcnow()
        audit.record(
            db, actor, "invitation.revoke", "invitation", invitation.id, {"email": invitation.email}
        )

"""Staff presence: who has the dashboard open and is not away."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.accounts.models import StaffPresence, User
from asthron.db import utcnow

# The dashboard heartbeats every 30 s; a silent tab counts as gone after this.
ONLINE_WINDOW = dt.timedelta(seconds=90)


def heartbeat(db: Session, user: User, idle: bool) -> StaffPresence:
    """Record that the dashboard is open. An idle tab turns away automatically; a manual
    away stays away until the person comes back by hand."""
    presence = db.get(StaffPresence, user.id) or StaffPresence(user_id=user.id, status="online")
    presence.last_seen_at = utcnow()
    if not presence.manual:
        presence.status = "away" if idle else "online"
    db.add(presence)
    return presence


def set_status(db: Session, user: User, status: str) -> StaffPresence:
    if status not in ("online", "away"):
        raise ValueError("status must be online or away")
    presence = db.get(StaffPresence, user.id) or StaffPresence(user_id=user.id)
    presence.status = status
    presence.manual = status == "away"
    presence.last_seen_at = utcnow()
    db.add(presence)
    return presence


def online_staff(db: Session) -> list[User]:
    since = utcnow() - ONLINE_WINDOW
    return list(
        db.scalars(
            sa.select(User)
            .join(StaffPresence, StaffPresence.user_id == User.id)
            .where(
                StaffPresence.status == "online",
                StaffPresence.last_seen_at >= since,
                User.is_active.is_(True),
            )
        )
    )

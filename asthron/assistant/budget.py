"""The monthly budget: warn the owner at 80 %, fall back to the built-in provider at 100 %."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.accounts.models import User
from asthron.assistant.models import AssistantProfile
from asthron.assistant.usage import budget_state
from asthron.db import utcnow
from asthron.notify.service import queue_templated_email


def warn_if_needed(db: Session) -> bool:
    """Email the owners once a month when spending passes 80 % of the budget."""
    state = budget_state(db)
    if not state.warn:
        return False
    profile = db.get(AssistantProfile, 1, with_for_update=True)
    month = utcnow().strftime("%Y-%m")
    if profile is None or profile.budget_warned_month == month:
        return False
    profile.budget_warned_month = month
    percent = int(state.fraction * 100)
    owners = db.scalars(sa.select(User).where(User.role == "owner", User.is_active.is_(True)))
    for owner in owners:
        queue_templated_email(
            db,
            owner.email,
            "budget_warning",
            percent=percent,
            spent=state.spent,
            budget=state.budget,
        )
    return True

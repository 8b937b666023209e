"""Whether a site can answer a visitor now: open for business, and someone online.

The one computation behind the widget's "we're online" state, the handoff message ("a person
will join shortly" or "we'll answer from Monday 09:00") and the assistant's prompt.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from asthron.accounts.presence import online_staff
from asthron.db import utcnow
from asthron.sites import hours


@dataclass(frozen=True)
class Availability:
    open_now: bool
    next_open_at: dt.datetime | None  # UTC; None while open, or with no opening ahead
    staff_online: bool
    timezone: str

    @property
    def someone_available(self) -> bool:
        return self.open_now and self.staff_online

    def answer_by_text(self) -> str:
        """When a visitor may expect an answer, in the business's own time zone."""
        if self.next_open_at is None:
            return "as soon as someone is back"
        local = self.next_open_at.astimezone(hours.zone(self.timezone))
        return f"from {local.strftime('%A %H:%M')} ({self.timezone})"


def availability(db: Session | None, site, now=None, *, with_staff: bool = True) -> Availability:
    """``with_staff=False`` skips the presence query (the reply path needs only the hours)."""
    now = now or utcnow()
    open_now = hours.is_open(site.business_hours, site.holidays, site.timezone, now)
    next_open_at = (
        None
        if open_now
        else hours.next_opening(site.business_hours, site.holidays, site.timezone, now)
    )
    staff_online = bool(with_staff and open_now and db is not None and online_staff(db))
    return Availability(open_now, next_open_at, staff_online, site.timezone)

"""What the dashboard home shows: the getting-started checklist and today's numbers.

This package sits at the app-wiring level (beside routes and models, `.importlinter`): the
home page is the one place that reads every feature's tables, so it lives above them and
they never learn of it. Each check reads real state, never a flag the owner ticks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.accounts.models import Invitation, User
from asthron.assistant.config import effective_providers
from asthron.assistant.models import UsageRecord
from asthron.audit.models import AuditEntry
from asthron.conversations.models import Conversation, ConversationEvent
from asthron.db import utcnow
from asthron.domain_events import DomainEvent
from asthron.inbox.service import waiting_count
from asthron.knowledge.models import Article
from asthron.leads.models import Lead
from asthron.notify.models import SmtpSettings
from asthron.sites.models import Site

CHART_DAYS = 7


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    done: bool
    detail: str
    route_name: str
    action: str
    site_id: int | None = None  # for a site's own page

    def url(self, request) -> str:
        if self.site_id is not None:
            return request.route_url(self.route_name, site_id=self.site_id)
        return request.route_url(self.route_name)


def checklist(db: Session, settings, box) -> list[Step]:
    """The getting-started steps, each ticked from what is really there."""
    sites = list(db.scalars(sa.select(Site).order_by(Site.id)))
    seen = [s for s in sites if s.widget_seen_at is not None]
    if seen:
        install = f"We saw the widget load on {seen[0].name}'s website."
    elif sites:
        install = (
            "Paste the snippet into your website. This ticks once we see the widget load "
            "there (the demo page doesn't count)."
        )
    else:
        install = "Add your website, then paste the snippet into its pages."

    articles = db.scalar(
        sa.select(sa.func.count()).select_from(Article).where(Article.published.is_(True))
    )
    providers = [p for p in effective_providers(db, settings, box) if p.kind != "builtin"]
    tested = db.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == "ai.provider_test_ok")
    ) or db.scalar(
        sa.select(sa.func.count())
        .select_from(UsageRecord)
        .where(UsageRecord.success.is_(True), UsageRecord.provider != "builtin")
    )
    if not providers:
        ai = "Until then the built-in assistant answers from your knowledge base only."
    elif not tested:
        ai = f"{providers[0].kind} is set up: press Test to check it answers."
    else:
        ai = f"{providers[0].kind} is connected and answered a test."

    hours = [s for s in sites if any((s.business_hours or {}).values())]
    members = db.scalar(
        sa.select(sa.func.count()).select_from(User).where(User.is_active.is_(True))
    )
    invited = db.scalar(sa.select(sa.func.count()).select_from(Invitation))
    email = db.get(SmtpSettings, 1) is not None
    first_site = sites[0].id if sites else None
    return [
        Step(
            "install",
            "Install the snippet on your website",
            bool(seen),
            install,
            "sites.edit" if first_site else "sites.list",
            "Get the snippet",
            first_site,
        ),
        Step(
            "knowledge",
            "Add what the assistant should know",
            bool(articles),
            f"{articles} published article{'s' if articles != 1 else ''}."
            if articles
            else "Opening hours, delivery, returns: the assistant answers from these.",
            "knowledge.list",
            "Add knowledge",
        ),
        Step(
            "ai",
            "Connect an AI provider and test it",
            bool(providers) and bool(tested),
            ai,
            "assistant.providers",
            "Connect AI",
        ),
        Step(
            "hours",
            "Set your business hours",
            bool(hours),
            "Visitors see when a person can answer." if not hours else f"Set for {hours[0].name}.",
            "sites.edit" if first_site else "sites.list",
            "Set hours",
            first_site,
        ),
        Step(
            "team",
            "Invite your team",
            members > 1 or bool(invited),
            f"{members} member{'s' if members != 1 else ''}."
            if members > 1
            else "Someone to answer when the assistant hands a chat over.",
            "team.list",
            "Invite",
        ),
        Step(
            "email",
            "Set up email",
            email,
            "Invitations, alerts and replies to visitors go out by email."
            if not email
            else "Outbound email is configured.",
            "integrations.email",
            "Set up email",
        ),
    ]


@dataclass(frozen=True)
class DayCount:
    day: dt.date
    value: float


@dataclass(frozen=True)
class Today:
    timezone: str
    conversations: int
    waiting: int
    leads: int
    handoffs: int
    ai_answered: int
    handed_over: int
    ai_cost: Decimal
    conversations_by_day: list[DayCount]
    cost_by_day: list[DayCount]


def business_timezone(db: Session) -> ZoneInfo:
    """The first site's time zone (the business's day), else UTC."""
    name = db.scalar(sa.select(Site.timezone).order_by(Site.id).limit(1)) or "UTC"
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _day_start(now: dt.datetime, tz: ZoneInfo, days_back: int = 0) -> dt.datetime:
    local = now.astimezone(tz).date() - dt.timedelta(days=days_back)
    return dt.datetime.combine(local, dt.time(), tz).astimezone(dt.UTC)


def _count(db: Session, stmt) -> int:
    return int(db.scalar(stmt) or 0)


def today(db: Session, now: dt.datetime | None = None) -> Today:
    """Today's numbers in the business's time zone, and the last CHART_DAYS days."""
    now = now or utcnow()
    tz = business_timezone(db)
    start = _day_start(now, tz)
    week_start = _day_start(now, tz, CHART_DAYS - 1)

    # The conversations active this week (the activity index), bucketed by the day they began.
    created = db.scalars(
        sa.select(Conversation.created_at).where(
            Conversation.last_activity_at >= week_start, Conversation.created_at >= week_start
        )
    ).all()
    days = [(week_start.astimezone(tz) + dt.timedelta(days=i)).date() for i in range(CHART_DAYS)]
    per_day = dict.fromkeys(days, 0)
    for when in created:
        day = when.astimezone(tz).date()
        if day in per_day:
            per_day[day] += 1
    cost_per_day = dict.fromkeys(days, Decimal(0))
    for when, cost in db.execute(
        sa.select(UsageRecord.created_at, UsageRecord.cost).where(
            UsageRecord.created_at >= week_start
        )
    ):
        day = when.astimezone(tz).date()
        if day in cost_per_day:
            cost_per_day[day] += cost or 0

    handed = {
        int(subject_id)
        for subject_id in db.scalars(
            sa.select(DomainEvent.subject_id).where(
                DomainEvent.kind == "handoff.requested", DomainEvent.created_at >= start
            )
        )
    }
    answered = set(
        db.scalars(
            sa.select(ConversationEvent.conversation_id)
            .where(
                ConversationEvent.type == "assistant_message",
                ConversationEvent.created_at >= start,
            )
            .distinct()
        )
    )
    return Today(
        timezone=str(tz),
        conversations=per_day[days[-1]],
        waiting=waiting_count(db),
        leads=_count(
            db, sa.select(sa.func.count()).select_from(Lead).where(Lead.created_at >= start)
        ),
        handoffs=len(handed),
        ai_answered=len(answered - handed),
        handed_over=len(handed),
        ai_cost=cost_per_day[days[-1]],
        conversations_by_day=[DayCount(d, per_day[d]) for d in days],
        cost_by_day=[DayCount(d, float(cost_per_day[d])) for d in days],
    )

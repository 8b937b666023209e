"""Usage metering, cost estimates and the monthly budget."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.assistant.models import AssistantProfile, ModelPrice, UsageRecord
from asthron.db import utcnow

MILLION = Decimal(1_000_000)


def estimate_cost(
    db: Session, provider: str, model: str, input_tokens: int, output_tokens: int
) -> Decimal:
    price = db.scalar(
        sa.select(ModelPrice).where(ModelPrice.provider == provider, ModelPrice.model == model)
    ) or db.scalar(
        sa.select(ModelPrice).where(ModelPrice.provider == provider, ModelPrice.model == "*")
    )
    if price is None:
        return Decimal(0)
    return (
        Decimal(input_tokens) * price.input_per_million
        + Decimal(output_tokens) * price.output_per_million
    ) / MILLION


def record(
    db: Session,
    *,
    provider: str,
    model: str,
    purpose: str,
    input_tokens: int = 0,
    output_tokens: int = 0,
    latency_ms: int = 0,
    first_token_ms: int | None = None,
    success: bool = True,
    error_kind: str | None = None,
    conversation_id: int | None = None,
) -> UsageRecord:
    row = UsageRecord(
        provider=provider,
        model=model[:200],
        purpose=purpose,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        latency_ms=latency_ms,
        first_token_ms=first_token_ms,
        cost=estimate_cost(db, provider, model, input_tokens, output_tokens),
        success=success,
        error_kind=error_kind,
        conversation_id=conversation_id,
    )
    db.add(row)
    db.flush()
    return row


def month_start(now: dt.datetime | None = None) -> dt.datetime:
    now = now or utcnow()
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_spend(db: Session, now: dt.datetime | None = None) -> Decimal:
    return db.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(UsageRecord.cost), 0)).where(
            UsageRecord.created_at >= month_start(now)
        )
    ) or Decimal(0)


@dataclass(frozen=True)
class BudgetState:
    budget: Decimal | None
    spent: Decimal

    @property
    def fraction(self) -> float:
        if not self.budget:
            return 0.0
        return float(self.spent / self.budget)

    @property
    def warn(self) -> bool:
        return self.budget is not None and self.fraction >= 0.8

    @property
    def exhausted(self) -> bool:
        return self.budget is not None and self.spent >= self.budget


_READ = object()


def budget_state(
    db: Session,
    now: dt.datetime | None = None,
    *,
    spend_if_unbudgeted: bool = True,
    profile=_READ,
) -> BudgetState:
    """``profile``: the assistant profile when the caller already has it (or a snapshot)."""
    if profile is _READ:
        profile = db.get(AssistantProfile, 1)
    budget = profile.monthly_budget if profile else None
    if budget is None and not spend_if_unbudgeted:
        # The reply path only needs to know whether the budget is spent: skip the sum.
        return BudgetState(budget=None, spent=Decimal(0))
    return BudgetState(
        budget=Decimal(budget) if budget is not None else None, spent=Decimal(month_spend(db, now))
    )


@dataclass(frozen=True)
class DailyUsage:
    day: dt.date
    input_tokens: int
    output_tokens: int
    cost: Decimal
    replies: int
    failures: int


def daily(db: Session, days: int = 30, now: dt.datetime | None = None) -> list[DailyUsage]:
    now = now or utcnow()
    since = (now - dt.timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = db.scalars(sa.select(UsageRecord).where(UsageRecord.created_at >= since))
    buckets: dict[dt.date, list] = {
        (since + dt.timedelta(days=i)).date(): [0, 0, Decimal(0), 0, 0] for i in range(days)
    }
    for row in rows:
        bucket = buckets.get(row.created_at.date())
        if bucket is None:
            continue
        bucket[0] += row.input_tokens
        bucket[1] += row.output_tokens
        bucket[2] += row.cost or 0
        bucket[3] += 1 if (row.purpose == "reply" and row.success) else 0
        bucket[4] += 0 if row.success or row.error_kind == CANCELLED else 1
    return [DailyUsage(day, *values) for day, values in sorted(buckets.items())]


# A call we stopped ourselves (a person took over; the visitor's message was never stored) is
# recorded for its cost but is not a provider failure.
CANCELLED = "cancelled"
_FAILED = sa.and_(
    UsageRecord.success.is_(False), sa.func.coalesce(UsageRecord.error_kind, "") != CANCELLED
)


def by_provider(db: Session, since: dt.datetime) -> list[dict]:
    rows = db.execute(
        sa.select(
            UsageRecord.provider,
            UsageRecord.model,
            sa.func.count(),
            sa.func.sum(UsageRecord.input_tokens),
            sa.func.sum(UsageRecord.output_tokens),
            sa.func.sum(UsageRecord.cost),
            sa.func.sum(sa.case((_FAILED, 1), else_=0)),
            sa.func.avg(UsageRecord.first_token_ms),
            sa.func.avg(UsageRecord.latency_ms),
        )
        .where(UsageRecord.created_at >= since)
        .group_by(UsageRecord.provider, UsageRecord.model)
        .order_by(UsageRecord.provider, UsageRecord.model)
    )
    return [
        {
            "provider": p,
            "model": m,
            "calls": n,
            "input_tokens": i or 0,
            "output_tokens": o or 0,
            "cost": c or Decimal(0),
            "failures": f or 0,
            "avg_first_token_ms": round(t) if t is not None else None,
            "avg_latency_ms": round(lat) if lat is not None else None,
        }
        for p, m, n, i, o, c, f, t, lat in rows
    ]

"""The monthly budget and the price table that turns token counts into cost."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit
from asthron.assistant.forms import PriceRowForm
from asthron.assistant.models import ModelPrice
from asthron.assistant.profile_settings import get_profile_for_update
from asthron.audit.service import Actor


def save_budget(db: Session, actor: Actor, budget: Decimal | None) -> None:
    profile = get_profile_for_update(db)
    old = profile.monthly_budget
    profile.monthly_budget = budget
    db.flush()
    audit.record(
        db,
        actor,
        "ai.budget_update",
        "assistant_profile",
        1,
        {
            "old": None if old is None else str(old),
            "new": None if budget is None else str(budget),
        },
    )


def list_prices(db: Session) -> list[ModelPrice]:
    return list(db.scalars(sa.select(ModelPrice).order_by(ModelPrice.provider, ModelPrice.model)))


def save_prices(db: Session, actor: Actor, rows: list[PriceRowForm]) -> None:
    """Make the price table exactly the submitted rows."""
    existing = {(p.provider, p.model): p for p in list_prices(db)}
    wanted = {(r.provider, r.model): r for r in rows}
    for key, price in existing.items():
        if key not in wanted:
            db.delete(price)
    db.flush()
    for key, row in wanted.items():
        price = existing.get(key)
        if price is None:
            price = ModelPrice(provider=row.provider, model=row.model)
            db.add(price)
        price.input_per_million = row.input_per_million
        price.output_per_million = row.output_per_million
    db.flush()
    audit.record(
        db,
        actor,
        "ai.prices_update",
        "model_prices",
        None,
        {
            "prices": [
                f"{r.provider} {r.model}: {r.input_per_million}/{r.output_per_million}"
                for r in rows
            ],
            "removed": sorted(f"{p} {m}" for p, m in set(existing) - set(wanted)),
        },
    )

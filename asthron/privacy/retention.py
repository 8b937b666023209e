"""Retention: personal data older than its category's window is deleted.

Each table's rule names its category and time column (``asthron.personal_data``); the
windows are the .ini's defaults (``asthron.retention.<category>_days``) overridden by the
owner's choices (``retention_windows``). Deletion runs in bounded batches, each in its own
transaction, so a large purge never holds the database for long.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session
from zope.sqlalchemy import mark_changed

from asthron import audit
from asthron.audit.service import Actor
from asthron.db import new_transaction, utcnow
from asthron.privacy import rules
from asthron.privacy.models import RetentionWindow

BATCH = 500
MAX_DAYS = 36500


class RetentionError(ValueError):
    pass


def windows(db: Session, settings) -> dict[str, int]:
    result = dict(settings.retention_days)
    for row in db.scalars(sa.select(RetentionWindow)):
        if row.category in result:
            result[row.category] = row.days
    return result


def set_window(db: Session, actor: Actor, settings, category: str, days: int) -> None:
    if category not in settings.retention_days:
        raise RetentionError(
            f"unknown category {category!r}; one of {', '.join(sorted(settings.retention_days))}"
        )
    if not 0 <= days <= MAX_DAYS:
        raise RetentionError(f"days must be between 0 (keep for ever) and {MAX_DAYS}")
    row = db.get(RetentionWindow, category) or RetentionWindow(category=category)
    previous = windows(db, settings)[category]
    row.days = days
    db.add(row)
    db.flush()
    audit.record(
        db, actor, "retention.window_changed", "retention", category, {"from": previous, "to": days}
    )


def _expired(table, rule, cutoff: dt.datetime):
    condition = table.c[rule.retention_column] < cutoff
    if rule.retention_filter:
        condition = sa.and_(condition, sa.text(rule.retention_filter))
    return condition


def purge(registry, settings, dry_run: bool = False, batch: int = BATCH, now=None) -> dict:
    """Delete (or with ``dry_run`` count) expired rows; {table: {"category", "days", "rows"}}.
    Children are purged before parents, so a cascade never counts twice."""
    now = now or utcnow()
    with new_transaction(registry) as db:
        current = windows(db, settings)
    report = {}
    for table, rule in reversed(rules.personal_tables()):
        days = current.get(rule.retention or "", 0)
        if not rule.retention or days <= 0:
            continue
        condition = _expired(table, rule, now - dt.timedelta(days=days))
        pk = next(iter(table.primary_key.columns))
        total = 0
        if dry_run:
            with new_transaction(registry) as db:
                total = db.scalar(sa.select(sa.func.count()).select_from(table).where(condition))
        else:
            while True:
                with new_transaction(registry) as db:
                    ids = list(db.scalars(sa.select(pk).where(condition).limit(batch)))
                    if ids:
                        db.execute(sa.delete(table).where(pk.in_(ids)))
                        # A Core statement: the transaction must be told it wrote.
                        mark_changed(db, db.info["transaction_manager"])
                total += len(ids)
                if len(ids) < batch:
                    break
        report[table.name] = {"category": rule.retention, "days": days, "rows": total}
    return report


def record_purge(db: Session, actor: Actor, report: dict) -> None:
    audit.record(
        db,
        actor,
        "retention.purged",
        "retention",
        None,
        {"tables": {name: entry["rows"] for name, entry in report.items() if entry["rows"]}},
    )

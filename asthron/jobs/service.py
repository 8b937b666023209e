"""Writing, performing and sweeping outbox items."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.db import new_transaction, utcnow
from asthron.jobs.models import OutboxItem
from asthron.jobs.queue import app_registry, enqueue_after_commit, huey

log = logging.getLogger(__name__)

_handlers: dict[str, Callable] = {}

# Done items are kept a while for `asthron jobs status` and debugging, then deleted.
DONE_KEPT_FOR = dt.timedelta(days=7)
ZERO = dt.timedelta(0)


class PermanentJobError(Exception):
    """Raised by a handler when retrying cannot help (a malformed address, say)."""


@dataclass
class JobContext:
    """What a handler gets: a session in its own transaction, settings and the secret box."""

    db: Session
    settings: object
    secret_box: object
    registry: object


def outbox_handler(kind: str):
    """Register the idempotent handler that performs outbox items of ``kind``."""

    def register(func):
        _handlers[kind] = func
        return func

    return register


def add_outbox_item(
    db: Session, kind: str, payload: dict, delay: dt.timedelta | None = None
) -> OutboxItem:
    """Record work in the caller's transaction and run it once that transaction commits, or
    ``delay`` later (the sweeper runs it then even if the queued task is lost)."""

    if kind not in _handlers:
        raise ValueError(f"no outbox handler for {kind!r}")
    item = OutboxItem(kind=kind, payload=payload, next_attempt_at=utcnow() + (delay or ZERO))
    db.add(item)
    db.flush()
    enqueue_after_commit(
        run_outbox_item, item.id, db=db, delay=delay.total_seconds() if delay else None
    )
    return item


def retry_delay(settings, attempts: int) -> dt.timedelta:
    """Exponential back-off: base, 2×base, 4×base… capped at an hour, never zero."""
    base = settings.outbox_retry_base_seconds
    return dt.timedelta(seconds=max(1, min(base * 2 ** max(attempts - 1, 0), 3600)))


def _claim(db: Session, item_id: int, lease_seconds: int) -> bool:
    """Take the lease on an item atomically; False if it is done, leased or not yet due."""
    now = utcnow()
    result = db.execute(
        sa.update(OutboxItem)
        .where(
            OutboxItem.id == item_id,
            OutboxItem.state == "pending",
            OutboxItem.next_attempt_at <= now,
            sa.or_(OutboxItem.leased_until.is_(None), OutboxItem.leased_until < now),
        )
        .values(
            leased_until=now + dt.timedelta(seconds=lease_seconds),
            attempts=OutboxItem.attempts + 1,
        )
    )
    return result.rowcount == 1


def perform(registry, item_id: int) -> str:
    """Run one outbox item. Returns what happened: done, retry, failed or skipped."""
    settings = registry["app_settings"]
    with new_transaction(registry) as db:
        if not _claim(db, item_id, settings.outbox_lease_seconds):
            return "skipped"
        item = db.get(OutboxItem, item_id)
        kind, payload, attempts = item.kind, dict(item.payload), item.attempts

    handler = _handlers.get(kind)
    error, permanent = None, False
    try:
        if handler is None:
            raise PermanentJobError(f"no handler for {kind!r}")
        # The handler gets its own transaction: its writes commit only if it succeeds.
        with new_transaction(registry) as db:
            handler(JobContext(db, settings, registry["secret_box"], registry), payload)
    except PermanentJobError as exc:
        error, permanent = str(exc), True
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.warning("outbox item %s (%s) failed: %s", item_id, kind, error)

    with new_transaction(registry) as db:
        item = db.get(OutboxItem, item_id)
        item.leased_until = None
        if error is None:
            item.state, item.done_at, item.last_error = "done", utcnow(), None
            return "done"
        item.last_error = error[:2000]
        if permanent or attempts >= settings.outbox_max_attempts:
            item.state = "failed"
            return "failed"
        delay = retry_delay(settings, attempts)
        item.next_attempt_at = utcnow() + delay

    if not huey.immediate:
        # In immediate mode a scheduled task would never run; the sweeper retries instead.
        run_outbox_item.schedule(args=(item_id,), delay=delay.total_seconds())
    return "retry"


@huey.task()
def run_outbox_item(item_id: int) -> str:
    return perform(app_registry(), item_id)


def due_items(db: Session, limit: int = 500) -> list[int]:
    now = utcnow()
    return list(
        db.scalars(
            sa.select(OutboxItem.id)
            .where(
                OutboxItem.state == "pending",
                OutboxItem.next_attempt_at <= now,
                sa.or_(OutboxItem.leased_until.is_(None), OutboxItem.leased_until < now),
            )
            .order_by(OutboxItem.id)
            .limit(limit)
        )
    )


def sweep(registry) -> list[int]:
    """Re-enqueue every item that is due and not leased: Huey is at-most-once."""

    with new_transaction(registry) as db:
        prune_done(db)
        ids = due_items(db)
    for item_id in ids:
        run_outbox_item(item_id)
    return ids


def prune_done(db: Session, keep: dt.timedelta = DONE_KEPT_FOR) -> int:
    """Forget items done long ago (their payloads may hold links); never pending or failed."""
    return db.execute(
        sa.delete(OutboxItem).where(
            OutboxItem.state == "done", OutboxItem.done_at < utcnow() - keep
        )
    ).rowcount


def retry_failed(db: Session, item_ids: list[int] | None = None) -> int:
    """Put failed items back in the queue (after fixing what made them fail)."""
    query = sa.update(OutboxItem).where(OutboxItem.state == "failed")
    if item_ids:
        query = query.where(OutboxItem.id.in_(item_ids))
    return db.execute(
        query.values(state="pending", attempts=0, next_attempt_at=utcnow(), leased_until=None)
    ).rowcount


def counts(db: Session, kind: str | None = None) -> dict[str, int]:
    query = sa.select(OutboxItem.state, sa.func.count()).group_by(OutboxItem.state)
    if kind is not None:
        query = query.where(OutboxItem.kind == kind)
    return dict(db.execute(query).all())


def unfinished_with_errors(db: Session, kind: str, limit: int = 5) -> list[OutboxItem]:
    """Pending or failed items of ``kind`` whose last attempt failed, newest first."""
    return list(
        db.scalars(
            sa.select(OutboxItem)
            .where(
                OutboxItem.kind == kind,
                OutboxItem.state.in_(("pending", "failed")),
                OutboxItem.last_error.is_not(None),
            )
            .order_by(OutboxItem.id.desc())
            .limit(limit)
        )
    )

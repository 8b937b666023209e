"""Per-process snapshots of the few settings rows every visitor message reads.

Each visitor message reads the same handful of rarely-changing rows before the model can be
called (the site, the assistant profile, the handoff rules, the provider chain). Reading them
from the database every time costs the visitor's time to first token about a millisecond on a
small machine, so the reply path reads them through ``snapshots(db).get(key, load)``:

- a snapshot is a plain value (a frozen copy, never an ORM instance bound to a session);
- any commit that changed a watched table (``watch``) drops every snapshot in this process at
  once, from the session events below (ORM flushes and bulk UPDATE/DELETE alike);
- other processes hear of it on the notifier's ``snapshots`` channel (PostgreSQL or Redis);
- and a snapshot older than ``TTL_SECONDS`` is read again anyway, for changes no event saw
  (raw SQL, a CLI process when the notifier is in-memory).

Dashboard pages and services keep reading rows from their own session; only the hot path uses
snapshots.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from asthron.db import add_session_info

log = logging.getLogger(__name__)

TTL_SECONDS = 60.0
CHANNEL = "snapshots"
_STALE = "asthron.snapshots.stale"

# Mapped classes whose changes drop the snapshots, registered by the features that own them.
_watched_classes: set[type] = set()
_watched_tables: set[str] = set()


def watch(*classes: type) -> None:
    for cls in classes:
        _watched_classes.add(cls)
        _watched_tables.add(cls.__table__.name)


def frozen(row) -> SimpleNamespace | None:
    """A detached, read-only-by-convention copy of a row's column values."""
    if row is None:
        return None
    mapper = sa.inspect(type(row))
    return SimpleNamespace(**{attr.key: getattr(row, attr.key) for attr in mapper.column_attrs})


class Snapshots:
    def __init__(self, ttl: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.ttl, self._clock = ttl, clock
        self._lock = threading.Lock()
        self._values: dict[Any, tuple[Any, float]] = {}
        self._generation = 0

    def get(self, key, load: Callable[[], Any]):
        """The snapshot under ``key``, or ``load()``'s result, kept unless a change to a
        watched table committed while it was being read."""
        now = self._clock()
        with self._lock:
            entry = self._values.get(key)
            generation = self._generation
        if entry is not None and now - entry[1] < self.ttl:
            return entry[0]
        value = load()
        with self._lock:
            if generation == self._generation:
                self._values[key] = (value, now)
        return value

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._values.clear()


def row_snapshot(db: Session, name: str, model: type, ident):
    """A frozen copy of ``db.get(model, ident)`` (None when there is no such row), as last
    committed, kept under ``(name, ident)``; ``model`` must be watched."""
    return snapshots(db).get((name, ident), lambda: frozen(db.get(model, ident)))


def snapshots(db: Session) -> Snapshots:
    """The process's snapshots, from the session (a session made outside the app gets a
    private, empty set, so it always reads the database)."""
    found = db.info.get("snapshots")
    if found is None:
        found = db.info["snapshots"] = Snapshots(ttl=0)
    if db.info.get(_STALE) or (_watched_classes and _touches_watched(db)):
        # This transaction has changed watched rows it has not committed: read them as it
        # sees them, and keep nothing a rollback could make untrue.
        return Snapshots(ttl=0)
    return found


# -- invalidation ---------------------------------------------------------------------------


def _touches_watched(session: Session) -> bool:
    return any(
        isinstance(obj, tuple(_watched_classes))
        for obj in (*session.new, *session.dirty, *session.deleted)
    )


def _before_flush(session, _flush_context, _instances) -> None:
    if _watched_classes and _touches_watched(session):
        session.info[_STALE] = True


def _on_orm_execute(state) -> None:
    if (state.is_update or state.is_delete) and state.statement.table.name in _watched_tables:
        state.session.info[_STALE] = True


def _after_commit(session) -> None:
    if not session.info.pop(_STALE, False):
        return
    found = session.info.get("snapshots")
    if found is not None:
        found.invalidate()
    notifier = session.info.get("notifier")
    if notifier is not None and notifier.backend != "memory":
        try:
            notifier.publish(CHANNEL, {"kind": "invalidate"})
        except Exception:  # the TTL still bounds how stale the others can be
            log.exception("could not tell other processes that settings changed")


def _after_transaction_end(session, transaction) -> None:
    # A rolled-back transaction changed nothing; the next one starts clean.
    if transaction.parent is None:
        session.info.pop(_STALE, None)


def _listen_for_other_processes(notifier, found: Snapshots) -> None:
    subscription = notifier.subscribe(CHANNEL)

    def listen():
        while True:
            message = subscription.get(timeout=3600)
            if message is not None:
                found.invalidate()

    threading.Thread(target=listen, daemon=True, name="snapshots").start()


def includeme(config):
    found = Snapshots()
    config.registry["snapshots"] = found
    add_session_info(config, snapshots=found)
    factory = config.registry["dbsession_factory"]
    event.listen(factory, "before_flush", _before_flush)
    event.listen(factory, "do_orm_execute", _on_orm_execute)
    event.listen(factory, "after_commit", _after_commit)
    event.listen(factory, "after_transaction_end", _after_transaction_end)
    notifier = config.registry["notifier"]
    if notifier.backend != "memory":
        _listen_for_other_processes(notifier, found)

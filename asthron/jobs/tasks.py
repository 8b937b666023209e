"""The Huey tasks that run outbox items, sweep the outbox and beat the worker's heart."""

from __future__ import annotations

import logging
import os
import socket
import threading

from huey import crontab

from asthron.db import new_transaction, utcnow
from asthron.jobs import service
from asthron.jobs.models import WorkerHeartbeat
from asthron.jobs.queue import app_registry, huey

log = logging.getLogger(__name__)

HEARTBEAT_NAME = "worker"


@huey.periodic_task(crontab(minute="*"))
def sweep_outbox() -> list[int]:
    return service.sweep(app_registry())


def beat(registry) -> None:
    """Record that a worker is alive: one row, upserted, so racing threads cannot collide."""
    engine = registry["db_engine"]
    values = {
        "name": HEARTBEAT_NAME,
        "beat_at": utcnow(),
        "hostname": socket.gethostname()[:255],
        "pid": os.getpid(),
    }
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(WorkerHeartbeat).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[WorkerHeartbeat.name],
        set_={k: statement.excluded[k] for k in ("beat_at", "hostname", "pid")},
    )
    with new_transaction(registry) as db:
        db.execute(statement)


@huey.periodic_task(crontab(minute="*"))
def heartbeat() -> None:
    beat(app_registry())


def startup(registry) -> list[int]:
    """What a fresh worker does first: report itself alive, pick up what a dead one left."""
    beat(registry)
    ids = service.sweep(registry)
    if ids:
        log.info("startup sweep queued outbox items %s", ids)
    return ids


_started_lock = threading.Lock()
_started_pids: set[int] = set()


@huey.on_startup()
def on_worker_start() -> None:
    # Huey calls startup hooks in every worker thread; this runs once per process.
    with _started_lock:
        if os.getpid() in _started_pids:
            return
        _started_pids.add(os.getpid())
    startup(app_registry())

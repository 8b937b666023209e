"""The Huey tasks that run outbox items, sweep the outbox and beat the worker's heart."""

from __future__ import annotations

import os
import socket

import transaction
from huey import crontab

from asthron.db import get_tm_session, utcnow
from asthron.jobs import service
from asthron.jobs.models import WorkerHeartbeat
from asthron.jobs.queue import app_context, huey


def _registry():
    try:
        return app_context["registry"]
    except KeyError:
        raise RuntimeError("the application is not bootstrapped in this process") from None


@huey.task()
def run_outbox_item(item_id: int) -> str:
    return service.perform(_registry(), item_id)


@huey.periodic_task(crontab(minute="*"))
def sweep_outbox() -> list[int]:
    return service.sweep(_registry())


def beat(registry) -> None:
    tm = transaction.TransactionManager(explicit=True)
    with tm:
        db = get_tm_session(registry["dbsession_factory"], tm)
        heartbeat = db.get(WorkerHeartbeat, "worker") or WorkerHeartbeat(name="worker")
        heartbeat.beat_at = utcnow()
        heartbeat.hostname = socket.gethostname()[:255]
        heartbeat.pid = os.getpid()
        db.add(heartbeat)


@huey.periodic_task(crontab(minute="*"))
def heartbeat() -> None:
    beat(_registry())


@huey.on_startup()
def on_worker_start() -> None:
    # A fresh worker reports itself alive at once and picks up anything a dead one left.
    beat(_registry())
    service.sweep(_registry())

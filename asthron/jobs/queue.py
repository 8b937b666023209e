"""The Huey instance, built from settings, and the one path for queueing after commit."""

from __future__ import annotations

import logging

import transaction
from huey import Huey
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

log = logging.getLogger(__name__)

# Task decorators need the instance at import time; configure_huey() points it at the
# storage the .ini names before anything is enqueued or consumed.
huey = Huey("asthron", storage_class=MemoryStorage, utc=True, results=False)

# The application context tasks need (the session factory, settings). Set by bootstrap.
app_context: dict = {}


def configure_huey(settings) -> Huey:
    url = settings.huey_url
    if url.startswith("redis://"):
        huey.storage_class = RedisStorage
        huey.storage_kwargs = {"url": url}
    else:
        path = url[len("sqlite:///") :]  # sqlite:////abs/path or sqlite:///relative/path
        huey.storage_class = SqliteStorage
        huey.storage_kwargs = {"filename": path, "timeout": 10}
    huey._immediate = settings.huey_immediate
    huey.storage = huey.create_storage()
    return huey


def enqueue_after_commit(task, *args, transaction_manager=None, **kwargs) -> None:
    """Queue a Huey task once the current transaction commits, and never if it aborts."""
    tm = transaction_manager or transaction.manager

    def hook(committed, *hook_args):
        if not committed:
            return
        try:
            task(*args, **kwargs)
        except Exception:
            # The outbox sweeper will pick the work up again; never fail the request here.
            log.exception("could not enqueue %s after commit", getattr(task, "name", task))

    tm.get().addAfterCommitHook(hook)

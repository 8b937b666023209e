"""The Huey instance, built from settings, and the one path for queueing after commit."""

from __future__ import annotations

import functools
import logging

import transaction
from huey import Huey
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

from asthron.db import new_transaction

log = logging.getLogger(__name__)

# Task decorators need the instance at import time; configure_huey() points it at the
# storage the .ini names before anything is enqueued or consumed.
huey = Huey("asthron", storage_class=MemoryStorage, utc=True, results=False)

# The application context tasks need (the session factory, settings). Set by bootstrap.
app_context: dict = {}


def app_registry():
    """The application registry of this process (set when the app is bootstrapped)."""
    try:
        return app_context["registry"]
    except KeyError:
        raise RuntimeError("the application is not bootstrapped in this process") from None


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


def app_task(*, periodic=None, **task_options):
    """Declare a Huey task that runs in a transaction of its own with the application's
    registry: the function is called as ``fn(db, *args)``, its changes commit when it returns
    and roll back if it raises. ``periodic`` (a crontab) makes it a periodic task."""

    def decorate(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            with new_transaction(app_registry()) as db:
                return fn(db, *args, **kwargs)

        if periodic is not None:
            return huey.periodic_task(periodic, **task_options)(run)
        return huey.task(**task_options)(run)

    return decorate


def enqueue_after_commit(
    task, *args, db=None, delay: float | None = None, transaction_manager=None, **kwargs
) -> None:
    """Queue a Huey task once the transaction of ``db`` (or ``transaction_manager``, or the
    thread's) commits, and never if it aborts; ``delay`` seconds later when given."""
    if db is not None:
        transaction_manager = db.info.get("transaction_manager")
    tm = transaction_manager or transaction.manager

    def hook(committed, *hook_args):
        if not committed:
            return
        try:
            if delay is None:
                task(*args, **kwargs)
            else:
                task.schedule(args=args, kwargs=kwargs, delay=delay)
        except Exception:
            # The outbox sweeper will pick the work up again; never fail the request here.
            log.exception("could not enqueue %s after commit", getattr(task, "name", task))

    tm.get().addAfterCommitHook(hook)

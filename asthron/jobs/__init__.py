"""Background jobs: one Huey instance, enqueue-after-commit, the outbox and its sweeper.

Huey delivers a task at most once, so anything that must not be lost is an outbox row written
in the same transaction as its cause. ``run_outbox_item`` performs one row under a lease and a
periodic sweeper re-enqueues rows left undone (a worker killed mid-task, a lost enqueue).
Handlers are registered by kind and must be idempotent.
"""

# The task modules register themselves on import; the worker imports the same list.
from asthron.jobs import tasks  # noqa: F401
from asthron.jobs.queue import app_context, configure_huey, enqueue_after_commit, huey
from asthron.jobs.service import add_outbox_item, outbox_handler

__all__ = ["add_outbox_item", "enqueue_after_commit", "huey", "outbox_handler"]


def includeme(config):
    configure_huey(config.registry["app_settings"])
    app_context["registry"] = config.registry

"""The daily retention purge in the worker."""

from __future__ import annotations

from huey import crontab

from asthron.audit.service import Actor
from asthron.db import registry_of
from asthron.jobs.queue import app_task
from asthron.privacy import retention


@app_task(periodic=crontab(hour="3", minute="40"))
def purge_expired(db):
    """Delete personal data past its retention window (batches in their own transactions);
    this task's own transaction records the audit entry."""
    registry = registry_of(db)
    report = retention.purge(registry, registry["app_settings"])
    retention.record_purge(db, Actor.system(), report)
    return report

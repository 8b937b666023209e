"""The digest sender: every five minutes, the lines whose hour or day has come."""

from __future__ import annotations

from huey import crontab
from sqlalchemy.orm import Session

from asthron.alerts.service import send_due_digests
from asthron.jobs.queue import app_task


@app_task(periodic=crontab(minute="*/5"))
def send_digests(db: Session) -> int:
    return send_due_digests(db)

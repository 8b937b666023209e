"""The outbox: work that must not be lost, written in the same transaction as its cause."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from asthron.db import Base, UTCDateTime, utcnow
from asthron.personal_data import not_personal, personal_data

OUTBOX_STATES = ("pending", "done", "failed")


class OutboxItem(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        sa.CheckConstraint("state IN ('pending', 'done', 'failed')", name="state"),
        sa.Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
        personal_data(
            mentions=("payload",),
            sealed={"payload": "sealed"},
            retention="outbox",
            retention_filter="state <> 'pending'",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict] = mapped_column(sa.JSON)
    state: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A worker holds a lease while it runs an item; a lease left to expire (a killed worker)
    # lets the sweeper hand the item to another worker.
    leased_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WorkerHeartbeat(Base):
    __tablename__ = "worker_heartbeats"
    __table_args__ = (not_personal("worker processes"),)

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    beat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    hostname: Mapped[str | None] = mapped_column(sa.String(255))
    pid: Mapped[int | None]

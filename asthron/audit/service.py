"""Recording and reading the audit log."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.audit.models import AuditEntry

# Keys whose values never reach the audit log, whatever a caller passes in.
SECRET_KEYS = frozenset(
    {"password", "password_hash", "token", "secret", "api_key", "smtp_password"}
)


def _redact_value(value):
    if isinstance(value, dict):
        return _redact(value)
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


def _redact(summary: dict | None) -> dict:
    clean = {}
    for key, value in (summary or {}).items():
        key = str(key)
        # A flag such as password_changed=True says nothing secret and is kept.
        if any(secret in key.lower() for secret in SECRET_KEYS) and not isinstance(
            value, bool | None
        ):
            clean[key] = "[redacted]"
        else:
            clean[key] = _redact_value(value)
    return clean


@dataclass(frozen=True)
class Actor:
    """Who did something: a user, the CLI, or the system (a background job)."""

    label: str
    user_id: int | None = None
    ip_address: str | None = None

    @classmethod
    def cli(cls) -> Actor:
        return cls(label="cli")

    @classmethod
    def system(cls) -> Actor:
        return cls(label="system")


def record(
    db: Session,
    actor: Actor,
    action: str,
    target_type: str | None = None,
    target_id=None,
    summary: dict | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        actor_user_id=actor.user_id,
        actor_label=actor.label,
        ip_address=actor.ip_address,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        summary=_redact(summary),
    )
    db.add(entry)
    db.flush()
    return entry


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    def apply(self, query):
        if self.actor:
            query = query.where(AuditEntry.actor_label == self.actor.strip().lower())
        if self.action:
            query = query.where(AuditEntry.action == self.action)
        if self.since:
            start = dt.datetime.combine(self.since, dt.time.min, tzinfo=dt.UTC)
            query = query.where(AuditEntry.created_at >= start)
        if self.until and self.until < dt.date.max:
            end = dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
            query = query.where(AuditEntry.created_at < end)
        return query


def search(
    db: Session, audit_filter: AuditFilter, before_id: int | None = None, limit: int = 100
) -> list[AuditEntry]:
    """Newest first, keyset-paginated on the id."""
    query = audit_filter.apply(sa.select(AuditEntry))
    if before_id:
        query = query.where(AuditEntry.id < before_id)
    return list(db.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))


def known_actions(db: Session) -> list[str]:
    return list(db.scalars(sa.select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


def spreadsheet_safe(value) -> str:
    """Neutralise cells a spreadsheet would run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


CSV_COLUMNS = ("id", "time_utc", "actor", "ip", "action", "target_type", "target_id", "summary")


def export_csv(db: Session, audit_filter: AuditFilter, batch: int = 500) -> Iterator[str]:
    """Stream the filtered log as CSV, oldest first, in bounded batches."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    last_id = 0
    while True:
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        query = audit_filter.apply(sa.select(AuditEntry)).where(AuditEntry.id > last_id)
        rows = list(db.scalars(query.order_by(AuditEntry.id).limit(batch)))
        if not rows:
            return
        for entry in rows:
            writer.writerow(
                [
                    spreadsheet_safe(v)
                    for v in (
                        entry.id,
                        entry.created_at.isoformat(),
                        entry.actor_label,
                        entry.ip_address,
                        entry.action,
                        entry.target_type,
                        entry.target_id,
                        _summary_text(entry.summary),
                    )
                ]
            )
        last_id = rows[-1].id


def _summary_text(summary: dict) -> str:
    return "; ".join(f"{k}={v}" for k, v in sorted((summary or {}).items()))

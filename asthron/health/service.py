"""The health report behind /healthz: database, migrations and the worker's heartbeat."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from asthron.db import utcnow
from asthron.jobs.models import WorkerHeartbeat

log = logging.getLogger(__name__)

HEARTBEAT_STALE_AFTER = 180  # seconds: the heartbeat task runs every minute


def migration_heads(migrations_dir) -> set[str]:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    return set(ScriptDirectory.from_config(config).get_heads())


def _worker(beat) -> dict:
    if beat is None:
        return {"ok": False, "heartbeat_age_seconds": None}
    age = max((utcnow() - beat).total_seconds(), 0.0)
    return {"ok": age <= HEARTBEAT_STALE_AFTER, "heartbeat_age_seconds": round(age, 1)}


def check(engine, migrations_dir) -> dict:
    """Each part is {"ok": bool, ...}; the report is ok only when every part is."""
    report = {
        "database": {"ok": False},
        "migrations": {"ok": False},
        "worker": {"ok": False, "heartbeat_age_seconds": None},
    }
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
            report["database"] = {"ok": True}
            try:
                current = set(MigrationContext.configure(connection).get_current_heads())
                heads = migration_heads(migrations_dir)
            except Exception as exc:
                log.warning("health: cannot compare migrations: %s", exc)
                report["migrations"] = {"ok": False, "error": type(exc).__name__}
            else:
                report["migrations"] = {
                    "ok": bool(heads) and current == heads,
                    "current": sorted(current),
                    "head": sorted(heads),
                }
            try:
                beat = connection.execute(
                    sa.select(WorkerHeartbeat.beat_at).where(WorkerHeartbeat.name == "worker")
                ).scalar()
            except sa.exc.SQLAlchemyError as exc:
                # The table is missing when migrations are behind; the worker is unknown.
                report["worker"]["error"] = type(exc).__name__
            else:
                report["worker"] = _worker(beat)
    except sa.exc.SQLAlchemyError as exc:
        log.warning("health: database unreachable: %s", exc)
        report["database"] = {"ok": False, "error": type(exc).__name__}
    report["ok"] = all(part["ok"] for part in report.values())
    return report

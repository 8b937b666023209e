from __future__ import annotations

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from asthron.db import utcnow
from asthron.jobs.models import WorkerHeartbeat

HEARTBEAT_STALE_AFTER = 180  # seconds: the heartbeat task runs every minute


def migration_heads(migrations_dir) -> set[str]:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    return set(ScriptDirectory.from_config(config).get_heads())


def check(engine, migrations_dir) -> dict:
    report = {"database": {"ok": False}, "migrations": {"ok": False}, "worker": {"ok": False}}
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
            report["database"] = {"ok": True}
            current = set(MigrationContext.configure(connection).get_current_heads())
            heads = migration_heads(migrations_dir)
            report["migrations"] = {
                "ok": current == heads,
                "current": sorted(current),
                "head": sorted(heads),
            }
            beat = connection.execute(
                sa.select(WorkerHeartbeat.beat_at).where(WorkerHeartbeat.name == "worker")
            ).scalar()
    except sa.exc.SQLAlchemyError as exc:
        report["database"] = {"ok": False, "error": type(exc).__name__}
        return report | {"ok": False}
    if beat is not None:
        from asthron.db import UTCDateTime

        beat = UTCDateTime().process_result_value(beat, engine.dialect)
        age = (utcnow() - beat).total_seconds()
        report["worker"] = {
            "ok": age <= HEARTBEAT_STALE_AFTER,
            "heartbeat_age_seconds": round(age, 1),
        }
    else:
        report["worker"] = {"ok": False, "heartbeat_age_seconds": None}
    report["ok"] = all(part["ok"] for part in report.values() if isinstance(part, dict))
    return report

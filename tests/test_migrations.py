"""The migrations build exactly the models' schema, and tear it down again, on both databases.

Each test works on a database of its own (a new SQLite file, or an empty PostgreSQL database
from ``empty_pg_url``), never on the shared, already-migrated test databases.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from asthron.cli.db import alembic_config, hand_made_tables, include_object_for
from asthron.db import Base, make_engine
from asthron.models import import_all_models
from asthron.settings import AppSettings
from tests.conftest import ROOT


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def fresh_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite'}"
        return
    yield request.getfixturevalue("empty_pg_url")


def _config(url):
    settings = AppSettings(
        database_url=url,
        huey_url="sqlite:///unused",
        secrets_file=Path("unused"),
        migrations_dir=ROOT / "migrations",
    )
    return alembic_config(settings)


def _schema_diff(url) -> list:
    import_all_models()
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "include_object": include_object_for(connection),
                },
            )
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def _tables(url) -> set[str]:
    """Tables, less the full-text tables the migrations make by hand on SQLite."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return set(sa.inspect(connection).get_table_names()) - hand_made_tables(connection)
    finally:
        engine.dispose()


def _leftover_pg_objects(url) -> list[str]:
    """Sequences, types and functions a downgrade could leave behind on PostgreSQL."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(
                    sa.text(
                        "SELECT 'sequence ' || sequence_name FROM information_schema.sequences"
                        " WHERE sequence_schema = 'public'"
                        " UNION ALL SELECT 'type ' || t.typname FROM pg_type t"
                        " JOIN pg_namespace n ON n.oid = t.typnamespace"
                        " WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd')"
                        " UNION ALL SELECT 'function ' || p.proname FROM pg_proc p"
                        " JOIN pg_namespace n ON n.oid = p.pronamespace"
                        " WHERE n.nspname = 'public'"
                    )
                ).scalars()
            )
    finally:
        engine.dispose()


def test_one_linear_history():
    script = ScriptDirectory.from_config(_config("sqlite://"))
    assert len(script.get_heads()) == 1, "migrations have branched: merge the heads"
    assert len(script.get_bases()) == 1


def test_upgrade_gives_exactly_the_models_schema(fresh_url):
    command.upgrade(_config(fresh_url), "head")
    assert _schema_diff(fresh_url) == []
    import_all_models()
    assert _tables(fresh_url) == set(Base.metadata.tables) | {"alembic_version"}


def test_downgrade_to_base_leaves_nothing_and_upgrade_works_again(fresh_url):
    config = _config(fresh_url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    assert _tables(fresh_url) == {"alembic_version"}
    if fresh_url.startswith("postgresql"):
        assert _leftover_pg_objects(fresh_url) == []
    command.upgrade(config, "head")
    assert _schema_diff(fresh_url) == []


def test_every_step_downgrades_and_upgrades(fresh_url):
    """Walk the history one revision at a time, so each downgrade() is exercised alone."""
    config = _config(fresh_url)
    script = ScriptDirectory.from_config(config)
    revisions = [r.revision for r in script.walk_revisions("base", "heads")][::-1]
    for revision in revisions:
        command.upgrade(config, revision)
        command.downgrade(config, "-1")
        command.upgrade(config, revision)
    assert _schema_diff(fresh_url) == []

"""``asthron db``: migrations (Alembic, with the scripts in ``asthron.migrations_dir``)."""

from __future__ import annotations

import io
import logging
from contextlib import contextmanager
from pathlib import Path

import click
from alembic import command
from alembic.config import Config

from asthron import audit
from asthron.db import get_tm_session, make_engine
from asthron.health.service import migration_heads


def alembic_config(settings) -> Config:
    """An Alembic config for these settings; env.py takes the URL from its attributes.

    Alembic's own prints are swallowed: the commands below say what happened themselves.
    """
    config = Config(stdout=io.StringIO())
    config.set_main_option("script_location", str(settings.migrations_dir))
    config.attributes["database_url"] = settings.database_url
    return config


def _make_sqlite_dir(settings) -> None:
    # SQLite creates the file but not its folder; var/ is where the default .ini puts it.
    settings.var_dir.mkdir(parents=True, exist_ok=True, mode=0o700)


def upgrade_to_head(settings) -> None:
    _make_sqlite_dir(settings)
    command.upgrade(alembic_config(settings), "head")


@contextmanager
def quiet_alembic():
    """Silence Alembic's "Context impl …" lines while we only read the version table."""
    logger = logging.getLogger("alembic.runtime.migration")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def revisions_of(connection) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    with quiet_alembic():
        return set(MigrationContext.configure(connection).get_current_heads())


def missing_sqlite_file(url: str) -> bool:
    """True for a SQLite URL whose file does not exist yet (so it has no schema at all)."""
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return False
    return not Path(parsed.database).exists()


def current_revisions(settings) -> set[str]:

    if missing_sqlite_file(settings.database_url):
        return set()
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            return revisions_of(connection)
    finally:
        engine.dispose()


# -- schema the migrations make by hand -----------------------------------------------------
#
# A few objects exist only in migrations, never in the models: SQLite FTS5 virtual tables (with
# the shadow tables SQLite makes for them), PostgreSQL tsvector columns with their GIN
# indexes, and PostgreSQL exclusion constraints (named "ex_…", with their GiST indexes).
# Autogenerate, ``asthron db check`` and the migration tests must not see them as drift. Only
# objects that are absent from the models are ever skipped.

FTS5_SHADOW_SUFFIXES = ("_data", "_idx", "_content", "_docsize", "_config")


def hand_made_tables(connection) -> set[str]:
    """SQLite virtual tables and their shadow tables."""
    if connection.dialect.name != "sqlite":
        return set()
    import sqlalchemy as sa

    virtual = connection.execute(
        sa.text(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND upper(sql) LIKE 'CREATE VIRTUAL TABLE%'"
        )
    ).scalars()
    names = set()
    for name in virtual:
        names.add(name)
        names.update(name + suffix for suffix in FTS5_SHADOW_SUFFIXES)
    return names


def _is_tsvector(type_) -> bool:
    return type(type_).__name__ == "TSVECTOR"


def include_object_for(connection):
    """An Alembic ``include_object`` hook that ignores the hand-made objects above."""
    skipped_tables = hand_made_tables(connection)

    def include_object(obj, name, type_, reflected, compare_to):
        if not reflected or compare_to is not None:
            return True  # in the models: always compared
        if type_ == "table":
            return name not in skipped_tables
        if type_ == "column":
            return not _is_tsvector(obj.type)
        if type_ == "index":
            # PostgreSQL exclusion constraints ("ex_…", bookings' no-overlap rule) are made
            # by hand; their GiST index must not read as an index the models lack.
            if name and name.startswith("ex_"):
                return False
            return not any(_is_tsvector(column.type) for column in obj.columns)
        return True

    return include_object


@click.group("db")
def db_group():
    """Database migrations."""


@db_group.command()
@click.argument("revision", default="head")
@click.pass_obj
def upgrade(obj, revision):
    """Migrate the schema up to REVISION (default: head)."""
    settings = obj.settings
    _make_sqlite_dir(settings)
    before = current_revisions(settings)
    command.upgrade(alembic_config(settings), revision)
    after = current_revisions(settings)
    if before == after:
        click.echo(f"Database already at {_label(after)}: nothing to do.")
        return
    _audit(obj, "db.upgrade", before, after)
    click.echo(f"Database upgraded from {_label(before)} to {_label(after)}.")


@db_group.command()
@click.argument("revision", default="-1")
@click.pass_obj
def downgrade(obj, revision):
    """Migrate the schema down to REVISION (default: one step; 'base' empties it).

    This drops tables and columns, with their data: take a backup first.
    """
    settings = obj.settings
    before = current_revisions(settings)
    if not before:
        click.echo("Database is empty (base): nothing to do.")
        return
    command.downgrade(alembic_config(settings), revision)
    after = current_revisions(settings)
    _audit(obj, "db.downgrade", before, after)
    click.echo(f"Database downgraded from {_label(before)} to {_label(after)}.")


@db_group.command()
@click.pass_obj
def current(obj):
    """Show the schema's current revision."""

    settings = obj.settings
    revisions = current_revisions(settings)
    heads = migration_heads(settings.migrations_dir)
    if revisions == heads:
        click.echo(f"{_label(revisions)} (head)")
    else:
        click.echo(f"{_label(revisions)} (head is {_label(heads)}: run 'asthron db upgrade')")


@db_group.command()
@click.pass_obj
def check(obj):
    """Fail unless the schema is at head and matches the models exactly."""
    from alembic.util import AutogenerateDiffsDetected, CommandError

    settings = obj.settings
    revisions = current_revisions(settings)
    heads = migration_heads(settings.migrations_dir)
    if revisions != heads:
        raise click.ClickException(
            f"the database is at {_label(revisions)}, not at head ({_label(heads)}): "
            "run 'asthron db upgrade'"
        )
    try:
        command.check(alembic_config(settings))
    except AutogenerateDiffsDetected as exc:
        raise click.ClickException(
            f"the schema differs from the models ({_summarise(exc.diffs)}): "
            "a migration is missing (alembic -c development.ini revision --autogenerate -m …)"
        ) from None
    except CommandError as exc:
        raise click.ClickException(f"{exc} Run 'asthron db upgrade'.") from None
    click.echo("Schema is at head and matches the models.")


def _summarise(diffs, limit: int = 5) -> str:
    """``add_table sites, add_column users.phone, …`` rather than alembic's object dump."""
    parts = []
    for diff in diffs:
        first = diff[0] if isinstance(diff, list) else diff
        kind, *rest = first
        target = ""
        for item in rest:
            name = getattr(item, "name", None)
            if isinstance(item, str) and not target:
                target = item
            elif name:
                target = f"{target}.{name}" if target else name
                break
        parts.append(f"{kind} {target}".strip())
    more = f", and {len(parts) - limit} more" if len(parts) > limit else ""
    return ", ".join(parts[:limit]) + more


def _label(revisions: set[str]) -> str:
    return ", ".join(sorted(revisions)) or "base (empty)"


def _audit(obj, action: str, before: set[str], after: set[str]) -> None:
    """Record a schema change in the audit log, when the schema has one that fits the models.

    Best effort: after a downgrade the audit table may be gone or differ from the models.
    """
    import sqlalchemy as sa
    import transaction
    from sqlalchemy.orm import sessionmaker

    engine = make_engine(obj.settings.database_url)
    try:
        if "audit_log" not in sa.inspect(engine).get_table_names():
            return
        tm = transaction.TransactionManager(explicit=True)
        with tm:
            db = get_tm_session(sessionmaker(bind=engine), tm)
            audit.record(
                db, audit.Actor.cli(), action, summary={"from": _label(before), "to": _label(after)}
            )
    except sa.exc.SQLAlchemyError as exc:
        click.echo(f"Warning: the audit entry could not be written ({type(exc).__name__}).")
    finally:
        engine.dispose()


def register(cli):
    cli.add_command(db_group)

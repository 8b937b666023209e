"""``asthron backup``: create, verify, restore and prune database backups."""

from __future__ import annotations

import logging
from pathlib import Path

import click
import sqlalchemy as sa

from asthron import audit
from asthron.cli.db import upgrade_to_head
from asthron.cli.output import echo, shown
from asthron.db import new_transaction
from asthron.privacy import backups, subjects, tombstones

log = logging.getLogger(__name__)


@click.group("backup")
def backup_group():
    """Database backups (never the secrets file: keep a copy of it yourself)."""


def _default_dir(obj) -> Path:
    return Path(obj.settings.var_dir) / "backups"


@backup_group.command("create")
@click.option("--out", "out_dir", default=None, help="Directory (default: var/backups).")
@click.pass_obj
def create(obj, out_dir):
    """Write a consistent copy of the database and a manifest beside it."""
    obj.require_migrated()
    backup = backups.create(
        obj.registry["db_engine"], Path(out_dir) if out_dir else _default_dir(obj)
    )
    with obj.db() as db:
        audit.record(
            db,
            audit.Actor.cli(),
            "backup.created",
            "backup",
            backup.path.name,
            {
                "rows": sum(backup.manifest["row_counts"].values()),
                "sha256": backup.manifest["sha256"],
            },
        )
    echo(f"Wrote {shown(backup.path)} and {shown(backup.manifest_path.name)}")


@backup_group.command("verify")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_obj
def verify(obj, file):
    """Check a backup's checksum, integrity and row counts against its manifest."""
    backup = backups.verify(Path(file))
    manifest = backup.manifest
    echo(
        f"OK: {shown(backup.path.name)} ({manifest['dialect']}, schema "
        f"{manifest['schema_revision']}, {sum(manifest['row_counts'].values())} rows, "
        f"made {manifest['created_at']})"
    )


@backup_group.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def restore(obj, file, yes):
    """Replace the database with a backup, migrate it up and erase again whoever was erased
    since (tombstones)."""
    backup = backups.verify(Path(file))
    settings = obj.settings
    backups.check_restorable(backup, settings.database_url, settings.migrations_dir)
    if not yes:
        click.confirm(f"Replace the database with {backup.path.name}?", abort=True)
    registry = obj.registry
    # Erasures made after the backup was taken: from the database and from var/.
    digests = tombstones.from_file(settings.var_dir)
    try:
        with new_transaction(registry) as db:
            digests |= tombstones.stored(db)
    except sa.exc.DBAPIError:
        log.info("the current database holds no readable tombstones")
    backups.restore(backup, registry["db_engine"])
    upgrade_to_head(settings)
    with new_transaction(registry) as db:
        erased = subjects.reapply_tombstones(
            db, digests, registry["secrets"], settings.var_dir, registry["secret_box"]
        )
        audit.record(
            db,
            audit.Actor.cli(),
            "backup.restored",
            "backup",
            backup.path.name,
            {"schema_revision": backup.manifest["schema_revision"], "erased_again": erased},
        )
    echo(f"Restored {shown(backup.path.name)}; {erased} erased subject(s) erased again")


@backup_group.command("prune")
@click.option("--keep-daily", type=click.IntRange(min=0), required=True)
@click.option("--keep-weekly", type=click.IntRange(min=0), required=True)
@click.option("--dir", "directory", default=None, help="Directory (default: var/backups).")
@click.pass_obj
def prune(obj, keep_daily, keep_weekly, directory):
    """Delete all backups but the newest of each of the last N days and M weeks."""
    path = Path(directory) if directory else _default_dir(obj)
    if not path.is_dir():
        raise click.ClickException(f"{path} is not a directory")
    doomed = backups.prune_plan(backups.list_backups(path), keep_daily, keep_weekly)
    for backup in doomed:
        backups.delete(backup)
        echo(f"Deleted {shown(backup.path.name)}")
    with obj.db() as db:
        audit.record(
            db,
            audit.Actor.cli(),
            "backup.pruned",
            "backup",
            None,
            {"deleted": len(doomed), "keep_daily": keep_daily, "keep_weekly": keep_weekly},
        )
    echo(f"{len(doomed)} backup(s) deleted")


def register(cli):
    cli.add_command(backup_group)

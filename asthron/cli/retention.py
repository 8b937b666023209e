"""``asthron retention``: show and set retention windows, purge expired data."""

from __future__ import annotations

import click

from asthron import audit
from asthron.cli.output import echo
from asthron.privacy import retention


@click.group("retention")
def retention_group():
    """Retention windows for personal data."""


@retention_group.command("show")
@click.pass_obj
def show(obj):
    """Each category's window in days (0 keeps for ever)."""
    with obj.db() as db:
        current = retention.windows(db, obj.settings)
    for category, days in sorted(current.items()):
        echo(f"{category}: {days or 'kept'}{' days' if days else ''}")


@retention_group.command("set")
@click.argument("category")
@click.argument("days", type=int)
@click.pass_obj
def set_window(obj, category, days):
    """Set CATEGORY's window to DAYS (0 keeps for ever)."""
    with obj.db() as db:
        retention.set_window(db, audit.Actor.cli(), obj.settings, category.strip(), days)
    echo(f"{category}: {days} days")


@retention_group.command("purge")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.pass_obj
def purge(obj, dry_run):
    """Delete personal data past its window, table by table, in bounded batches."""
    obj.require_migrated()
    report = retention.purge(obj.registry, obj.settings, dry_run=dry_run)
    verb = "would be deleted" if dry_run else "deleted"
    for name, entry in sorted(report.items()):
        echo(f"{name} ({entry['category']}, {entry['days']} days): {entry['rows']} {verb}")
    if not dry_run:
        with obj.db() as db:
            retention.record_purge(db, audit.Actor.cli(), report)


def register(cli):
    cli.add_command(retention_group)

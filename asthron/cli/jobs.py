"""``asthron jobs``: look at and nudge the outbox."""

from __future__ import annotations

import click

from asthron import audit
from asthron.jobs import service


@click.group("jobs")
def jobs_group():
    """Background work: the outbox."""


@jobs_group.command()
@click.pass_obj
def status(obj):
    """Count outbox items by state."""
    with obj.db() as db:
        counts = service.counts(db)
    for state in ("pending", "done", "failed"):
        click.echo(f"{state}: {counts.get(state, 0)}")


@jobs_group.command()
@click.pass_obj
def sweep(obj):
    """Queue every due outbox item again (the worker also does this every minute)."""
    ids = service.sweep(obj.registry)
    click.echo(f"Queued {len(ids)} item(s).")


@jobs_group.command("retry-failed")
@click.option("--id", "item_ids", multiple=True, type=int, help="Only these items.")
@click.pass_obj
def retry_failed(obj, item_ids):
    """Put failed items back in the queue, after fixing what made them fail."""
    with obj.db() as db:
        count = service.retry_failed(db, list(item_ids) or None)
        audit.record(db, audit.Actor.cli(), "jobs.retry_failed", summary={"count": count})
    service.sweep(obj.registry)
    click.echo(f"Requeued {count} failed item(s).")


def register(cli):
    cli.add_command(jobs_group)

"""``asthron leads``: export leads to stdout as CSV or JSON."""

from __future__ import annotations

import datetime as dt

import click

from asthron import audit
from asthron.cli.output import echo
from asthron.leads import export as lead_export
from asthron.leads import pipeline

FORMATS = ("csv", "json")


@click.group("leads")
def leads_group():
    """Leads: people to follow up."""


@leads_group.command("export")
@click.option("--format", "fmt", default="csv", show_default=True, help="csv or json.")
@click.option(
    "--since", default=None, help="Only leads created on or after this date (YYYY-MM-DD)."
)
@click.pass_obj
def export(obj, fmt, since):
    """Write every lead (or those created since DATE) to stdout. The export is audited."""
    fmt = (fmt or "").strip().lower()
    if fmt not in FORMATS:
        raise click.ClickException("--format must be csv or json.")
    since_date = None
    if since is not None:
        try:
            since_date = dt.date.fromisoformat(since.strip())
        except ValueError:
            raise click.ClickException("--since must be a date like 2026-01-31.") from None
    query = pipeline.LeadQuery(since=since_date)
    with obj.db() as db:
        rows = pipeline.count_leads(db, query)
        lead_export.record_export(db, audit.Actor.cli(), query, fmt, rows)
    # Read in batches, each in its own short session, and written as they come.
    records = lead_export.iter_export_rows(obj.registry["dbsession_factory"], query)
    chunks = lead_export.csv_chunks(records) if fmt == "csv" else lead_export.json_chunks(records)
    for chunk in chunks:
        if chunk:
            # Older rows may hold control characters; on a terminal they would run. Written
            # as \u001b they stay readable, and inside JSON strings they are still valid.
            echo(chunk, keep="\n\r\t", nl=False)


def register(cli):
    cli.add_command(leads_group)

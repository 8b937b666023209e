"""``asthron subject``: find, export and erase everything about one person."""

from __future__ import annotations

from pathlib import Path

import click

from asthron import audit
from asthron.cli.output import echo
from asthron.privacy import subjects

_options = [
    click.option("--email", default=None, help="The person's email address."),
    click.option("--phone", default=None, help="The person's phone number (+CC…)."),
    click.option("--visitor", default=None, help="A visitor id."),
]


def subject_options(fn):
    for option in reversed(_options):
        fn = option(fn)
    return fn


def _find(obj, db, email, phone, visitor):
    query = subjects.SubjectQuery.parse(email, phone, visitor)
    return subjects.find(db, query, obj.registry["secret_box"])


@click.group("subject")
def subject_group():
    """Data subjects: what Asthron holds about one person."""


@subject_group.command("find")
@subject_options
@click.pass_obj
def find(obj, email, phone, visitor):
    """List every table with rows that refer to the person."""
    subjects.SubjectQuery.parse(email, phone, visitor)  # bad input before any bootstrap
    with obj.db() as db:
        subject = _find(obj, db, email, phone, visitor)
    for name, ids in sorted(subject.rows.items()):
        if ids:
            shown_ids = ", ".join(str(i) for i in ids[:20]) + (" …" if len(ids) > 20 else "")
            echo(f"{name}: {len(ids)} row(s) (ids {shown_ids})")


@subject_group.command("export")
@subject_options
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="FILE.zip")
@click.pass_obj
def export(obj, email, phone, visitor, out):
    """Write every row about the person to a zip: one JSON file per table and a README."""
    subjects.SubjectQuery.parse(email, phone, visitor)
    out_path = Path(out)
    if out_path.exists():
        raise click.ClickException(f"{out} already exists; choose another --out")
    box = obj.registry["secret_box"]
    with obj.db() as db:
        subject = _find(obj, db, email, phone, visitor)
        rows = subjects.rows_of(db, subject, box)
        subjects.write_export(rows, out_path)
        audit.record(
            db,
            audit.Actor.cli(),
            "privacy.subject_exported",
            "subject",
            None,
            {"tables": subject.counts()},
        )
    echo(f"Wrote {sum(len(r) for r in rows.values())} row(s) from {len(rows)} table(s) to {out}")


@subject_group.command("erase")
@subject_options
@click.option("--dry-run", is_flag=True, help="Only show what would be erased.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def erase(obj, email, phone, visitor, dry_run, yes):
    """Delete or anonymise everything about the person; record a tombstone."""
    subjects.SubjectQuery.parse(email, phone, visitor)
    with obj.db() as db:
        subject = _find(obj, db, email, phone, visitor)
        if dry_run:
            for name, count in sorted(subject.counts().items()):
                echo(f"{name}: {count} row(s) would be erased or anonymised")
            return
        if not yes:
            click.confirm(f"Erase {sum(subject.counts().values())} row(s)?", abort=True)
        report = subjects.erase(
            db, subject, audit.Actor.cli(), obj.registry["secrets"], obj.settings.var_dir
        )
    for name, counts in sorted(report.items()):
        for action, count in counts.items():
            echo(f"{name}: {count} {action}")


def register(cli):
    cli.add_command(subject_group)

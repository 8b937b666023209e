"""``asthron payments export``: every payment to stdout as CSV or JSON."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import click

from asthron import audit
from asthron.audit.service import spreadsheet_safe
from asthron.cli.output import echo
from asthron.payments import service

FORMATS = ("csv", "json")
COLUMNS = (
    "id",
    "created_at",
    "kind",
    "status",
    "description",
    "amount",
    "refunded",
    "currency",
    "paid_at",
    "booking_reference",
    "conversation_id",
    "checkout_session_id",
    "payment_intent_id",
)


def _record(payment) -> dict:
    def when(value):
        return value.isoformat() if value else None

    return {
        "id": payment.id,
        "created_at": when(payment.created_at),
        "kind": payment.kind,
        "status": payment.status,
        "description": payment.description,
        # Minor units as integers: no float rounding in anyone's accounts.
        "amount": payment.amount_cents,
        "refunded": payment.refunded_cents,
        "currency": payment.currency.upper(),
        "paid_at": when(payment.paid_at),
        "booking_reference": payment.booking_reference,
        "conversation_id": payment.conversation_id,
        "checkout_session_id": payment.checkout_session_id,
        "payment_intent_id": payment.payment_intent_id,
    }


def _date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise click.ClickException(f"--{name} must be a date like 2026-01-31.") from None


@click.group("payments")
def payments_group():
    """Payments taken through Stripe."""


@payments_group.command("export")
@click.option("--format", "fmt", default="csv", show_default=True, help="csv or json.")
@click.option("--status", default="", help="Only payments in this state (paid, refunded…).")
@click.option("--since", default=None, help="Only payments made on or after this date.")
@click.option("--until", default=None, help="Only payments made on or before this date.")
@click.pass_obj
def export(obj, fmt, status, since, until):
    """Write payments to stdout (amounts in minor units, e.g. cents). Audited."""
    fmt = (fmt or "").strip().lower()
    if fmt not in FORMATS:
        raise click.ClickException("--format must be csv or json.")
    status = (status or "").strip().lower()
    if status not in service.STATUS_FILTERS:
        states = ", ".join(s for s in service.STATUS_FILTERS if s)
        raise click.ClickException(f"--status must be one of {states}.")
    query = service.PaymentQuery(
        status=status, since=_date(since, "since"), until=_date(until, "until")
    )
    with obj.db() as db:
        records = [_record(p) for p in service.iter_payments(db, query)]
        audit.record(
            db, audit.Actor.cli(), "payment.export", summary={"format": fmt, "rows": len(records)}
        )
    if fmt == "json":
        echo(json.dumps(records, indent=2), keep="\n")
        return
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for record in records:
        writer.writerow([spreadsheet_safe(record[c]) for c in COLUMNS])
    echo(out.getvalue(), keep="\n\r", nl=False)


def register(cli):
    cli.add_command(payments_group)

"""``asthron payments export``: CSV (formula-safe) or JSON on stdout, audited as 'cli'; bad
input is one line and exit status 1."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.cli.payments import COLUMNS
from tests.fixtures.cli import assert_one_line_error


def add_payments(database_url: str) -> None:
    from asthron.payments.models import Payment

    engine = sa.create_engine(database_url)
    when = dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
    try:
        with Session(engine) as db:
            db.add_all(
                [
                    Payment(
                        reference="ref-paid",
                        kind="request",
                        status="paid",
                        amount_cents=4990,
                        refunded_cents=1000,
                        currency="eur",
                        description="=cmd|' /C calc'!A0",
                        expires_at=when,
                        paid_at=when,
                        created_at=when,
                        updated_at=when,
                    ),
                    Payment(
                        reference="ref-open",
                        kind="booking",
                        status="open",
                        amount_cents=2000,
                        currency="usd",
                        description="Haircut (deposit)",
                        expires_at=when,
                        created_at=when + dt.timedelta(days=3),
                        updated_at=when,
                    ),
                ]
            )
            db.commit()
    finally:
        engine.dispose()


def test_export_csv_and_json_are_audited(cli):
    cli.setup()
    add_payments(cli.database_url)
    start = len(cli.audit())
    result = cli("payments", "export")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == COLUMNS
    first = dict(zip(COLUMNS, rows[1], strict=True))
    assert first["description"].startswith("'=")  # not a formula in a spreadsheet
    assert (first["amount"], first["refunded"], first["currency"]) == ("4990", "1000", "EUR")

    result = cli("payments", "export", "--format", "json", "--status", "open")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(d["kind"], d["amount"], d["currency"]) for d in data] == [("booking", 2000, "USD")]
    since = json.loads(
        cli("payments", "export", "--format", "json", "--since", "2026-03-02").stdout
    )
    assert [d["status"] for d in since] == ["open"]
    assert cli.audit()[start:] == [("cli", "payment.export")] * 3


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--format", "xml"], "--format must be csv or json."),
        (["--status", "stolen"], "--status must be one of"),
        (["--since", "yesterday"], "--since must be a date like 2026-01-31."),
    ],
)
def test_bad_input_is_one_line_and_exit_1(ready_cli, args, fragment):
    before = ready_cli.audit()
    result = ready_cli("payments", "export", *args)
    assert result.exit_code == 1 and result.stdout == ""
    assert_one_line_error(result.output, fragment)
    assert ready_cli.audit() == before

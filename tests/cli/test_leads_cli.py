"""``asthron leads export``: CSV or JSON on stdout, --since, audited as 'cli'; bad input is one
line and exit status 1."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.leads.export import EXPORT_COLUMNS
from tests.fixtures.cli import assert_one_line_error

UTC = dt.UTC


def add_leads(database_url: str) -> None:
    from asthron.leads.models import Lead

    engine = sa.create_engine(database_url)
    try:
        with Session(engine) as db:
            db.add_all(
                [
                    Lead(
                        name='=HYPERLINK("http://evil.example","x")',
                        email="dana@example.com",
                        phone="+12025550143",
                        company="@x",
                        status="new",
                        tags=["vip"],
                        utm={"utm_source": "ads"},
                        custom_fields={"size": "L"},
                        created_at=dt.datetime(2026, 1, 10, 9, tzinfo=UTC),
                    ),
                    Lead(
                        name="Fox Mulder",
                        email="fox@example.com",
                        status="won",
                        qualified=True,
                        tags=[],
                        utm={},
                        custom_fields={},
                        created_at=dt.datetime(2026, 3, 1, 23, 59, tzinfo=UTC),
                    ),
                ]
            )
            db.commit()
    finally:
        engine.dispose()


def _ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def test_export_csv_json_and_since_are_audited_as_cli(cli):
    cli.setup()
    add_leads(cli.database_url)
    start = len(cli.audit())

    rows = list(csv.reader(io.StringIO(_ok(cli("leads", "export")))))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    by_email = {r[6]: dict(zip(EXPORT_COLUMNS, r, strict=True)) for r in rows[1:]}
    dana = by_email["dana@example.com"]
    assert dana["name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert (dana["phone"], dana["company"]) == ("'+12025550143", "'@x")
    assert (dana["tags"], dana["utm_source"], dana["custom_fields"]) == ("vip", "ads", "size=L")
    assert by_email["fox@example.com"]["qualified"] == "yes"

    data = json.loads(_ok(cli("leads", "export", "--format", "json")))
    assert [d["email"] for d in data] == ["dana@example.com", "fox@example.com"]
    # JSON is data, not a spreadsheet: values are exactly as stored.
    assert data[0]["name"] == '=HYPERLINK("http://evil.example","x")'
    assert data[0]["tags"] == ["vip"] and data[0]["custom_fields"] == {"size": "L"}
    assert data[1]["qualified"] is True
    assert data[1]["created_at"] == "2026-03-01T23:59:00+00:00"

    since = json.loads(_ok(cli("leads", "export", "--format", "JSON", "--since", "2026-03-01")))
    assert [d["email"] for d in since] == ["fox@example.com"]
    none = json.loads(_ok(cli("leads", "export", "--format", "json", "--since", "2026-03-02")))
    assert none == []
    only_header = _ok(cli("leads", "export", "--since", "2030-01-01")).splitlines()
    assert only_header == [",".join(EXPORT_COLUMNS)]

    entries = cli.audit()[start:]
    assert entries == [("cli", "lead.export")] * 5


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--since", "yesterday"], "--since must be a date like 2026-01-31."),
        (["--since", "2026-13-45"], "--since must be a date like 2026-01-31."),
        (["--since", "0000-01-01"], "--since must be a date like 2026-01-31."),
        (["--since", ""], "--since must be a date like 2026-01-31."),
        (["--format", "xml"], "--format must be csv or json."),
        (["--format", "csv;rm -rf /"], "--format must be csv or json."),
    ],
)
def test_bad_input_is_one_line_and_exit_1(ready_cli, args, fragment):
    before = ready_cli.audit()
    result = ready_cli("leads", "export", *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert_one_line_error(result.output, fragment)
    assert ready_cli.audit() == before


def test_an_empty_database_exports_a_header_and_an_empty_list(ready_cli):
    assert _ok(ready_cli("leads", "export")).strip() == ",".join(EXPORT_COLUMNS)
    assert json.loads(_ok(ready_cli("leads", "export", "--format", "json"))) == []
    assert ready_cli.audit()[-2:] == [("cli", "lead.export")] * 2

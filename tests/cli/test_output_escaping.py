"""What the CLI prints from the database never drives the operator's terminal."""

from __future__ import annotations

import csv
import io
import json

import sqlalchemy as sa
from sqlalchemy.orm import Session

OSC_TITLE = "\x1b]0;PWNED\x07"
RAW = ("\x1b", "\x07", "\x9b", "\u202e")


def _plant_old_rows(cli) -> None:
    """Rows as they could be stored before input lost its control characters."""
    from asthron.accounts.models import User
    from asthron.leads.models import Lead

    engine = sa.create_engine(cli.database_url)
    try:
        with Session(engine) as db, db.begin():
            db.add(
                User(
                    email=f"esc{OSC_TITLE}x@example.com",
                    display_name=f"Mallory{OSC_TITLE}\u202e\x9b2J",
                    role="staff",
                )
            )
            db.add(
                Lead(
                    name=f"Eve{OSC_TITLE}",
                    email=f"esc{OSC_TITLE}x@example.com",
                    company="Acme\x9b31m\tLtd",
                    utm={"utm_source": OSC_TITLE},
                )
            )
    finally:
        engine.dispose()


def test_users_list_escapes_control_characters(ready_cli):
    _plant_old_rows(ready_cli)

    result = ready_cli("users", "list")

    assert result.exit_code == 0, result.output
    assert not any(ch in result.output for ch in RAW), repr(result.output)
    line = next(line for line in result.output.splitlines() if line.startswith("esc"))
    assert line.split("\t") == [
        "esc\\u001b]0;PWNED\\u0007x@example.com",
        "staff",
        "active",
        "Mallory\\u001b]0;PWNED\\u0007\\u202e\\u009b2J",
    ]


def test_leads_export_escapes_control_characters(ready_cli):
    _plant_old_rows(ready_cli)

    as_csv = ready_cli("leads", "export")
    as_json = ready_cli("leads", "export", "--format", "json")

    for result in (as_csv, as_json):
        assert result.exit_code == 0, result.output
        assert not any(ch in result.output for ch in RAW), repr(result.output)
    [row] = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert row["name"] == "Eve\\u001b]0;PWNED\\u0007"
    # Tabs in a CSV cell are data, not a terminal command.
    assert row["company"] == "Acme\\u009b31m\tLtd"
    # The JSON stays valid, and its strings still hold the stored text exactly.
    [lead] = json.loads(as_json.output)
    assert lead["name"] == f"Eve{OSC_TITLE}" and lead["company"] == "Acme\x9b31m\tLtd"


def test_error_messages_escape_control_characters(ready_cli):
    result = ready_cli(
        "users", "set-role", "--email", f"x{OSC_TITLE}@example.com", "--role", "admin"
    )

    assert result.exit_code == 1
    assert not any(ch in result.output for ch in RAW), repr(result.output)
    assert "\\u001b" in result.output

"""``asthron ai test`` and ``asthron ai usage``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from asthron.assistant.models import ModelPrice, ProviderConfig, UsageRecord
from tests.fakes.llm_server import FakeLLMServer, closed_port


def configure_primary(cli, **keys):
    """Add asthron.ai.primary.* keys to the test's .ini."""
    lines = "".join(f"asthron.ai.primary.{key} = {value}\n" for key, value in keys.items())
    cli.ini.write_text(cli.ini.read_text() + lines)


def insert(cli, table, *rows):
    engine = sa.create_engine(cli.database_url)
    try:
        with engine.begin() as connection:
            for row in rows:  # one by one: each row may set different columns
                connection.execute(table.__table__.insert(), row)
    finally:
        engine.dispose()


def lines_of(output: str) -> dict[str, str]:
    return {line.split()[0]: line for line in output.splitlines() if line.strip()}


def test_with_nothing_configured_the_built_in_provider_is_ok(ready_cli):
    result = ready_cli("ai", "test")
    assert result.exit_code == 0, result.output
    rows = lines_of(result.output)
    assert rows["SLOT"].split()[:6] == ["SLOT", "KIND", "MODEL", "SOURCE", "STATUS", "LATENCY"]
    assert rows["fallback"].split()[:5] == ["fallback", "builtin", "retrieval", "built-in", "ok"]
    assert "replies come from the built-in provider only" in result.output
    assert "Traceback" not in result.output


def test_a_provider_that_is_down_exits_1(ready_cli):
    configure_primary(
        ready_cli,
        kind="openai",
        base_url=f"http://127.0.0.1:{closed_port()}/v1",
        model="gpt-test",
        api_key="ini-Secret-key-1234",
        connect_timeout="2",
        first_token_timeout="3",
    )
    result = ready_cli("ai", "test")
    assert result.exit_code == 1, result.output
    rows = lines_of(result.output)
    assert rows["primary"].split()[:5] == ["primary", "openai", "gpt-test", ".ini", "DOWN"]
    assert " ms" in rows["primary"]
    assert rows["fallback"].split()[4] == "ok"
    assert "1 configured provider(s) down." in result.output
    assert "ini-Secret-key-1234" not in result.output
    assert "Traceback" not in result.output


@pytest.fixture
def fake():
    server = FakeLLMServer().start()
    yield server
    server.stop()


def test_a_healthy_provider_passes_and_the_dashboard_wins(ready_cli, fake):
    configure_primary(
        ready_cli, kind="openai", base_url=f"http://127.0.0.1:{closed_port()}/v1", model="x"
    )
    # A slot saved in the dashboard takes over from the .ini's keys.
    insert(
        ready_cli,
        ProviderConfig,
        {
            "slot": "primary",
            "kind": "openai",
            "base_url": fake.openai_base_url,
            "model": "gpt-test",
        },
        {
            "slot": "secondary",
            "kind": "ollama",
            "base_url": fake.url,
            "model": "x",
            "enabled": False,
        },
    )
    result = ready_cli("ai", "test")
    assert result.exit_code == 0, result.output
    rows = lines_of(result.output)
    assert rows["primary"].split()[:5] == ["primary", "openai", "gpt-test", "dashboard", "ok"]
    assert "secondary" not in rows
    assert "note: the secondary slot is disabled in the dashboard." in result.output


def test_usage_prints_this_months_totals(ready_cli):
    # SQLite only: the dashboard's usage tests run the same query on both databases.
    cli = ready_cli
    empty = cli("ai", "usage")
    assert empty.exit_code == 0, empty.output
    assert "No model calls this month." in empty.output
    assert "Budget: none set." in empty.output

    now = dt.datetime.now(dt.UTC)
    insert(cli, ModelPrice, {"provider": "openai", "model": "*", "input_per_million": 1})
    insert(
        cli,
        UsageRecord,
        *[
            {
                "created_at": now,
                "provider": "openai",
                "model": "gpt-test",
                "purpose": "reply",
                "input_tokens": 1000,
                "output_tokens": 200,
                "cost": Decimal("0.0125"),
                "success": True,
            }
        ]
        * 2,
        {
            "created_at": now,
            "provider": "ollama",
            "model": "llama3",
            "purpose": "reply",
            "input_tokens": 0,
            "output_tokens": 0,
            "cost": 0,
            "success": False,
            "error_kind": "timeout",
        },
        {
            "created_at": now - dt.timedelta(days=40),
            "provider": "anthropic",
            "model": "old",
            "purpose": "reply",
            "input_tokens": 5,
            "output_tokens": 5,
            "cost": 9,
            "success": True,
        },
    )
    result = cli("ai", "usage")
    assert result.exit_code == 0, result.output
    rows = lines_of(result.output)
    assert rows["openai"].split() == ["openai", "gpt-test", "2", "0", "2000", "400", "0.0250"]
    assert rows["ollama"].split() == ["ollama", "llama3", "1", "1", "0", "0", "0.0000"]
    assert "anthropic" not in rows  # last month
    assert rows["TOTAL"].split() == ["TOTAL", "3", "1", "2000", "400", "0.0250"]

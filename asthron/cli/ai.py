"""``asthron ai``: check the configured provider chain, and show this month's usage."""

from __future__ import annotations

from decimal import Decimal

import click

from asthron.assistant import usage
from asthron.assistant.config import effective_providers
from asthron.assistant.models import ProviderConfig
from asthron.assistant.provider_check import check_provider
from asthron.assistant.providers.builtin import BuiltinProvider
from asthron.cli.output import echo, shown


@click.group("ai")
def ai_group():
    """The assistant's AI providers."""


def _row(*cells, widths=(10, 10, 32, 10, 6, 9, 0)) -> str:
    # Cells come from the dashboard and from remote servers (a provider's error message).
    return "  ".join(shown(c).ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()


@ai_group.command("test")
@click.option(
    "--timeout",
    type=click.FloatRange(0.5, 120),
    default=None,
    help="Seconds to wait for each provider (default: its connect + first-token timeouts).",
)
@click.pass_obj
def test_(obj, timeout):
    """Check every provider of the chain; exit 1 if a configured one is down."""
    import sqlalchemy as sa

    with obj.db() as db:
        chain = effective_providers(db, obj.registry["app_settings"], obj.registry["secret_box"])
        disabled = sorted(
            db.scalars(sa.select(ProviderConfig.slot).where(ProviderConfig.enabled.is_(False)))
        )
        budget = usage.budget_state(db)
    # The database transaction is over before anything goes over the network.
    echo(_row("SLOT", "KIND", "MODEL", "SOURCE", "STATUS", "LATENCY", "DETAIL"))
    down = 0
    for effective in chain:
        result = check_provider(
            effective,
            list_models=False,
            limit=timeout,
            allowed_private=obj.registry["app_settings"].outbound_allowed_private_hosts,
        )
        down += not result.ok
        echo(
            _row(
                effective.slot,
                effective.kind,
                effective.model or "-",
                effective.source,
                "ok" if result.ok else "DOWN",
                f"{result.latency_ms:.0f} ms",
                result.detail,
            )
        )
    builtin = BuiltinProvider()
    health = builtin.health()
    echo(
        _row(
            "fallback",
            builtin.kind,
            builtin.model,
            "built-in",
            "ok" if health.ok else "DOWN",
            f"{health.latency_ms:.0f} ms",
            health.detail,
        )
    )
    for slot in disabled:
        echo(f"note: the {slot} slot is disabled in the dashboard.")
    if not chain:
        echo("No provider is configured: replies come from the built-in provider only.")
    if budget.exhausted:
        echo(
            "note: this month's budget is used up, so replies use the built-in provider "
            "until next month or until the budget is raised."
        )
    if down:
        echo(f"{down} configured provider(s) down.", err=True)
        raise click.exceptions.Exit(1)


@ai_group.command("usage")
@click.pass_obj
def usage_(obj):
    """This month's calls, tokens and estimated cost by provider and model."""

    with obj.db() as db:
        start = usage.month_start()
        rows = usage.by_provider(db, start)
        budget = usage.budget_state(db)
    widths = (10, 32, 7, 7, 12, 12, 12)
    echo(f"Usage since {start:%Y-%m-%d} (UTC)")
    echo(_row("PROVIDER", "MODEL", "CALLS", "FAILED", "INPUT", "OUTPUT", "COST", widths=widths))
    total_cost = Decimal(0)
    calls = in_tokens = out_tokens = failures = 0
    for r in rows:
        echo(
            _row(
                r["provider"],
                r["model"] or "-",
                r["calls"],
                r["failures"],
                r["input_tokens"],
                r["output_tokens"],
                f"{Decimal(r['cost']):.4f}",
                widths=widths,
            )
        )
        total_cost += Decimal(r["cost"])
        calls += r["calls"]
        failures += r["failures"]
        in_tokens += r["input_tokens"]
        out_tokens += r["output_tokens"]
    if not rows:
        echo("No model calls this month.")
    echo(
        _row(
            "TOTAL", "", calls, failures, in_tokens, out_tokens, f"{total_cost:.4f}", widths=widths
        )
    )
    if budget.budget is None:
        echo("Budget: none set.")
    else:
        echo(
            f"Budget: {budget.spent:.2f} of {budget.budget:.2f} "
            f"({budget.fraction * 100:.0f}%){' - used up' if budget.exhausted else ''}."
        )


def register(cli):
    cli.add_command(ai_group)

"""``asthron sites``: register websites from the shell."""

from __future__ import annotations

import click

from asthron import audit
from asthron.cli.output import echo, shown
from asthron.sites import service


@click.group("sites")
def sites_group():
    """Websites that embed the widget."""


@sites_group.command()
@click.option("--name", required=True)
@click.option(
    "--origin",
    "origins",
    multiple=True,
    required=True,
    help="An allowed origin such as https://www.example.com (repeatable).",
)
@click.pass_obj
def add(obj, name, origins):
    """Register a website and print its public site key."""
    with obj.db() as db:
        try:
            site = service.create_site(
                db, audit.Actor.cli(), service.SiteInput(name, list(origins))
            )
        except service.SiteError as exc:
            raise click.ClickException(str(exc)) from None
        echo(site.public_key)


@sites_group.command("list")
@click.pass_obj
def list_sites(obj):
    """List websites with their keys and origins."""
    with obj.db() as db:
        for site in service.list_sites(db):
            origins = " ".join(shown(origin) for origin in site.allowed_origins)
            echo(f"{site.public_key}\t{shown(site.name)}\t{origins}")


def register(cli):
    cli.add_command(sites_group)

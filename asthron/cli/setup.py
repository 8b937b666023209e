"""``asthron setup``: first run. Idempotent: a second run changes nothing and says so."""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

import click

from asthron import audit
from asthron.accounts import service as accounts
from asthron.cli.db import current_revisions, upgrade_to_head
from asthron.cli.output import echo
from asthron.demo import seed_demo
from asthron.health.service import migration_heads
from asthron.security.crypto import new_key

DEMO_OWNER_EMAIL = "owner@example.com"


def write_secrets_file(path: Path) -> bool:
    """Create the secrets file (mode 0600) if it is missing. Returns whether it was created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"session_secret": secrets.token_urlsafe(48), "fernet_keys": [new_key()]}
    # O_EXCL and the mode at creation: the file is never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    return True


def _read_password_stdin() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.ClickException("no password on standard input")
    return password


@click.command()
@click.option("--owner-email", help="Email of the first owner.")
@click.option("--owner-password-stdin", is_flag=True, help="Read the owner's password from stdin.")
@click.option("--demo", is_flag=True, help="Create a demo owner with a generated password.")
@click.pass_obj
def setup(obj, owner_email, owner_password_stdin, demo):
    """Create var/, the secrets file, the schema and the first owner."""

    settings = obj.settings
    changes = []
    if not settings.var_dir.exists():
        settings.var_dir.mkdir(parents=True, mode=0o700)
        changes.append(f"created {settings.var_dir}")
    if write_secrets_file(settings.secrets_file):
        changes.append(f"wrote secrets file {settings.secrets_file} (mode 0600)")

    if current_revisions(settings) != migration_heads(settings.migrations_dir):
        upgrade_to_head(settings)
        changes.append("migrated the database to head")

    with obj.db() as db:
        if accounts.count_owners(db) == 0:
            password = None
            if demo and not owner_email:
                owner_email = DEMO_OWNER_EMAIL
            if not owner_email:
                if not sys.stdin.isatty():
                    raise click.ClickException("no owner yet: pass --owner-email (or --demo)")
                owner_email = click.prompt("Owner email")
            if owner_password_stdin:
                password = _read_password_stdin()
            elif demo:
                password = "demo-" + secrets.token_urlsafe(12)
            elif sys.stdin.isatty():
                password = click.prompt("Owner password", hide_input=True, confirmation_prompt=True)
            else:
                raise click.ClickException("pass --owner-password-stdin to set the password")
            owner = accounts.create_user(
                db, audit.Actor.cli(), owner_email, "owner", password, "Owner"
            )
            changes.append(f"created owner {owner.email}")
            if demo and not owner_password_stdin:
                demo_file = settings.var_dir / "demo-login.txt"
                fd = os.open(demo_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(f"{owner.email}\n{password}\n")
        if demo:
            changes.extend(seed_demo(db, settings.public_url))
        if changes:
            audit.record(
                db, audit.Actor.cli(), "setup.run", summary={"changes": "; ".join(changes)}
            )

    if changes:
        for change in changes:
            echo(f"- {change}")
        echo("Setup complete.")
    else:
        echo("Already set up: nothing to change.")
    if demo:
        echo(f"Dashboard: {settings.public_url}/login")
        demo_file = settings.var_dir / "demo-login.txt"
        if demo_file.exists():
            email, password = demo_file.read_text().split("\n")[:2]
            echo(f"Demo login: {email} / {password}")
        if settings.demo_page:
            echo(f"Demo page with the widget: {settings.public_url}/demo")


def register(cli):
    cli.add_command(setup)

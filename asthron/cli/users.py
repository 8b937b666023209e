"""``asthron users``: manage dashboard accounts from the shell."""

from __future__ import annotations

import sys

import click

from asthron import audit
from asthron.accounts import service as accounts
from asthron.accounts.models import ROLES
from asthron.cli.output import echo, shown


def _password_from_stdin() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.ClickException("no password on standard input")
    return password


def _user(db, email):
    user = accounts.find_user_by_email(db, email)
    if user is None:
        raise click.ClickException(f"no user with the email {shown(email)}")
    return user


@click.group("users")
def users_group():
    """Dashboard accounts."""


@users_group.command()
@click.option("--email", required=True)
@click.option("--role", required=True, metavar="|".join(ROLES), help="The role to give.")
@click.option("--name", "display_name", default=None)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.pass_obj
def create(obj, email, role, display_name, password_stdin):
    """Create a user. Without a password the user must be given one with reset-password."""
    password = _password_from_stdin() if password_stdin else None
    if password is None and sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with obj.db() as db:
        user = accounts.create_user(db, audit.Actor.cli(), email, role, password, display_name)
        echo(f"Created {user.role} {user.email}.")
    if password is None:
        echo(f"No password set: run 'asthron users reset-password --email {user.email}'.")


@users_group.command("list")
@click.pass_obj
def list_users(obj):
    """List users."""
    with obj.db() as db:
        users = accounts.list_users(db)
        if not users:
            echo("No users yet: run 'asthron setup' or 'asthron users create'.")
        for user in users:
            state = "active" if user.is_active else "deactivated"
            echo(f"{shown(user.email)}\t{user.role}\t{state}\t{shown(user.display_name)}")


@users_group.command("set-role")
@click.option("--email", required=True)
@click.option("--role", required=True, metavar="|".join(ROLES), help="The role to give.")
@click.pass_obj
def set_role(obj, email, role):
    """Change a user's role."""
    with obj.db() as db:
        user = _user(db, email)
        if user.role == role:
            echo(f"{user.email} is already {role}: nothing to change.")
            return
        accounts.set_role(db, audit.Actor.cli(), "owner", user, role)
        echo(f"{user.email} is now {role}.")


@users_group.command()
@click.option("--email", required=True)
@click.pass_obj
def deactivate(obj, email):
    """Deactivate a user and end all their sessions."""
    with obj.db() as db:
        user = _user(db, email)
        if not user.is_active:
            echo(f"{user.email} is already deactivated: nothing to change.")
            return
        accounts.deactivate(db, audit.Actor.cli(), "owner", user)
        echo(f"{user.email} is deactivated; their sessions were ended.")


@users_group.command()
@click.option("--email", required=True)
@click.pass_obj
def reactivate(obj, email):
    """Reactivate a user."""
    with obj.db() as db:
        user = _user(db, email)
        if user.is_active:
            echo(f"{user.email} is already active: nothing to change.")
            return
        accounts.reactivate(db, audit.Actor.cli(), "owner", user)
        echo(f"{user.email} is active again.")


@users_group.command("reset-password")
@click.option("--email", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the new password from stdin.")
@click.pass_obj
def reset_password(obj, email, password_stdin):
    """Set a new password and end all the user's sessions."""
    if password_stdin:
        password = _password_from_stdin()
    elif sys.stdin.isatty():
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    else:
        raise click.ClickException("pass --password-stdin to give the password")
    with obj.db() as db:
        user = _user(db, email)
        accounts.set_password(db, audit.Actor.cli(), user, password)
        echo(f"Password of {user.email} was reset; their sessions were ended.")


def register(cli):
    cli.add_command(users_group)

"""The ``asthron`` command: one click group, one module per command group."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import click
import sqlalchemy as sa
import transaction

from asthron.accounts.passwords import PasswordPolicyError
from asthron.accounts.service import AccountError
from asthron.settings import SettingsError

# Errors a person can act on: printed as one line, exit status 1, never a traceback.
EXPECTED_ERRORS = (AccountError, PasswordPolicyError, SettingsError, ValueError)


class CliContext:
    """The .ini path, and the application bootstrapped from it on first use."""

    def __init__(self, config_path: str):
        self.config_path = str(Path(config_path).resolve())
        self._env = None

    @property
    def settings(self):
        from pyramid.paster import get_appsettings

        from asthron.settings import AppSettings

        if not Path(self.config_path).exists():
            raise SettingsError(f"configuration file {self.config_path} does not exist")
        return AppSettings.from_ini(get_appsettings(self.config_path))

    @property
    def registry(self):
        if self._env is None:
            from pyramid.paster import bootstrap, setup_logging

            if not Path(self.config_path).exists():
                raise SettingsError(f"configuration file {self.config_path} does not exist")
            setup_logging(self.config_path)
            self._env = bootstrap(self.config_path)
        return self._env["registry"]

    @contextmanager
    def db(self):
        """A session in its own transaction, committed when the block ends without error."""
        from asthron.db import get_tm_session

        tm = transaction.TransactionManager(explicit=True)
        with tm:
            yield get_tm_session(self.registry["dbsession_factory"], tm)


class AsthronGroup(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except EXPECTED_ERRORS as exc:
            raise click.ClickException(str(exc)) from None
        except sa.exc.OperationalError as exc:
            raise click.ClickException(f"database error: {exc.orig}") from None
        except sa.exc.ProgrammingError as exc:
            raise click.ClickException(
                f"database error (is the schema migrated? run 'asthron db upgrade'): {exc.orig}"
            ) from None


@click.group(cls=AsthronGroup)
@click.option(
    "-c",
    "--config",
    "config_path",
    default=lambda: os.environ.get("ASTHRON_CONFIG", "development.ini"),
    show_default="development.ini or $ASTHRON_CONFIG",
    help="The .ini file to use.",
)
@click.pass_context
def cli(ctx, config_path):
    """Asthron: a self-hosted AI website assistant."""
    ctx.obj = CliContext(config_path)


def _register():
    from asthron.cli import db, jobs, serve, setup, users

    for module in (db, jobs, serve, setup, users):
        module.register(cli)


_register()


def main():
    cli(prog_name="asthron")

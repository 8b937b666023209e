"""The ``asthron`` command: one click group, one module per command group.

Every command reads one .ini file: ``-c/--config``, else ``$ASTHRON_CONFIG``, else
``development.ini`` in the current directory. Errors a person can act on (a missing file, an
unknown user, a weak password, a database that is not migrated) print one ``Error:`` line and
exit with status 1; they never print a traceback.
"""

from __future__ import annotations

import importlib
import os
from contextlib import contextmanager
from pathlib import Path

import click
import sqlalchemy as sa
from pyramid.paster import bootstrap, get_appsettings, setup_logging

from asthron.accounts.passwords import PasswordPolicyError
from asthron.accounts.service import AccountError
from asthron.cli.db import missing_sqlite_file, revisions_of
from asthron.db import new_transaction
from asthron.health.service import migration_heads
from asthron.models import import_all_models
from asthron.settings import AppSettings, SettingsError
from asthron.text import escape_controls

PRIVATE_UMASK = 0o077
# Errors a person can act on: printed as one line, exit status 1, never a traceback.
EXPECTED_ERRORS = (AccountError, PasswordPolicyError, SettingsError, ValueError)


class NotMigrated(click.ClickException):
    pass


class CliContext:
    """The .ini path, and the application bootstrapped from it on first use."""

    def __init__(self, config_path: str):
        self.config_path = str(Path(config_path).resolve())
        self._env = None
        self._settings = None

    def _require_file(self) -> None:
        if not Path(self.config_path).is_file():
            raise SettingsError(f"configuration file {self.config_path} does not exist")

    @property
    def settings(self):
        """Typed settings, read without bootstrapping the app (no secrets file needed)."""
        if self._settings is None:
            self._require_file()
            self._settings = AppSettings.from_ini(get_appsettings(self.config_path))
        return self._settings

    @property
    def registry(self):
        """The bootstrapped application's registry (needs the secrets file)."""
        if self._env is None:
            self._require_file()
            setup_logging(self.config_path)
            self._env = bootstrap(self.config_path)
        return self._env["registry"]

    def require_migrated(self) -> None:
        """Refuse to work on a schema that is not at the migrations' head."""
        current = set()
        if not missing_sqlite_file(self.settings.database_url):
            with self.registry["db_engine"].connect() as connection:
                current = revisions_of(connection)
        heads = migration_heads(self.settings.migrations_dir)
        if current != heads:
            at = ", ".join(sorted(current)) or "an empty schema"
            raise NotMigrated(
                f"the database is not migrated (it is at {at}, the code needs "
                f"{', '.join(sorted(heads))}): run 'asthron db upgrade' or 'asthron setup'"
            )

    @contextmanager
    def db(self):
        """A session in its own transaction, committed when the block ends without error."""
        self.require_migrated()
        with new_transaction(self.registry) as session:
            yield session

    def close(self) -> None:
        if self._env is not None:
            engine = self._env["registry"].get("db_engine")
            if engine is not None:
                engine.dispose()
            self._env["closer"]()
            self._env = None


class AsthronGroup(click.Group):
    def invoke(self, ctx):
        from alembic.util import CommandError

        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            # Messages may quote stored text or file names: never raw control characters.
            exc.message = escape_controls(exc.message)
            raise
        except EXPECTED_ERRORS as exc:
            raise click.ClickException(escape_controls(str(exc))) from None
        except CommandError as exc:
            raise click.ClickException(f"migrations: {exc}") from None
        except sa.exc.OperationalError as exc:
            raise click.ClickException(f"database error: {_first_line(exc.orig)}") from None
        except sa.exc.ProgrammingError as exc:
            raise click.ClickException(
                "database error (is the schema migrated? run 'asthron db upgrade'): "
                + _first_line(exc.orig)
            ) from None


def _first_line(error) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


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
    ctx.call_on_close(ctx.obj.close)
    # Whatever a command creates (var/, the SQLite databases and their journals, the Huey
    # queue, the secrets file) is for this user alone. Restored on exit, which matters only
    # when the command runs in-process (tests).
    previous_umask = os.umask(PRIVATE_UMASK)
    ctx.call_on_close(lambda: os.umask(previous_umask))


# One module per command group; each has register(cli). They import this module's group, so
# they are loaded (by name) after it is defined.
COMMAND_MODULES = (
    "ai",
    "backup",
    "db",
    "jobs",
    "kb",
    "keys",
    "leads",
    "payments",
    "retention",
    "serve",
    "setup",
    "sites",
    "subject",
    "users",
)


def _register():
    # The privacy commands walk the metadata: every table must be known.
    import_all_models()
    for name in COMMAND_MODULES:
        importlib.import_module(f"asthron.cli.{name}").register(cli)


_register()


def main():
    cli(prog_name="asthron")

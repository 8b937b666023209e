"""Fixtures for the ``asthron`` command: a test-written .ini, in-process and real runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.conftest import ROOT

ASTHRON = Path(sys.executable).with_name("asthron")
OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "Owner-pass-9x!zQ"
STAFF_PASSWORD = "Staff-pass-4k@wR"

INI = """\
[app:main]
use = egg:asthron
asthron.database_url = {database_url}
asthron.huey_url = sqlite:///%(here)s/var/huey.sqlite
asthron.secrets_file = %(here)s/var/secrets.json
asthron.public_url = http://127.0.0.1
asthron.templates_dir = {root}/templates
asthron.migrations_dir = {root}/migrations
asthron.var_dir = %(here)s/var
asthron.outbound.allowed_private_hosts = 127.0.0.1
jinja2.autoescape = true
jinja2.undefined = strict
retry.attempts = 3
"""


def write_ini(directory: Path, database_url: str, name: str = "test.ini") -> Path:
    path = directory / name
    path.write_text(INI.format(database_url=database_url, root=ROOT))
    return path


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    # The overrides would point every command at some other database.
    for name in ("ASTHRON_CONFIG", "ASTHRON_DATABASE_URL", "ASTHRON_HUEY_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def cli_db_url(request, tmp_path):
    """An empty database of the test's own: never the shared, migrated test databases."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'asthron.sqlite'}"
        return
    yield request.getfixturevalue("empty_pg_url")


@pytest.fixture
def sqlite_cli_url(tmp_path):
    return f"sqlite:///{tmp_path / 'var' / 'asthron.sqlite'}"


@pytest.fixture
def ini(tmp_path, cli_db_url) -> Path:
    return write_ini(tmp_path, cli_db_url)


@pytest.fixture
def sqlite_ini(tmp_path, sqlite_cli_url) -> Path:
    return write_ini(tmp_path, sqlite_cli_url)


class Cli:
    """Runs ``asthron -c INI …`` in-process, returning click's result."""

    def __init__(self, ini_path: Path, database_url: str):
        self.ini = ini_path
        self.database_url = database_url
        self.runner = CliRunner()

    def __call__(self, *args, input=None, env=None):
        from asthron.cli import cli

        return self.runner.invoke(cli, ["-c", str(self.ini), *args], input=input, env=env)

    def setup(self):
        result = self(
            "setup", "--owner-email", OWNER_EMAIL, "--owner-password-stdin", input=OWNER_PASSWORD
        )
        assert result.exit_code == 0, result.output
        return result

    def audit(self) -> list[tuple[str, str]]:
        """(actor, action) of every audit entry, oldest first."""
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return [
                    tuple(row)
                    for row in connection.execute(
                        sa.text("SELECT actor_label, action FROM audit_log ORDER BY id")
                    )
                ]
        finally:
            engine.dispose()

    def user(self, email: str):
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return connection.execute(
                    sa.text(
                        "SELECT email, role, is_active, password_hash FROM users"
                        " WHERE email = :email"
                    ),
                    {"email": email},
                ).one_or_none()
        finally:
            engine.dispose()


@pytest.fixture
def cli(ini, cli_db_url) -> Cli:
    return Cli(ini, cli_db_url)


@pytest.fixture
def sqlite_cli(sqlite_ini, sqlite_cli_url) -> Cli:
    return Cli(sqlite_ini, sqlite_cli_url)


@pytest.fixture(scope="session")
def _set_up_var(tmp_path_factory) -> Path:
    """var/ of a SQLite install after ``asthron setup``, made once and copied per test."""
    directory = tmp_path_factory.mktemp("set-up")
    url = f"sqlite:///{directory / 'var' / 'asthron.sqlite'}"
    Cli(write_ini(directory, url), url).setup()
    return directory / "var"


@pytest.fixture
def ready_cli(tmp_path, _set_up_var) -> Cli:
    """SQLite, already set up with the owner OWNER_EMAIL / OWNER_PASSWORD."""
    shutil.copytree(_set_up_var, tmp_path / "var")
    url = f"sqlite:///{tmp_path / 'var' / 'asthron.sqlite'}"
    return Cli(write_ini(tmp_path, url), url)


def run_asthron(*args, cwd=None, input=None, env=None, timeout=60) -> subprocess.CompletedProcess:
    """The real entry point, in a child process: what a person at a shell sees."""
    full_env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    return subprocess.run(
        [str(ASTHRON), *args],
        cwd=cwd,
        input=input,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(output: str, fragment: str) -> None:
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: "), output
    assert fragment in lines[0], output

"""Fixtures for the sites tests: an .ini for the ``asthron`` command on the test database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT

INI = """\
[app:main]
use = egg:asthron
asthron.database_url = {database_url}
asthron.huey_url = sqlite:///{tmp}/huey.sqlite
asthron.secrets_file = {secrets_file}
asthron.public_url = http://127.0.0.1
asthron.templates_dir = {root}/templates
asthron.migrations_dir = {root}/migrations
asthron.var_dir = {tmp}/var
jinja2.autoescape = true
jinja2.undefined = strict
"""


def write_ini(path: Path, database_url: str, secrets_file: Path) -> Path:
    path.write_text(
        INI.format(database_url=database_url, tmp=path.parent, secrets_file=secrets_file, root=ROOT)
    )
    return path


@pytest.fixture
def cli_ini(tmp_path, db_url, secrets_file, monkeypatch) -> Path:
    for name in ("ASTHRON_CONFIG", "ASTHRON_DATABASE_URL", "ASTHRON_HUEY_URL"):
        monkeypatch.delenv(name, raising=False)
    return write_ini(tmp_path / "test.ini", db_url, secrets_file)

"""``asthron sites add`` and ``asthron sites list``."""

from __future__ import annotations

import json
import re

import sqlalchemy as sa
from click.testing import CliRunner

from tests.sites.conftest import write_ini

KEY_RE = re.compile(r"site_[A-Za-z0-9_-]{24}")


def run(ini, *args):
    from asthron.cli import cli

    return CliRunner().invoke(cli, ["-c", str(ini), *args])


def test_sites_add_prints_the_key_and_list_shows_the_site(cli_ini, db_url):
    added = run(
        cli_ini,
        "sites", "add", "--name", "Corner Shop",
        "--origin", "https://Shop.Example.com:443/",
        "--origin", "http://localhost:3000",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    key = added.output.strip()
    assert KEY_RE.fullmatch(key), added.output

    second = run(cli_ini, "sites", "add", "--name", "Blog", "--origin", "https://blog.example.net")
    assert second.exit_code == 0, second.output
    assert second.output.strip() != key

    listed = run(cli_ini, "sites", "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert lines == [
        f"{second.output.strip()}\tBlog\thttps://blog.example.net",
        f"{key}\tCorner Shop\thttp://localhost:3000 https://shop.example.com",
    ]

    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as connection:
            origins = connection.execute(
                sa.text("SELECT allowed_origins FROM sites WHERE public_key = :k"), {"k": key}
            ).scalar_one()
            actions = connection.execute(
                sa.text("SELECT actor_label, action FROM audit_log ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    origins = json.loads(origins) if isinstance(origins, str) else origins
    assert origins == ["http://localhost:3000", "https://shop.example.com"]
    assert [a.action for a in actions] == ["site.create", "site.create"]


def test_sites_add_refuses_bad_origins_with_one_line(cli_ini):
    for origin in ("https://shop.example.com/path", "ftp://shop.example.com", "nonsense"):
        result = run(cli_ini, "sites", "add", "--name", "Shop", "--origin", origin)
        assert result.exit_code == 1, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
        assert "Traceback" not in result.output
    missing = run(cli_ini, "sites", "add", "--name", "Shop")
    assert missing.exit_code == 2
    assert "--origin" in missing.output
    assert run(cli_ini, "sites", "list").output == ""


def test_sites_need_a_migrated_database(tmp_path, secrets_file, monkeypatch):
    monkeypatch.delenv("ASTHRON_DATABASE_URL", raising=False)
    ini = write_ini(tmp_path / "empty.ini", f"sqlite:///{tmp_path / 'empty.sqlite'}", secrets_file)
    result = run(ini, "sites", "add", "--name", "Shop", "--origin", "https://shop.example.com")
    assert result.exit_code == 1
    assert "not migrated" in result.output

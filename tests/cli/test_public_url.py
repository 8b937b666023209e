"""The app's address: asthron.public_url, ASTHRON_PUBLIC_URL (which scripts/run sets from
ASTHRON_PORT), the port `asthron serve` listens on, and a demo install that moves to another
port."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from asthron.settings import AppSettings, SettingsError, local_port

BASE = {"asthron.database_url": "sqlite://", "asthron.public_url": "http://127.0.0.1:6543/"}


def test_the_environment_overrides_the_file(monkeypatch):
    assert AppSettings.from_ini(BASE).public_url == "http://127.0.0.1:6543"
    monkeypatch.setenv("ASTHRON_PUBLIC_URL", "http://127.0.0.1:7201")
    assert AppSettings.from_ini(BASE).public_url == "http://127.0.0.1:7201"


@pytest.mark.parametrize(
    "bad", ["127.0.0.1:7201", "ftp://example.com", "http://", "http://h:99999"]
)
def test_a_malformed_address_is_a_settings_error(bad):
    with pytest.raises(SettingsError, match=r"asthron\.public_url"):
        AppSettings.from_ini({**BASE, "asthron.public_url": bad})


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("http://127.0.0.1:7201", 7201),
        ("http://localhost:8080/", 8080),
        ("http://127.0.0.1", 80),
        # Behind a proxy the public address says nothing about the local port.
        ("https://chat.example.com", 6543),
        ("https://chat.example.com:8443", 6543),
    ],
)
def test_serve_listens_on_the_public_addresses_port_when_it_is_this_machine(url, port):
    assert local_port(url) == port


def demo_site(cli):
    engine = sa.create_engine(cli.database_url)
    try:
        with engine.connect() as connection:
            origins, privacy_url = connection.execute(
                sa.text("SELECT allowed_origins, privacy_url FROM sites WHERE name = 'Demo shop'")
            ).one()
            return json.loads(origins), privacy_url
    finally:
        engine.dispose()


def test_a_demo_install_follows_a_new_port(sqlite_cli):
    first = sqlite_cli("setup", "--demo", env={"ASTHRON_PUBLIC_URL": "http://127.0.0.1:6543"})
    assert first.exit_code == 0, first.output
    assert "Dashboard: http://127.0.0.1:6543/login" in first.output
    origins, privacy_url = demo_site(sqlite_cli)
    assert "http://127.0.0.1:6543" in origins
    # The widget links to the privacy page at whatever address it was loaded from.
    assert privacy_url == ""

    moved = sqlite_cli("setup", "--demo", env={"ASTHRON_PUBLIC_URL": "http://127.0.0.1:7201"})
    assert moved.exit_code == 0, moved.output
    assert "allowed http://127.0.0.1:7201 on the demo site" in moved.output
    assert "Dashboard: http://127.0.0.1:7201/login" in moved.output
    origins, _ = demo_site(sqlite_cli)
    assert {"http://127.0.0.1:7201", "http://localhost:7201", "http://127.0.0.1:6543"} <= set(
        origins
    )
    assert ("cli", "site.update") in sqlite_cli.audit()

    again = sqlite_cli("setup", "--demo", env={"ASTHRON_PUBLIC_URL": "http://127.0.0.1:7201"})
    assert "Already set up: nothing to change." in again.output


def test_an_old_demo_privacy_link_gives_way(sqlite_cli):
    sqlite_cli("setup", "--demo", env={"ASTHRON_PUBLIC_URL": "http://127.0.0.1:6543"})
    engine = sa.create_engine(sqlite_cli.database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE sites SET privacy_url = 'http://127.0.0.1:6543/demo'"))
    engine.dispose()
    result = sqlite_cli("setup", "--demo", env={"ASTHRON_PUBLIC_URL": "http://127.0.0.1:6543"})
    assert "on the demo site" in result.output
    assert demo_site(sqlite_cli)[1] == ""

"""``asthron setup``: first run creates everything; a second run changes nothing."""

from __future__ import annotations

import json
import stat

import pytest

from asthron.accounts.passwords import verify_password
from tests.fixtures.cli import (
    OWNER_EMAIL,
    OWNER_PASSWORD,
    Cli,
    assert_one_line_error,
    run_asthron,
    write_ini,
)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_setup_creates_var_secrets_schema_and_owner(cli, tmp_path):
    var = tmp_path / "var"
    assert not var.exists()

    result = cli.setup()

    assert "Setup complete." in result.output
    assert var.is_dir()
    secrets_file = var / "secrets.json"
    assert _mode(secrets_file) == 0o600
    data = json.loads(secrets_file.read_text())
    assert len(data["session_secret"]) >= 40
    assert len(data["fernet_keys"]) == 1
    assert cli("db", "check").exit_code == 0

    owner = cli.user(OWNER_EMAIL)
    assert owner.role == "owner" and owner.is_active
    assert verify_password(owner.password_hash, OWNER_PASSWORD)
    assert ("cli", "user.create") in cli.audit()
    assert ("cli", "setup.run") in cli.audit()
    assert {actor for actor, _action in cli.audit()} == {"cli"}


def test_second_setup_changes_nothing_and_says_so(cli, tmp_path):
    cli.setup()
    secrets_file = tmp_path / "var" / "secrets.json"
    before = (secrets_file.read_bytes(), secrets_file.stat().st_mtime_ns, _mode(secrets_file))
    audit_before = cli.audit()

    again = cli("setup", "--owner-email", "other@example.com", "--owner-password-stdin", input="x")

    assert again.exit_code == 0, again.output
    assert again.output.strip() == "Already set up: nothing to change."
    after = (secrets_file.read_bytes(), secrets_file.stat().st_mtime_ns, _mode(secrets_file))
    assert after == before
    assert cli.audit() == audit_before
    assert cli.user("other@example.com") is None


def test_setup_demo_prints_the_login_every_time(sqlite_cli, tmp_path):
    first = sqlite_cli("setup", "--demo")
    assert first.exit_code == 0, first.output
    login_line = [line for line in first.output.splitlines() if line.startswith("Demo login: ")]
    assert len(login_line) == 1
    email, password = login_line[0].removeprefix("Demo login: ").split(" / ")
    assert email == "owner@example.com"
    assert verify_password(sqlite_cli.user(email).password_hash, password)
    assert _mode(tmp_path / "var" / "demo-login.txt") == 0o600
    assert "created the demo site" in first.output
    assert "created 4 demo articles" in first.output
    listed = sqlite_cli("sites", "list")
    assert listed.exit_code == 0, listed.output
    assert "Demo shop\thttp://127.0.0.1 http://localhost" in listed.output
    assert ("cli", "site.create") in sqlite_cli.audit()
    assert ("cli", "knowledge.create") in sqlite_cli.audit()
    found = sqlite_cli("kb", "search", "when do you deliver")
    assert "Delivery and shipping" in found.output

    second = sqlite_cli("setup", "--demo")
    assert second.exit_code == 0
    assert "Already set up: nothing to change." in second.output
    assert login_line[0] in second.output
    assert sqlite_cli("sites", "list").output == listed.output


def test_setup_completes_a_half_done_install(sqlite_cli, tmp_path):
    """An existing secrets file is kept; only what is missing is done."""
    assert sqlite_cli("db", "upgrade").exit_code == 0
    from asthron.cli.setup import write_secrets_file

    write_secrets_file(tmp_path / "var" / "secrets.json")
    kept = (tmp_path / "var" / "secrets.json").read_bytes()

    result = sqlite_cli.setup()

    assert "secrets file" not in result.output
    assert "migrated" not in result.output
    assert f"created owner {OWNER_EMAIL}" in result.output
    assert (tmp_path / "var" / "secrets.json").read_bytes() == kept


@pytest.mark.parametrize(
    ("args", "stdin", "fragment"),
    [
        ([], None, "pass --owner-email"),
        (["--owner-email", OWNER_EMAIL], None, "--owner-password-stdin"),
        (["--owner-email", OWNER_EMAIL, "--owner-password-stdin"], "short", "at least 10"),
        (["--owner-email", OWNER_EMAIL, "--owner-password-stdin"], "password123", "too common"),
        (["--owner-email", "not-an-email", "--owner-password-stdin"], OWNER_PASSWORD, "email"),
        (["--owner-email", OWNER_EMAIL, "--owner-password-stdin"], "", "no password"),
    ],
)
def test_setup_refuses_bad_owner_input_in_one_line(sqlite_cli, args, stdin, fragment):
    result = sqlite_cli("setup", *args, input=stdin)
    assert result.exit_code == 1
    assert_one_line_error(result.output, fragment)
    assert not isinstance(result.exception, AssertionError | TypeError | AttributeError)


def test_setup_through_the_real_command(tmp_path):
    ini = write_ini(tmp_path, f"sqlite:///{tmp_path / 'var' / 'asthron.sqlite'}")
    first = run_asthron(
        "-c",
        str(ini),
        "setup",
        "--owner-email",
        OWNER_EMAIL,
        "--owner-password-stdin",
        input=OWNER_PASSWORD + "\n",
    )
    assert first.returncode == 0, first.stderr
    assert "Setup complete." in first.stdout
    assert _mode(tmp_path / "var" / "secrets.json") == 0o600

    second = run_asthron("-c", str(ini), "setup")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "Already set up: nothing to change."
    assert Cli(ini, f"sqlite:///{tmp_path / 'var' / 'asthron.sqlite'}").user(OWNER_EMAIL)

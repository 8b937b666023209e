"""``asthron users``: each change is audited as 'cli'; each expected error is one line."""

from __future__ import annotations

import pytest

from asthron.accounts.passwords import verify_password
from tests.fixtures.cli import (
    OWNER_EMAIL,
    STAFF_PASSWORD,
    Cli,
    assert_one_line_error,
    run_asthron,
    write_ini,
)

STAFF_EMAIL = "staff@example.com"


def _ok(result):
    assert result.exit_code == 0, result.output
    return result.output


def test_user_lifecycle_is_audited_as_cli(cli):
    cli.setup()
    start = len(cli.audit())

    out = _ok(
        cli(
            "users",
            "create",
            "--email",
            "Staff@Example.com",
            "--role",
            "staff",
            "--password-stdin",
            input=STAFF_PASSWORD,
        )
    )
    assert out.strip() == f"Created staff {STAFF_EMAIL}."
    assert verify_password(cli.user(STAFF_EMAIL).password_hash, STAFF_PASSWORD)

    listing = _ok(cli("users", "list")).splitlines()
    assert any(line.startswith(f"{OWNER_EMAIL}\towner\tactive") for line in listing)
    assert any(line.startswith(f"{STAFF_EMAIL}\tstaff\tactive") for line in listing)

    assert "is now admin" in _ok(
        cli("users", "set-role", "--email", STAFF_EMAIL, "--role", "admin")
    )
    assert cli.user(STAFF_EMAIL).role == "admin"
    assert "deactivated" in _ok(cli("users", "deactivate", "--email", STAFF_EMAIL))
    assert not cli.user(STAFF_EMAIL).is_active
    assert "active again" in _ok(cli("users", "reactivate", "--email", STAFF_EMAIL))
    new_password = "Another-pass-7y#t"
    assert "was reset" in _ok(
        cli(
            "users",
            "reset-password",
            "--email",
            STAFF_EMAIL,
            "--password-stdin",
            input=new_password + "\n",
        )
    )
    assert verify_password(cli.user(STAFF_EMAIL).password_hash, new_password)

    entries = cli.audit()[start:]
    assert {actor for actor, _ in entries} == {"cli"}
    actions = [action for _, action in entries]
    for action in (
        "user.create",
        "user.set_role",
        "user.deactivate",
        "user.reactivate",
        "user.password_change",
    ):
        assert action in actions


def test_no_op_changes_say_so_and_write_nothing(ready_cli):
    sqlite_cli = ready_cli
    before = sqlite_cli.audit()
    out = _ok(sqlite_cli("users", "set-role", "--email", OWNER_EMAIL, "--role", "owner"))
    assert "nothing to change" in out
    out = _ok(sqlite_cli("users", "reactivate", "--email", OWNER_EMAIL))
    assert "nothing to change" in out
    assert sqlite_cli.audit() == before


def test_create_without_password_explains_the_next_step(ready_cli):
    sqlite_cli = ready_cli
    out = _ok(sqlite_cli("users", "create", "--email", STAFF_EMAIL, "--role", "staff"))
    assert "reset-password" in out
    assert sqlite_cli.user(STAFF_EMAIL).password_hash is None


@pytest.mark.parametrize(
    ("args", "stdin", "fragment"),
    [
        (["set-role", "--email", "nobody@example.com", "--role", "admin"], None, "no user"),
        (["deactivate", "--email", "nobody@example.com"], None, "no user"),
        (["reactivate", "--email", "nobody@example.com"], None, "no user"),
        (
            ["reset-password", "--email", "nobody@example.com", "--password-stdin"],
            "Xx-12345-pass",
            "no user",
        ),
        (["create", "--email", STAFF_EMAIL, "--role", "boss"], None, "Role must be one of"),
        (["set-role", "--email", OWNER_EMAIL, "--role", "boss"], None, "Role must be one of"),
        (
            ["create", "--email", STAFF_EMAIL, "--role", "staff", "--password-stdin"],
            "short",
            "at least 10",
        ),
        (
            ["create", "--email", STAFF_EMAIL, "--role", "staff", "--password-stdin"],
            "iloveyou1",
            "characters",
        ),
        (
            ["create", "--email", STAFF_EMAIL, "--role", "staff", "--password-stdin"],
            "qwertyuiop",
            "too common",
        ),
        (
            ["create", "--email", "OWNER@example.com", "--role", "staff", "--password-stdin"],
            STAFF_PASSWORD,
            "already exists",
        ),
        (["create", "--email", "not an email", "--role", "staff"], None, "valid email"),
        (
            ["reset-password", "--email", OWNER_EMAIL, "--password-stdin"],
            "password1234",
            "too common",
        ),
        (["reset-password", "--email", OWNER_EMAIL], None, "--password-stdin"),
        (
            ["set-role", "--email", OWNER_EMAIL, "--role", "staff"],
            None,
            "at least one active owner",
        ),
        (["deactivate", "--email", OWNER_EMAIL], None, "at least one active owner"),
    ],
)
def test_expected_errors_are_one_line(ready_cli, args, stdin, fragment):
    cli = ready_cli
    before = cli.audit()
    result = cli("users", *args, input=stdin)
    assert result.exit_code == 1, result.output
    assert_one_line_error(result.output, fragment)
    assert cli.audit() == before


def test_unmigrated_database_is_one_line(sqlite_cli, tmp_path):
    from asthron.cli.setup import write_secrets_file

    write_secrets_file(tmp_path / "var" / "secrets.json")
    result = sqlite_cli("users", "list")
    assert result.exit_code == 1
    assert_one_line_error(result.output, "not migrated")


def test_missing_secrets_file_is_one_line(sqlite_cli):
    assert sqlite_cli("db", "upgrade").exit_code == 0
    result = sqlite_cli("users", "list")
    assert result.exit_code == 1
    assert_one_line_error(result.output, "run 'asthron setup' first")


def test_errors_through_the_real_command_have_no_traceback(tmp_path):
    ini = write_ini(tmp_path, f"sqlite:///{tmp_path / 'var' / 'asthron.sqlite'}")
    from asthron.cli.setup import write_secrets_file

    write_secrets_file(tmp_path / "var" / "secrets.json")
    unmigrated = run_asthron("-c", str(ini), "users", "list")
    assert unmigrated.returncode == 1
    assert_one_line_error(unmigrated.stderr, "not migrated")

    Cli(ini, f"sqlite:///{tmp_path / 'var' / 'asthron.sqlite'}").setup()
    result = run_asthron("-c", str(ini), "users", "deactivate", "--email", "nobody@example.com")
    assert result.returncode == 1, result.stderr
    assert_one_line_error(result.stderr, "no user")

"""``asthron db``: upgrade, downgrade, current, check; and which .ini the command reads."""

from __future__ import annotations

from click.testing import CliRunner

from tests.fixtures.cli import assert_one_line_error, run_asthron, write_ini


def test_upgrade_current_check_downgrade(cli):
    current = cli("db", "current")
    assert current.exit_code == 0, current.output
    assert current.output.startswith("base (empty) (head is ")

    upgrade = cli("db", "upgrade")
    assert upgrade.exit_code == 0, upgrade.output
    assert upgrade.output.startswith("Database upgraded from base (empty) to ")
    assert cli.audit() == [("cli", "db.upgrade")]

    again = cli("db", "upgrade")
    assert again.exit_code == 0
    assert "nothing to do" in again.output
    assert cli.audit() == [("cli", "db.upgrade")]

    assert cli("db", "current").output.strip().endswith("(head)")
    check = cli("db", "check")
    assert check.exit_code == 0, check.output
    assert check.output.strip() == "Schema is at head and matches the models."

    downgrade = cli("db", "downgrade", "base")
    assert downgrade.exit_code == 0, downgrade.output
    assert downgrade.output.strip().endswith("to base (empty).")
    assert cli("db", "current").output.startswith("base (empty)")


def test_check_fails_on_an_unmigrated_database(sqlite_cli):
    result = sqlite_cli("db", "check")
    assert result.exit_code == 1
    assert_one_line_error(result.output, "asthron db upgrade")


def test_unknown_revision_is_one_line(sqlite_cli):
    assert sqlite_cli("db", "upgrade").exit_code == 0
    for command in ("upgrade", "downgrade"):
        result = sqlite_cli("db", command, "no-such-revision")
        assert result.exit_code == 1
        assert_one_line_error(result.output, "no-such-revision")


def test_missing_config_file_is_one_line(tmp_path):
    missing = tmp_path / "nowhere.ini"
    result = run_asthron("-c", str(missing), "db", "current")
    assert result.returncode == 1
    assert result.stdout == ""
    assert_one_line_error(result.stderr, f"configuration file {missing} does not exist")


def test_default_config_is_development_ini_in_the_current_directory(tmp_path, monkeypatch):
    from asthron.cli import cli

    write_ini(tmp_path, f"sqlite:///{tmp_path / 'var' / 'asthron.sqlite'}", "development.ini")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "var" / "asthron.sqlite").exists()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(cli, ["db", "current"])
    assert result.exit_code == 1
    assert_one_line_error(result.output, str(elsewhere / "development.ini"))


def test_asthron_config_names_the_file_and_c_wins(tmp_path, monkeypatch):
    from asthron.cli import cli

    first = tmp_path / "one"
    second = tmp_path / "two"
    for directory in (first, second):
        directory.mkdir()
        write_ini(directory, f"sqlite:///{directory / 'var' / 'asthron.sqlite'}", "site.ini")
    monkeypatch.chdir(tmp_path)
    env = {"ASTHRON_CONFIG": "one/site.ini"}

    result = CliRunner().invoke(cli, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert (first / "var" / "asthron.sqlite").exists()
    assert not (second / "var").exists()

    result = CliRunner().invoke(cli, ["-c", "two/site.ini", "db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert (second / "var" / "asthron.sqlite").exists()


def test_the_installed_command_reads_asthron_config(tmp_path):
    write_ini(tmp_path, f"sqlite:///{tmp_path / 'var' / 'asthron.sqlite'}", "site.ini")
    result = run_asthron(
        "db", "current", cwd="/", env={"ASTHRON_CONFIG": str(tmp_path / "site.ini")}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("base (empty) (head is ")


def test_help_lists_every_command_group():
    from asthron.cli import cli

    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("setup", "db", "users", "serve", "worker", "jobs"):
        assert f"  {name}" in result.output

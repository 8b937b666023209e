"""What the command creates under var/ is readable by its own user only (umask 077)."""

from __future__ import annotations

import os
import stat


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_setup_creates_var_and_its_files_for_this_user_only(sqlite_cli, tmp_path):
    previous = os.umask(0o022)  # a typical login shell's
    try:
        result = sqlite_cli.setup()
        assert os.umask(0o022) == 0o022, "the command must restore the umask it changed"
    finally:
        os.umask(previous)

    var = tmp_path / "var"
    assert "created" in result.output
    assert _mode(var) == 0o700
    created = [p for p in var.rglob("*") if p.is_file()]
    assert {p.name for p in created} >= {"asthron.sqlite", "secrets.json"}
    assert {p.name: _mode(p) for p in created} == {p.name: 0o600 for p in created}

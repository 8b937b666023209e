"""``asthron backup create | verify | restore | prune`` on both databases."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading

import pytest
import sqlalchemy as sa

from asthron.privacy import backups
from tests.fixtures.cli import assert_one_line_error
from tests.privacy.conftest import DANA, add_people, table_rows


def _created(cli, tmp_path):
    result = cli("backup", "create", "--out", str(tmp_path / "backups"))
    assert result.exit_code == 0, result.output
    (backup,) = backups.list_backups(tmp_path / "backups")
    # Only the backup and its manifest: no -wal/-shm or .partial files beside them.
    assert not [p.name for p in (tmp_path / "backups").iterdir() if "partial" in p.name]
    return backup


def test_create_verify_and_restore(set_up_cli, tmp_path):
    ids = add_people(set_up_cli)
    backup = _created(set_up_cli, tmp_path)
    manifest = backup.manifest
    assert manifest["row_counts"]["leads"] == 2
    assert manifest["schema_revision"] and manifest["sha256"]
    assert "secrets.json" not in " ".join(p.name for p in backup.path.parent.iterdir())
    verified = set_up_cli("backup", "verify", str(backup.path))
    assert verified.exit_code == 0, verified.output
    assert verified.output.startswith("OK: ")

    table_rows(set_up_cli, "SELECT 1")
    engine = sa.create_engine(set_up_cli.database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM leads WHERE id = :i"), {"i": ids["other_lead"]})
    engine.dispose()
    restored = set_up_cli("backup", "restore", str(backup.path), "--yes")
    assert restored.exit_code == 0, restored.output
    assert table_rows(set_up_cli, "SELECT id FROM leads WHERE id = :i", i=ids["other_lead"])
    assert ("cli", "backup.restored") in set_up_cli.audit()


def test_restore_erases_again_whoever_was_erased_after_the_backup(set_up_cli, tmp_path):
    add_people(set_up_cli)
    backup = _created(set_up_cli, tmp_path)
    erased = set_up_cli("subject", "erase", "--email", DANA, "--yes")
    assert erased.exit_code == 0, erased.output
    restored = set_up_cli("backup", "restore", str(backup.path), "--yes")
    assert restored.exit_code == 0, restored.output
    assert "1 erased subject(s) erased again" in restored.output
    assert not table_rows(set_up_cli, "SELECT id FROM leads WHERE email = :e", e=DANA)
    assert table_rows(set_up_cli, "SELECT id FROM leads WHERE email = 'other@example.com'")


def test_damaged_foreign_and_newer_backups_are_refused(ready_cli, tmp_path):
    backup = _created(ready_cli, tmp_path)
    foreign = tmp_path / "foreign.sqlite"
    sqlite3.connect(foreign).close()
    cases = [
        (str(foreign), "not an Asthron backup"),
        (str(tmp_path / "nope.sqlite"), "does not exist"),
    ]
    for path, fragment in cases:
        for command in ("verify", "restore"):
            result = (
                ready_cli("backup", command, path, "--yes")
                if command == "restore"
                else ready_cli("backup", command, path)
            )
            assert result.exit_code == 1
            assert_one_line_error(result.output, fragment)

    # A newer schema: a revision this code does not know, with a manifest that matches it.
    newer = tmp_path / "newer" / backup.path.name
    newer.parent.mkdir()
    newer.write_bytes(backup.path.read_bytes())
    with sqlite3.connect(newer) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    manifest = dict(backup.manifest, schema_revision="9999", sha256=backups.sha256_of(newer))
    backups.manifest_path_of(newer).write_text(json.dumps(manifest))
    before = ready_cli.audit()
    result = ready_cli("backup", "restore", str(newer), "--yes")
    assert_one_line_error(result.output, "newer than this code")
    assert ready_cli.audit() == before

    # A damaged file: one byte changed.
    data = bytearray(backup.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    backup.path.write_bytes(bytes(data))
    result = ready_cli("backup", "verify", str(backup.path))
    assert_one_line_error(result.output, "checksum")


def test_a_backup_under_concurrent_writes_is_consistent(ready_cli, tmp_path):
    """Each writer transaction adds two audit rows: a consistent copy holds an even number."""
    engine = sa.create_engine(ready_cli.database_url, connect_args={"timeout": 30})
    stop = threading.Event()

    def write():
        while not stop.is_set():
            with engine.begin() as connection:
                for _ in range(2):
                    connection.execute(
                        sa.text(
                            "INSERT INTO audit_log (created_at, actor_label, action, summary)"
                            " VALUES (CURRENT_TIMESTAMP, 'test', 'pair', '{}')"
                        )
                    )

    writer = threading.Thread(target=write)
    writer.start()
    try:
        made = [ready_cli("backup", "create", "--out", str(tmp_path / "b")) for _ in range(3)]
    finally:
        stop.set()
        writer.join()
        engine.dispose()
    assert all(result.exit_code == 0 for result in made), [r.output for r in made]
    for backup in backups.list_backups(tmp_path / "b"):
        assert ready_cli("backup", "verify", str(backup.path)).exit_code == 0
        with sqlite3.connect(backup.path) as connection:
            pairs = connection.execute("SELECT count(*) FROM audit_log WHERE action = 'pair'")
            assert pairs.fetchone()[0] % 2 == 0


def test_prune_keeps_the_newest_of_each_day_and_week():
    def fake(day, hour):
        created = dt.datetime(2026, 12, day, hour, tzinfo=dt.UTC)
        return backups.Backup(
            backups.Path(f"/x/{day}-{hour}.sqlite"), {"created_at": created.isoformat()}
        )

    # Newest first: Dec 7 (twice), 6, 5, then a week earlier, and two weeks earlier.
    items = [fake(7, 12), fake(7, 1), fake(6, 1), fake(5, 1), fake(1, 1)]
    doomed = backups.prune_plan(items, keep_daily=2, keep_weekly=2)
    kept = {b.path.name for b in items} - {b.path.name for b in doomed}
    # Days Dec 7 and 6; weeks 2026-W50 (Dec 7) and W49 (newest there: Dec 6).
    assert kept == {"7-12.sqlite", "6-1.sqlite"}


def test_pg_dump_missing_is_one_line(ready_cli, monkeypatch):
    monkeypatch.setattr(backups.shutil, "which", lambda name: None)
    with pytest.raises(backups.BackupError, match="pg_dump is not on PATH"):
        backups.pg_tool("pg_dump")


def test_verify_compares_row_counts_with_the_manifest(set_up_cli, tmp_path):
    """On both databases: a manifest whose counts differ from the file's rows is refused (on
    PostgreSQL the rows are counted in the archive's COPY data, a multi-line value counting
    once)."""
    add_people(set_up_cli)
    engine = sa.create_engine(set_up_cli.database_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE conversation_events SET body = :b WHERE id = 1"),
            {"b": "two\nlines \\. and a tab\there"},
        )
    engine.dispose()
    backup = _created(set_up_cli, tmp_path)
    assert set_up_cli("backup", "verify", str(backup.path)).exit_code == 0
    manifest_file = backup.path.with_name(backup.path.name + ".manifest.json")
    if not manifest_file.exists():
        (manifest_file,) = [p for p in backup.path.parent.iterdir() if p.suffix == ".json"]
    manifest = json.loads(manifest_file.read_text())
    manifest["row_counts"]["leads"] += 1
    manifest_file.write_text(json.dumps(manifest))
    refused = set_up_cli("backup", "verify", str(backup.path))
    assert refused.exit_code == 1
    assert "other rows than its manifest" in refused.output


def test_a_full_disk_leaves_no_half_written_backup(ready_cli, tmp_path, monkeypatch):
    import errno

    def disk_full(path):
        raise OSError(errno.ENOSPC, "No space left on device")

    # The copy is on disk; reading it back for the checksum is where the full disk shows.
    monkeypatch.setattr(backups, "sha256_of", disk_full)
    result = ready_cli("backup", "create", "--out", str(tmp_path / "backups"))
    assert result.exit_code == 1
    assert_one_line_error(result.output, "No space left on device")
    assert list((tmp_path / "backups").iterdir()) == []
    # Nothing else changed: a later backup works.
    monkeypatch.undo()
    assert _created(ready_cli, tmp_path).manifest["sha256"]

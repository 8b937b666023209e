"""``asthron subject find | export | erase``, and every personal table declares a rule."""

from __future__ import annotations

import json
import zipfile

from asthron.models import import_all_models
from asthron.privacy import rules
from tests.fixtures.cli import assert_one_line_error
from tests.privacy.conftest import DANA, DANA_PHONE, OTHER, add_people, table_rows


def test_every_table_that_can_hold_personal_data_declares_a_rule():
    import_all_models()
    assert rules.undeclared_tables() == {}


def test_find_follows_a_visitor_to_the_lead_and_back(set_up_cli):
    ids = add_people(set_up_cli)
    result = set_up_cli("subject", "find", "--visitor", str(ids["visitor"]))
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.output.splitlines())
    assert lines["visitors"].startswith("1 row")
    assert lines["conversations"].startswith("2 row")
    assert lines["conversation_events"].startswith("2 row")
    assert lines["leads"].startswith("1 row")
    assert lines["audit_log"].startswith("1 row")
    assert lines["outbox"].startswith("1 row")  # the sealed body names Dana
    assert lines["domain_events"].startswith("1 row")
    by_phone = set_up_cli("subject", "find", "--phone", "+1 202-555-0143")
    assert by_phone.output == result.output


def test_export_writes_one_json_file_per_table_and_a_readme(set_up_cli, tmp_path):
    add_people(set_up_cli)
    out = tmp_path / "dana.zip"
    result = set_up_cli("subject", "export", "--email", "Dana@Example.com", "--out", str(out))
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        assert {"README.txt", "leads.json", "visitors.json", "outbox.json"} <= names
        leads = json.loads(archive.read("leads.json"))
        assert [lead["phone"] for lead in leads] == [DANA_PHONE]
        outbox = json.loads(archive.read("outbox.json"))
        assert DANA in outbox[0]["payload"]["unsealed"]["text"]
        assert OTHER not in archive.read("audit_log.json").decode()
    assert ("cli", "privacy.subject_exported") in set_up_cli.audit()
    again = set_up_cli("subject", "export", "--email", DANA, "--out", str(out))
    assert again.exit_code == 1
    assert_one_line_error(again.output, "already exists")


def test_erase_removes_the_person_and_nobody_else(set_up_cli, tmp_path):
    ids = add_people(set_up_cli)
    dry = set_up_cli("subject", "erase", "--email", DANA, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert table_rows(set_up_cli, "SELECT id FROM leads WHERE email = :e", e=DANA)

    result = set_up_cli("subject", "erase", "--email", DANA, "--yes")
    assert result.exit_code == 0, result.output
    assert "leads: 1 deleted" in result.output
    assert "audit_log: 1 anonymised" in result.output
    assert not table_rows(set_up_cli, "SELECT id FROM leads WHERE email = :e", e=DANA)
    assert not table_rows(set_up_cli, "SELECT id FROM visitors WHERE id = :i", i=ids["visitor"])
    assert table_rows(set_up_cli, "SELECT id FROM leads WHERE email = :e", e=OTHER)
    assert table_rows(set_up_cli, "SELECT id FROM visitors WHERE email = :e", e=OTHER)
    assert len(table_rows(set_up_cli, "SELECT id FROM outbox")) == 1
    everything = " ".join(
        str(row) for row in table_rows(set_up_cli, "SELECT summary FROM audit_log")
    ) + " ".join(str(r) for r in table_rows(set_up_cli, "SELECT body FROM conversation_events"))
    assert DANA not in everything and "Dana" not in everything
    assert ("cli", "privacy.subject_erased") in set_up_cli.audit()
    tombstones = table_rows(set_up_cli, "SELECT digest FROM erasure_tombstones")
    assert tombstones and all(DANA not in row[0] and len(row[0]) == 64 for row in tombstones)

    again = set_up_cli("subject", "erase", "--email", DANA, "--yes")
    assert again.exit_code == 1
    assert_one_line_error(again.output, "nothing refers to")


def test_bad_subjects_are_one_line_errors(ready_cli):
    for args, fragment in (
        (["--email", "not-an-email"], "not an email"),
        (["--phone", "12345"], "international form"),
        (["--visitor", "x"], "not a visitor id"),
        (["--email", "a@b.io", "--visitor", "3"], "exactly one"),
        ([], "exactly one"),
    ):
        result = ready_cli("subject", "find", *args)
        assert result.exit_code == 1
        assert_one_line_error(result.output, fragment)
    unknown = ready_cli("subject", "erase", "--email", "nobody@example.com", "--yes")
    assert unknown.exit_code == 1
    assert_one_line_error(unknown.output, "nothing refers to")


def test_a_full_disk_leaves_no_half_written_export(ready_cli, tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    add_people(ready_cli)
    real_write = Path.write_bytes

    def disk_full(self, data):
        real_write(self, data[: len(data) // 2])  # the first half made it to disk
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    out = tmp_path / "dana.zip"
    result = ready_cli("subject", "export", "--email", DANA, "--out", str(out))
    assert result.exit_code == 1
    assert_one_line_error(result.output, "No space left on device")
    assert list(tmp_path.glob("dana.zip*")) == []

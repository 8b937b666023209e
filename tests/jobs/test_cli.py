"""`asthron jobs status|sweep|retry-failed` and `asthron worker`, run as a person would."""

from __future__ import annotations

import pytest

from asthron.jobs.models import OutboxItem
from asthron.notify.service import queue_email
from tests.fixtures.worker import run_cli, write_ini


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # each run bootstraps the app
def test_status_counts_and_sweep_sends_what_is_due(
    ini_settings, tmp_path, run_in_tm, smtp_server, configure_smtp
):
    def arrange(db):
        db.add_all(OutboxItem(kind="email.send", payload={}, state=s) for s in ("done", "failed"))
        # Queued while email was not configured: the attempt failed and it waits.
        return queue_email(db, "reader@example.com", "Swept", "text").id

    item_id = run_in_tm(arrange)
    ini = write_ini(tmp_path / "cli.ini", ini_settings)
    status = run_cli(ini, "jobs", "status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines() == ["pending: 1", "done: 1", "failed: 1"]

    server = smtp_server()
    configure_smtp(server)
    swept = run_cli(ini, "jobs", "sweep")  # immediate mode: the CLI process sends it
    assert swept.returncode == 0, swept.stderr
    assert swept.stdout.strip() == "Queued 1 item(s)."
    assert [m["message"]["Subject"] for m in server.messages] == ["Swept"]
    assert run_in_tm(lambda db: db.get(OutboxItem, item_id).state) == "done"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_worker_refuses_immediate_mode(ini_settings, tmp_path):
    ini = write_ini(tmp_path / "immediate.ini", ini_settings)
    result = run_cli(ini, "worker")
    assert result.returncode == 1
    assert "asthron.huey.immediate is on" in result.stderr

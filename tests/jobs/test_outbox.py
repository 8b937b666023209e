"""The outbox: written with its cause, performed under a lease, swept, retried, idempotent."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from huey.storage import SqliteStorage

from asthron import audit
from asthron.audit.models import AuditEntry
from asthron.db import utcnow
from asthron.jobs import queue, service, tasks
from asthron.jobs.models import OutboxItem, WorkerHeartbeat
from asthron.settings import AppSettings

KIND = "test.record"
calls: list[dict] = []


@service.outbox_handler(KIND)
def record_handler(ctx, payload):
    """Writes an audit entry in the job's own transaction, then fails if asked to."""
    calls.append(payload)
    audit.record(ctx.db, audit.Actor(label="job"), "test.handler_ran", summary=payload)
    if payload.get("fail") == "permanent":
        raise service.PermanentJobError("this can never work")
    if payload.get("fail"):
        raise ConnectionError("the far side hung up")


@pytest.fixture(autouse=True)
def reset_calls():
    calls.clear()
    yield
    calls.clear()


@pytest.fixture
def ini_settings(ini_settings):
    ini_settings["asthron.outbox.retry_base_seconds"] = "60"
    ini_settings["asthron.outbox.max_attempts"] = "3"
    return ini_settings


def item(run_in_tm, item_id) -> OutboxItem:
    return run_in_tm(lambda db: db.get(OutboxItem, item_id))


def handler_entries(run_in_tm) -> int:
    query = sa.select(sa.func.count()).where(AuditEntry.action == "test.handler_ran")
    return run_in_tm(lambda db: db.scalar(query))


def insert(run_in_tm, **values) -> int:
    def add(db):
        row = OutboxItem(kind=values.pop("kind", KIND), payload=values.pop("payload", {}))
        for key, value in values.items():
            setattr(row, key, value)
        db.add(row)
        db.flush()
        return row.id

    return run_in_tm(add)


def test_written_with_its_cause_and_performed_after_commit(run_in_tm):
    def cause(db):
        audit.record(db, audit.Actor.cli(), "test.cause")
        created = service.add_outbox_item(db, KIND, {"n": 1})
        assert calls == []  # not before the cause commits
        return created.id

    item_id = run_in_tm(cause)
    assert calls == [{"n": 1}]
    done = item(run_in_tm, item_id)
    assert (done.state, done.attempts, done.leased_until) == ("done", 1, None)
    assert done.done_at is not None
    assert handler_entries(run_in_tm) == 1


def test_nothing_is_written_or_run_when_the_cause_aborts(run_in_tm):
    def cause(db):
        service.add_outbox_item(db, KIND, {"n": 1})
        raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        run_in_tm(cause)
    assert calls == []
    assert run_in_tm(lambda db: db.scalar(sa.select(sa.func.count()).select_from(OutboxItem))) == 0


def test_unknown_kinds_are_refused():
    with pytest.raises(ValueError, match="no outbox handler"):
        service.add_outbox_item(None, "nobody.handles.this", {})


def test_a_failed_attempt_rolls_back_its_writes_and_retries_with_back_off(run_in_tm, registry):
    before = utcnow()
    item_id = run_in_tm(lambda db: service.add_outbox_item(db, KIND, {"fail": True}).id)
    assert len(calls) == 1
    failed = item(run_in_tm, item_id)
    assert failed.state == "pending"
    assert failed.attempts == 1
    assert failed.leased_until is None
    assert failed.last_error == "ConnectionError: the far side hung up"
    assert failed.next_attempt_at >= before + dt.timedelta(seconds=60)
    assert handler_entries(run_in_tm) == 0  # the handler's own transaction was rolled back
    # Not due yet: a premature run (the sweeper, a duplicate) leaves it alone.
    assert service.perform(registry, item_id) == "skipped"
    assert len(calls) == 1


def test_with_a_real_queue_the_retry_is_scheduled_for_when_it_is_due(run_in_tm, registry):
    queue.configure_huey(dataclasses.replace(registry["app_settings"], huey_immediate=False))
    assert isinstance(queue.huey.storage, SqliteStorage)
    item_id = insert(run_in_tm, payload={"fail": True})
    before = utcnow()
    assert service.perform(registry, item_id) == "retry"
    [scheduled] = queue.huey.pending()  # the consumer moves it to its schedule until the eta
    assert type(scheduled) is service.run_outbox_item.task_class
    assert scheduled.args == (item_id,)
    due = item(run_in_tm, item_id).next_attempt_at
    assert due >= before + dt.timedelta(seconds=60)
    assert scheduled.eta >= due.replace(tzinfo=None)


def test_back_off_doubles_and_is_capped():
    def delays(base):
        settings = AppSettings(
            "sqlite://", "sqlite:///q", Path("s"), outbox_retry_base_seconds=base
        )
        return [service.retry_delay(settings, n).total_seconds() for n in (1, 2, 3, 4, 20)]

    assert delays(60) == [60, 120, 240, 480, 3600]
    assert delays(0) == [1, 1, 1, 1, 1]  # never a busy loop


def make_due(run_in_tm, item_id):
    def update(db):
        db.get(OutboxItem, item_id).next_attempt_at = utcnow() - dt.timedelta(seconds=1)

    run_in_tm(update)


def test_gives_up_after_max_attempts_and_keeps_the_item(run_in_tm, registry):
    item_id = run_in_tm(lambda db: service.add_outbox_item(db, KIND, {"fail": True}).id)
    for expected in ("retry", "failed"):
        make_due(run_in_tm, item_id)
        assert service.perform(registry, item_id) == expected
    failed = item(run_in_tm, item_id)
    assert (failed.state, failed.attempts) == ("failed", 3)
    assert "far side hung up" in failed.last_error
    # A failed item is never run again until someone retries it.
    assert service.perform(registry, item_id) == "skipped"
    assert len(calls) == 3


def test_a_permanent_error_fails_at_once(run_in_tm):
    item_id = run_in_tm(lambda db: service.add_outbox_item(db, KIND, {"fail": "permanent"}).id)
    failed = item(run_in_tm, item_id)
    assert (failed.state, failed.attempts, failed.last_error) == (
        "failed",
        1,
        "this can never work",
    )


def test_an_item_without_a_handler_fails_with_a_clear_error(run_in_tm, registry):
    item_id = insert(run_in_tm, kind="gone.away")
    assert service.perform(registry, item_id) == "failed"
    assert item(run_in_tm, item_id).last_error == "no handler for 'gone.away'"


def test_done_or_leased_items_are_not_performed_again(run_in_tm, registry):
    item_id = run_in_tm(lambda db: service.add_outbox_item(db, KIND, {"n": 1}).id)
    assert service.perform(registry, item_id) == "skipped"
    service.run_outbox_item(item_id)  # a duplicate Huey delivery
    assert len(calls) == 1
    assert item(run_in_tm, item_id).attempts == 1

    leased = insert(run_in_tm, leased_until=utcnow() + dt.timedelta(minutes=5))
    assert service.perform(registry, leased) == "skipped"  # another worker holds it
    assert len(calls) == 1

    free = insert(run_in_tm)
    assert run_in_tm(lambda db: service._claim(db, free, 60)) is True
    assert run_in_tm(lambda db: service._claim(db, free, 60)) is False  # the claim is atomic


def test_the_sweeper_requeues_only_what_is_due_and_unleased(run_in_tm, registry):
    now = utcnow()
    lost = insert(run_in_tm, payload={"tag": "lost"})  # an enqueue that never reached Huey
    expired = insert(
        run_in_tm,
        payload={"tag": "expired"},
        attempts=1,
        leased_until=now - dt.timedelta(seconds=1),
    )
    leased = {"leased_until": now + dt.timedelta(minutes=5)}  # a worker is still on it
    insert(run_in_tm, payload={"tag": "leased"}, **leased)
    backing_off = {"next_attempt_at": now + dt.timedelta(minutes=5)}
    insert(run_in_tm, payload={"tag": "backing off"}, **backing_off)
    insert(run_in_tm, payload={"tag": "done"}, state="done")
    insert(run_in_tm, payload={"tag": "failed"}, state="failed")

    tasks.sweep_outbox()  # the periodic task, run in immediate mode
    assert sorted(p["tag"] for p in calls) == ["expired", "lost"]
    for item_id in (lost, expired):
        assert item(run_in_tm, item_id).state == "done"
    assert service.sweep(registry) == []
    assert run_in_tm(service.counts) == {"pending": 2, "done": 3, "failed": 1}


def test_retry_failed_puts_items_back(run_in_tm, registry):
    one = insert(run_in_tm, state="failed", attempts=3, last_error="boom")
    other = insert(run_in_tm, state="failed", attempts=3, last_error="boom")
    assert run_in_tm(lambda db: service.retry_failed(db, [one])) == 1
    back = item(run_in_tm, one)
    assert (back.state, back.attempts) == ("pending", 0)
    assert item(run_in_tm, other).state == "failed"
    assert service.sweep(registry) == [one]
    assert item(run_in_tm, one).state == "done"


def test_heartbeat_task_upserts_one_row(run_in_tm):
    tasks.heartbeat()  # the periodic task, run in immediate mode
    first = run_in_tm(lambda db: db.get(WorkerHeartbeat, "worker"))
    tasks.heartbeat()
    rows = run_in_tm(lambda db: db.scalars(sa.select(WorkerHeartbeat)).all())
    assert len(rows) == 1
    assert rows[0].beat_at > first.beat_at
    assert rows[0].pid is not None


def test_worker_startup_beats_and_sweeps(run_in_tm, registry):
    lost = insert(run_in_tm)
    assert tasks.startup(registry) == [lost]
    assert item(run_in_tm, lost).state == "done"
    assert run_in_tm(lambda db: db.get(WorkerHeartbeat, "worker")) is not None


def test_the_sweeper_forgets_items_done_long_ago_and_nothing_else(run_in_tm, registry):
    now = utcnow()
    old = now - service.DONE_KEPT_FOR - dt.timedelta(hours=1)
    gone = insert(run_in_tm, state="done", done_at=old)
    recent = insert(run_in_tm, state="done", done_at=now - dt.timedelta(days=1))
    failed = insert(run_in_tm, state="failed", created_at=old)
    backing_off = insert(run_in_tm, created_at=old, next_attempt_at=now + dt.timedelta(hours=1))
    service.sweep(registry)
    remaining = run_in_tm(lambda db: db.scalars(sa.select(OutboxItem.id)).all())
    assert sorted(remaining) == sorted([recent, failed, backing_off])
    assert gone not in remaining

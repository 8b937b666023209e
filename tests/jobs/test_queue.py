"""One Huey instance built from settings, and queueing only after the transaction commits."""

from __future__ import annotations

from pathlib import Path

import pytest
import transaction
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

from asthron.jobs import queue
from asthron.settings import AppSettings


@pytest.fixture
def restore_huey():
    huey = queue.huey
    saved = (huey.storage_class, huey.storage_kwargs, huey._immediate, huey.storage)
    yield huey
    huey.storage_class, huey.storage_kwargs, huey._immediate, huey.storage = saved


def settings(huey_url, immediate=False):
    return AppSettings(
        database_url="sqlite://",
        huey_url=huey_url,
        secrets_file=Path("unused"),
        huey_immediate=immediate,
    )


def test_sqlite_huey_by_default(restore_huey, tmp_path):
    raw = {"asthron.database_url": "sqlite://", "here": str(tmp_path)}
    default = AppSettings.from_ini(raw)
    assert default.huey_url == f"sqlite:///{tmp_path / 'var' / 'huey.sqlite'}"
    huey = queue.configure_huey(settings(f"sqlite:///{tmp_path / 'q.sqlite'}"))
    assert huey is queue.huey
    assert isinstance(huey.storage, SqliteStorage)
    assert huey.storage.filename == str(tmp_path / "q.sqlite")
    assert huey.immediate is False


def test_redis_huey_for_a_redis_url(restore_huey):
    from tests.conftest import redis_test_url

    url = redis_test_url()
    huey = queue.configure_huey(settings(url))
    assert isinstance(huey.storage, RedisStorage)
    kwargs = huey.storage.conn.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"]) == ("127.0.0.1", 6379)
    assert kwargs["db"] == int(url.rsplit("/", 1)[1])


def test_immediate_mode_runs_in_memory(restore_huey, tmp_path):
    huey = queue.configure_huey(settings(f"sqlite:///{tmp_path / 'q.sqlite'}", immediate=True))
    assert huey.immediate is True
    assert isinstance(huey.storage, MemoryStorage)
    assert not (tmp_path / "q.sqlite").exists()


def test_the_app_and_its_tasks_share_one_instance(app):
    from asthron import jobs
    from asthron.jobs import service, tasks

    assert jobs.huey is queue.huey
    for task in (service.run_outbox_item, tasks.sweep_outbox, tasks.heartbeat):
        assert task.huey is queue.huey
    assert queue.huey.immediate is True  # the conftest app runs tasks in-process
    periodic = set(queue.huey._registry._periodic_tasks)
    assert {tasks.sweep_outbox.task_class, tasks.heartbeat.task_class} <= periodic


class Recorder:
    """Stands in for a Huey task: records how it was called."""

    name = "recorder"

    def __init__(self, fail=False):
        self.calls = []
        self.fail = fail

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        if self.fail:
            raise ConnectionError("queue unreachable")


def test_enqueued_only_after_commit():
    task = Recorder()
    tm = transaction.TransactionManager(explicit=True)
    with tm:
        queue.enqueue_after_commit(task, 7, transaction_manager=tm, flag=True)
        assert task.calls == []
    assert task.calls == [((7,), {"flag": True})]


def test_never_enqueued_when_the_transaction_aborts():
    task = Recorder()
    tm = transaction.TransactionManager(explicit=True)
    with pytest.raises(RuntimeError), tm:
        queue.enqueue_after_commit(task, 7, transaction_manager=tm)
        raise RuntimeError("the request failed")
    tm.begin()
    tm.commit()  # a later transaction does not carry the hook over
    assert task.calls == []


class FailingVote:
    """A resource that refuses to commit, as a database with a conflict would."""

    def sortKey(self):
        return "zz"

    def abort(self, txn):
        pass

    tpc_begin = commit = tpc_finish = tpc_abort = abort

    def tpc_vote(self, txn):
        raise RuntimeError("could not serialize access")


def test_never_enqueued_when_the_commit_fails():
    task = Recorder()
    tm = transaction.TransactionManager(explicit=True)
    tm.begin()
    tm.get().join(FailingVote())
    queue.enqueue_after_commit(task, 7, transaction_manager=tm)
    with pytest.raises(RuntimeError):
        tm.commit()
    tm.abort()
    assert task.calls == []


def test_a_failing_enqueue_does_not_fail_the_commit(caplog):
    task = Recorder(fail=True)
    tm = transaction.TransactionManager(explicit=True)
    with tm:
        queue.enqueue_after_commit(task, 7, transaction_manager=tm)
    assert len(task.calls) == 1
    assert "could not enqueue recorder" in caplog.text

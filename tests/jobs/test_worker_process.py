"""The real consumer: `asthron -c INI worker` in a subprocess, on SqliteHuey and RedisHuey."""

from __future__ import annotations

import pytest

from asthron.db import utcnow
from asthron.jobs.models import OutboxItem, WorkerHeartbeat
from asthron.notify.service import queue_email
from tests.fixtures.worker import wait_for, write_ini

pytestmark = pytest.mark.slow
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def huey_backend():
    return "sqlite"


@pytest.fixture
def ini_settings(ini_settings, request, huey_backend):
    """This process enqueues and the worker consumes: the same queue, not immediate mode."""
    if huey_backend == "redis":
        ini_settings["asthron.huey_url"] = request.getfixturevalue("redis_url")
    ini_settings.update(
        {
            "asthron.huey.immediate": "false",
            "asthron.outbox.lease_seconds": "2",
            "asthron.outbox.retry_base_seconds": "1",
        }
    )
    return ini_settings


@pytest.fixture
def worker_ini(ini_settings, tmp_path):
    return write_ini(tmp_path / "worker.ini", ini_settings)


def outbox_row(run_in_tm, item_id):
    def read(db):
        item = db.get(OutboxItem, item_id)
        return {
            "state": item.state,
            "attempts": item.attempts,
            "leased_until": item.leased_until,
            "last_error": item.last_error,
            "payload": item.payload,
        }

    return run_in_tm(read)


def heartbeat(run_in_tm):
    return run_in_tm(lambda db: db.get(WorkerHeartbeat, "worker") is not None)


def queue(run_in_tm, subject="Hello from the worker"):
    return run_in_tm(
        lambda db: (
            queue_email(db, "Someone@Example.com", subject, "plain body", "<p>html body</p>").id
        )
    )


def assert_delivered_once(server, payload):
    assert len(server.messages) == 1
    received = server.messages[0]
    message = received["message"]
    assert received["rcpt_tos"] == ["someone@example.com"]
    assert message["To"] == "someone@example.com"
    assert message["Message-ID"] == payload["message_id"]
    assert message.get_body(("plain",)).get_content().strip() == "plain body"
    assert message.get_body(("html",)).get_content().strip() == "<p>html body</p>"


def run_delivery(testapp, run_in_tm, smtp_server, configure_smtp, start_worker, worker_ini):
    # /healthz is 503 until a worker has beaten.
    assert testapp.get("/healthz", status=503).json["worker"]["ok"] is False
    # The first DATA is refused: the outbox retries with back-off and nothing is lost.
    server = smtp_server(["451 4.3.0 try later"])
    configure_smtp(server)
    worker = start_worker(worker_ini)
    wait_for(lambda: heartbeat(run_in_tm), "the worker's startup heartbeat", log=worker.log)

    item_id = queue(run_in_tm)
    row = wait_for(
        lambda: (r := outbox_row(run_in_tm, item_id))["state"] != "pending" and r,
        "the email to be sent",
        # The retry is due in a second; should its Huey schedule entry be lost (at-most-once),
        # the periodic sweeper still sends it within a minute.
        timeout=75,
        log=worker.log,
    )
    assert row["state"] == "done", worker.log()
    assert row["attempts"] == 2
    assert row["last_error"] is None
    assert server.handler.data_calls == 2
    assert_delivered_once(server, row["payload"])
    report = testapp.get("/healthz", status=200).json
    assert report["ok"] is True
    assert report["worker"]["heartbeat_age_seconds"] is not None


@SQLITE_ONLY
def test_sqlite_huey_consumer_delivers_after_a_refusal(
    testapp, run_in_tm, smtp_server, configure_smtp, start_worker, worker_ini, app
):
    from huey.storage import SqliteStorage

    from asthron.jobs import huey

    assert isinstance(huey.storage, SqliteStorage)
    run_delivery(testapp, run_in_tm, smtp_server, configure_smtp, start_worker, worker_ini)


@pytest.mark.redis
@pytest.mark.parametrize("huey_backend", ["redis"])
def test_redis_huey_consumer_delivers_after_a_refusal(
    testapp, run_in_tm, smtp_server, configure_smtp, start_worker, worker_ini, app
):
    from huey.storage import RedisStorage

    from asthron.jobs import huey

    assert isinstance(huey.storage, RedisStorage)
    run_delivery(testapp, run_in_tm, smtp_server, configure_smtp, start_worker, worker_ini)


@SQLITE_ONLY
@pytest.mark.parametrize("huey_backend", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_killed_consumer_work_is_redone_after_the_lease_expires(
    run_in_tm, smtp_server, configure_smtp, start_worker, worker_ini, huey_backend
):
    server = smtp_server(["block"])
    configure_smtp(server)
    first = start_worker(worker_ini, workers=1)
    wait_for(lambda: heartbeat(run_in_tm), "the first worker's heartbeat", log=first.log)

    item_id = queue(run_in_tm, "Survives a killed worker")
    wait_for(server.handler.blocked.is_set, "the first worker to start sending", log=first.log)
    first.kill()  # SIGKILL while the SMTP server holds the DATA command

    row = outbox_row(run_in_tm, item_id)
    assert row["state"] == "pending"
    assert row["attempts"] == 1
    assert row["leased_until"] is not None
    assert server.messages == []
    # Huey delivered the task once and it died with the worker; only the outbox remembers it.
    wait_for(lambda: utcnow() > row["leased_until"], "the lease to expire")

    # The second worker's sweeper (Huey runs periodic tasks as a consumer starts, then every
    # minute; the startup hook sweeps too) finds the item due and unleased and queues it again.
    second = start_worker(worker_ini)
    row = wait_for(
        lambda: (r := outbox_row(run_in_tm, item_id))["state"] != "pending" and r,
        "the sweeper to hand the email to the second worker",
        log=second.log,
    )
    assert row["state"] == "done", second.log()
    assert row["attempts"] == 2
    assert server.handler.data_calls == 2
    message = server.messages[0]["message"]
    assert len(server.messages) == 1
    # The retry is the same message: a receiving server can drop a duplicate.
    assert message["Message-ID"] == row["payload"]["message_id"]
    assert message["Subject"] == "Survives a killed worker"

"""/healthz: database reachable, migrations at head, the worker's heartbeat age; 200 or 503."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
import webtest
from zope.sqlalchemy import mark_changed

from asthron.db import utcnow
from asthron.jobs import tasks
from asthron.jobs.models import WorkerHeartbeat


def test_503_while_no_worker_has_beaten(testapp):
    response = testapp.get("/healthz", status=503)
    assert response.content_type == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    report = response.json
    assert report["ok"] is False
    assert report["database"] == {"ok": True}
    assert report["migrations"]["ok"] is True
    assert report["migrations"]["current"] == report["migrations"]["head"]
    assert report["worker"] == {"ok": False, "heartbeat_age_seconds": None}


def test_200_after_a_heartbeat(testapp):
    tasks.heartbeat()  # the periodic task, run in immediate mode
    report = testapp.get("/healthz", status=200).json
    assert report["ok"] is True
    assert report["worker"]["ok"] is True
    assert 0 <= report["worker"]["heartbeat_age_seconds"] < 60


def test_503_when_the_heartbeat_is_stale(testapp, run_in_tm):
    tasks.heartbeat()

    def age(db):
        db.get(WorkerHeartbeat, "worker").beat_at = utcnow() - dt.timedelta(minutes=10)

    run_in_tm(age)
    report = testapp.get("/healthz", status=503).json
    assert report["worker"]["ok"] is False
    assert report["worker"]["heartbeat_age_seconds"] >= 600
    assert report["database"]["ok"] is True


def test_503_when_migrations_are_not_at_head(testapp, run_in_tm):
    tasks.heartbeat()

    def unmigrate(db):
        db.execute(sa.text("DELETE FROM alembic_version"))
        mark_changed(db)

    run_in_tm(unmigrate)
    report = testapp.get("/healthz", status=503).json
    assert report["migrations"]["ok"] is False
    assert report["migrations"]["current"] == []
    assert report["migrations"]["head"]
    assert report["worker"]["ok"] is True


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_503_when_the_database_is_unreachable(ini_settings, tmp_path):
    from asthron import main

    settings = dict(ini_settings)
    settings["asthron.database_url"] = f"sqlite:///{tmp_path / 'missing' / 'dir' / 'db.sqlite'}"
    app = main({}, **settings)
    try:
        report = webtest.TestApp(app).get("/healthz", status=503).json
    finally:
        app.registry["db_engine"].dispose()
    assert report["ok"] is False
    assert report["database"] == {"ok": False, "error": "OperationalError"}
    assert report["worker"]["ok"] is False

"""The owner's privacy page: find, export, erase a person; retention windows."""

from __future__ import annotations

import io
import zipfile

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.conftest import csrf_from


def add_lead(database_url: str) -> None:
    from asthron.leads.models import Lead

    engine = sa.create_engine(database_url)
    with Session(engine) as db:
        db.add(Lead(name="Dana", email="dana@example.com", phone="+12025550143"))
        db.commit()
    engine.dispose()


def test_owner_finds_exports_and_erases(testapp, login, make_user, ini_settings):
    url = ini_settings["asthron.database_url"]
    add_lead(url)
    login(make_user("owner"))
    page = testapp.get("/privacy", {"kind": "email", "value": "dana@example.com"})
    assert "leads" in page.text
    token = csrf_from(page)
    export = testapp.post(
        "/privacy/export.zip",
        {"kind": "email", "value": "dana@example.com", "csrf_token": token},
    )
    assert export.content_type == "application/zip"
    with zipfile.ZipFile(io.BytesIO(export.body)) as archive:
        assert "leads.json" in archive.namelist()
    refused = testapp.post(
        "/privacy/erase",
        {"kind": "email", "value": "dana@example.com", "confirm": "", "csrf_token": token},
        status=400,
    )
    assert "Type erase" in refused.text
    testapp.post(
        "/privacy/erase",
        {"kind": "email", "value": "dana@example.com", "confirm": "erase", "csrf_token": token},
        status=303,
    )
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM leads")).scalar_one() == 0
        actions = [
            row[0]
            for row in connection.execute(sa.text("SELECT action FROM audit_log ORDER BY id"))
        ]
    engine.dispose()
    assert "privacy.subject_exported" in actions and "privacy.subject_erased" in actions


def test_retention_windows_are_saved_and_bad_ones_refused(testapp, login, make_user, ini_settings):
    owner = make_user("owner")
    login(owner)
    page = testapp.get("/privacy")
    token = csrf_from(page)
    testapp.post("/privacy/retention", {"conversations": "30", "csrf_token": token}, status=303)
    assert 'name="conversations" value="30"' in testapp.get("/privacy").text
    testapp.post("/privacy/retention", {"usage": "x", "csrf_token": token}, status=400)
    engine = sa.create_engine(ini_settings["asthron.database_url"])
    with engine.connect() as connection:
        entries = connection.execute(
            sa.text("SELECT actor_label FROM audit_log WHERE action = 'retention.window_changed'")
        ).all()
    engine.dispose()
    assert [row[0] for row in entries] == [owner["email"]]


def test_admins_and_staff_cannot_open_it(testapp, login, make_user):
    login(make_user("admin"))
    testapp.get("/privacy", status=403)

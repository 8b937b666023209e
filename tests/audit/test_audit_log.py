"""The audit log: every state change is recorded, without secrets; filters and CSV export."""

from __future__ import annotations

import csv
import io
import json

import pytest
import sqlalchemy as sa

from asthron.audit import service
from asthron.audit.models import AuditEntry
from tests.security import route_table
from tests.security.support import (
    ANON_IP,
    OWNER_IP,
    build_world,
    client,
    csrf,
    route_path,
    session_cookie,
    utc,
)

# Each POST route of the accounts, team, audit and email features, in the order the test runs
# them, with the audit action it must write.
AUDITED = {
    "team.invite": "invitation.create",
    "team.invitation_revoke": "invitation.revoke",
    "team.set_role": "user.set_role",
    "team.sessions_revoke": "session.revoke_all",
    "team.deactivate": "user.deactivate",
    "team.reactivate": "user.reactivate",
    "accounts.session_revoke": "session.revoke",
    "audit.export": "audit.export",
    "integrations.email": "email.settings_update",
    "accounts.invitation": "invitation.accept",
    "accounts.login": "login.success",
    "accounts.password": "user.password_change",
    "accounts.logout": "session.revoke",
}
# POST routes that change nothing stored.
NO_STATE_CHANGE = {"integrations.email_test": "tries the SMTP connection only"}
# Features whose own tests check their audit entries.
AUDITED_ELSEWHERE = {
    "sites.": "tests/sites",
    "knowledge.": "tests/knowledge, tests/assistant/test_knowledge_gaps.py",
    "conversations.mark_wrong": "tests/assistant/test_knowledge_gaps.py",
    "assistant.": "tests/assistant",
    "inbox.": "tests/inbox",
    "leads.": "tests/leads",
    "privacy.": "tests/privacy",
    "webhooks.": "tests/webhooks",
    "bookings.": "tests/bookings",
    "alerts.": "tests/alerts",
    "integrations.email_template": "tests/notify/test_templates.py",
    "payments.": "tests/payments",
    "channels.": "tests/channels",
}


def _classified(name: str) -> bool:
    return (
        name in AUDITED
        or name in NO_STATE_CHANGE
        or any(name.startswith(prefix) for prefix in AUDITED_ELSEWHERE)
    )


def entries_after(run_in_tm, last_id: int) -> list[AuditEntry]:
    def read(db):
        rows = db.scalars(sa.select(AuditEntry).where(AuditEntry.id > last_id))
        return sorted(rows, key=lambda e: e.id)

    return run_in_tm(read)


def last_audit_id(run_in_tm) -> int:
    return run_in_tm(lambda db: db.scalar(sa.select(sa.func.max(AuditEntry.id))) or 0)


def test_every_state_changing_route_writes_an_audit_entry_without_secrets(
    app, make_user, run_in_tm, login
):
    registry = app.registry
    world = build_world(app, make_user, run_in_tm, login)
    unclassified = [n for n in route_table.post_routes(registry) if not _classified(n)]
    assert not unclassified, f"POST routes with no audit expectation: {unclassified}"

    owner = world.users["owner"]
    owner_browser = world.browser("owner")
    anonymous = world.browser("anonymous")
    login_browser = client(app, ANON_IP)
    failed_guess = "Wrong-Guess-Password-1"
    # A failed login first: the typed password must not reach the log either.
    login({"email": owner["email"], "password": failed_guess}, app=client(app), expect_status=400)

    secrets_used = {failed_guess, owner["password"], world.invitation_token}
    for name, action in AUDITED.items():
        if name == "accounts.login":
            browser, who, ip = login_browser, owner["email"], ANON_IP
            token = csrf(browser, logged_in=False)
        elif name in route_table.ANONYMOUS_POSTS:
            browser, who, ip = anonymous, "joiner@example.com", ANON_IP
            token = csrf(browser, logged_in=False)
        else:
            browser, who, ip = owner_browser, owner["email"], OWNER_IP
            token = csrf(browser)
        form = route_table.valid_form(name, world)
        secrets_used.update(v for k, v in form.items() if "password" in k)
        start = last_audit_id(run_in_tm)
        path = route_path(registry, name, world.params)
        response = browser.post(path, dict(form, csrf_token=token), status="*")
        assert response.status_int < 400, (name, response.status)
        new = entries_after(run_in_tm, start)
        matching = [e for e in new if e.action == action]
        assert matching, f"{name} wrote {[e.action for e in new]}, not {action}"
        entry = matching[0]
        assert (entry.actor_label, entry.ip_address) == (who, ip), name
        assert entry.created_at.utcoffset().total_seconds() == 0
        if session_cookie(browser):
            secrets_used.add(session_cookie(browser))

    everything = run_in_tm(
        lambda db: [
            json.dumps([e.actor_label, e.action, e.target_type, e.target_id, e.summary])
            for e in db.scalars(sa.select(AuditEntry))
        ]
    )
    text = "\n".join(everything)
    for secret in secrets_used:
        assert secret not in text
    assert "smtp-Secret-Value-77" in secrets_used
    email_entry = run_in_tm(
        lambda db: db.scalar(
            sa.select(AuditEntry.summary).where(AuditEntry.action == "email.settings_update")
        )
    )
    assert email_entry["password_changed"] is True


def test_redaction_of_secret_keys_at_any_depth(run_in_tm):
    def write(db):
        return service.record(
            db,
            service.Actor.cli(),
            "test.redaction",
            summary={
                "password": "hunter2-hunter2",
                "api_key": "sk-123456",
                "nested": {"smtp_password": "p4ss", "host": "mail.example"},
                "items": [{"token": "tok-abc"}],
                "password_changed": True,
            },
        ).summary

    summary = run_in_tm(write)
    assert summary == {
        "password": "[redacted]",
        "api_key": "[redacted]",
        "nested": {"smtp_password": "[redacted]", "host": "mail.example"},
        "items": [{"token": "[redacted]"}],
        "password_changed": True,
    }


def test_account_services_audit_cli_changes(run_in_tm, registry):
    from asthron.accounts import invitations
    from asthron.accounts import service as accounts
    from asthron.accounts.models import User

    cli = service.Actor.cli()

    def lifecycle(db):
        settings = registry["app_settings"]
        accounts.create_user(db, cli, "first@example.com", "owner", "violet-anchor-93")
        user = accounts.create_user(db, cli, "cli-made@example.com", "staff", "violet-anchor-93")
        accounts.start_session(db, user, None, None)
        accounts.set_role(db, cli, "owner", user, "admin")
        accounts.set_password(db, cli, user, "violet-anchor-94")
        accounts.deactivate(db, cli, "owner", user)
        accounts.reactivate(db, cli, "owner", db.get(User, user.id))
        invitation, _ = invitations.invite(db, settings, cli, "owner", "new@example.com", "staff")
        invitations.revoke_invitation(db, cli, "owner", invitation)
        rows = db.scalars(
            sa.select(AuditEntry).where(AuditEntry.actor_label == "cli").order_by(AuditEntry.id)
        )
        return [e.action for e in rows]

    assert run_in_tm(lifecycle) == [
        "user.create",
        "user.create",
        "user.set_role",
        "user.password_change",
        "session.revoke_all",
        "user.deactivate",
        "user.reactivate",
        "invitation.create",
        "invitation.revoke",
    ]


# -- reading the log ------------------------------------------------------------------------


@pytest.fixture
def seeded(run_in_tm):
    rows = [
        (utc(2026, 1, 10, 23, 59), "alice@example.com", "user.set_role", "jan10"),
        (utc(2026, 1, 11, 0, 0), "alice@example.com", "team.other", "jan11"),
        (utc(2026, 1, 12, 12, 0), "bob@example.com", "user.set_role", "jan12"),
        (utc(2026, 2, 1, 8, 0), '=HYPERLINK("http://evil")', "user.set_role", "+SUM(1,2)"),
        (utc(2026, 2, 2, 8, 0), "@import", "-danger", "\tcmd"),
    ]

    def seed(db):
        for created_at, actor, action, marker in rows:
            db.add(
                AuditEntry(
                    created_at=created_at,
                    actor_label=actor,
                    action=action,
                    target_type="user",
                    target_id="7",
                    summary={"marker": marker},
                )
            )

    run_in_tm(seed)
    return rows


@pytest.fixture
def admin_browser(testapp, make_user, login):
    login(make_user("admin"))
    return testapp


def _markers(page) -> set[str]:
    return {m for m in ("jan10", "jan11", "jan12", "+SUM(1,2)") if f"marker={m}" in page.text}


FILTERS = [
    ({"actor": "alice@example.com"}, {"jan10", "jan11"}),
    ({"actor": " ALICE@example.com "}, {"jan10", "jan11"}),
    ({"action": "user.set_role"}, {"jan10", "jan12", "+SUM(1,2)"}),
    ({"since": "2026-01-11", "until": "2026-01-12"}, {"jan11", "jan12"}),
    ({"until": "2026-01-10"}, {"jan10"}),
    ({"actor": "alice@example.com", "action": "user.set_role"}, {"jan10"}),
    ({"actor": "nobody"}, set()),
    ({}, {"jan10", "jan11", "jan12", "+SUM(1,2)"}),
]


def test_filters_on_the_page_and_in_the_export(seeded, admin_browser):
    token = csrf(admin_browser)
    for query, expected in FILTERS:
        page = admin_browser.get("/audit", query)
        assert _markers(page) == expected, query
        data = dict({"actor": "", "action": "", "since": "", "until": ""}, **query)
        export = admin_browser.post("/audit/export.csv", dict(data, csrf_token=token))
        rows = list(csv.DictReader(io.StringIO(export.text)))
        exported = {r["summary"].removeprefix("marker=") for r in rows}
        assert exported & {"jan10", "jan11", "jan12", "+SUM(1,2)"} == expected, query


def test_csv_export_escapes_formulas_and_uses_utc(seeded, admin_browser):
    response = admin_browser.post(
        "/audit/export.csv",
        {
            "actor": "",
            "action": "",
            "since": "2026-02-01",
            "until": "",
            "csrf_token": csrf(admin_browser),
        },
    )
    assert response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == list(service.CSV_COLUMNS)
    body = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    seeded_rows = [r for r in body if r["target_id"] == "7"]
    assert len(seeded_rows) == 2
    for row in body:
        for cell in row.values():
            assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), row
    first, second = seeded_rows
    assert first["actor"] == '\'=HYPERLINK("http://evil")'
    assert first["summary"] == "marker=+SUM(1,2)"
    assert second["actor"] == "'@import"
    assert second["action"] == "'-danger"
    assert first["time_utc"] == "2026-02-01T08:00:00+00:00"


@pytest.mark.parametrize(
    "value,expected",
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("plain", "plain"),
        ("a=1", "a=1"),
        (None, ""),
        (42, "42"),
    ],
)
def test_spreadsheet_safe(value, expected):
    assert service.spreadsheet_safe(value) == expected


def test_the_export_is_itself_audited_and_bad_dates_are_400(seeded, admin_browser, run_in_tm):
    token = csrf(admin_browser)
    for bad in ({"since": "2026-02-30"}, {"until": "soon"}, {"since": "x" * 100}):
        admin_browser.post("/audit/export.csv", dict(bad, csrf_token=token), status=400)
        admin_browser.get("/audit", bad, status=400)
    start = last_audit_id(run_in_tm)
    admin_browser.post(
        "/audit/export.csv", {"action": "user.set_role", "csrf_token": token}, status=200
    )
    assert [(e.action, e.summary["action"]) for e in entries_after(run_in_tm, start)] == [
        ("audit.export", "user.set_role")
    ]


def test_pages_of_a_hundred(run_in_tm, admin_browser):
    def seed(db):
        for n in range(105):
            db.add(AuditEntry(actor_label="cli", action="bulk.item", summary={"n": f"#{n:03}#"}))

    run_in_tm(seed)
    first = admin_browser.get("/audit", {"action": "bulk.item"})
    assert first.text.count("bulk.item</td>") == 100
    assert "n=#104#" in first.text and "n=#004#" not in first.text
    second = first.click("Older entries")
    assert second.text.count("bulk.item</td>") == 5
    assert "n=#004#" in second.text and "n=#000#" in second.text

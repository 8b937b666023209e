"""Retention: ``asthron retention purge`` and the daily task delete only what has expired."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.db import utcnow
from tests.fixtures.cli import assert_one_line_error
from tests.privacy.conftest import table_rows


def add_aged_rows(database_url: str) -> None:
    from asthron.audit.models import AuditEntry
    from asthron.conversations.models import Conversation, ConversationEvent, Visitor
    from asthron.jobs.models import OutboxItem
    from asthron.sites.models import Site

    now = utcnow()
    old, recent = now - dt.timedelta(days=800), now - dt.timedelta(days=2)
    engine = sa.create_engine(database_url)
    try:
        with Session(engine) as db:
            site = Site(name="Shop", public_key="pk-retention")
            db.add(site)
            db.flush()
            for label, seen in (("old", old), ("recent", recent)):
                visitor = Visitor(
                    site_id=site.id,
                    token_hash=(label * 16)[:64],
                    user_agent=label,
                    last_seen_at=seen,
                )
                db.add(visitor)
                db.flush()
                conversation = Conversation(
                    site_id=site.id, visitor_id=visitor.id, last_activity_at=seen
                )
                db.add(conversation)
                db.flush()
                db.add(
                    ConversationEvent(
                        conversation_id=conversation.id,
                        type="visitor_message",
                        body=label,
                        created_at=seen,
                    )
                )
                db.add(
                    AuditEntry(
                        actor_label="test", action=f"aged.{label}", created_at=seen, summary={}
                    )
                )
            db.add(OutboxItem(kind="email.send", payload={}, state="done", created_at=old))
            db.add(OutboxItem(kind="email.send", payload={}, state="pending", created_at=old))
            db.commit()
    finally:
        engine.dispose()


def test_purge_deletes_only_expired_rows_and_is_audited(set_up_cli):
    add_aged_rows(set_up_cli.database_url)
    dry = set_up_cli("retention", "purge", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "visitors (conversations, 365 days): 1 would be deleted" in dry.output
    assert "outbox (outbox, 30 days): 1 would be deleted" in dry.output
    assert len(table_rows(set_up_cli, "SELECT id FROM visitors")) == 2

    done = set_up_cli("retention", "purge")
    assert done.exit_code == 0, done.output
    assert [row[0] for row in table_rows(set_up_cli, "SELECT user_agent FROM visitors")] == [
        "recent"
    ]
    assert [r[0] for r in table_rows(set_up_cli, "SELECT body FROM conversation_events")] == [
        "recent"
    ]
    assert [r[0] for r in table_rows(set_up_cli, "SELECT state FROM outbox")] == ["pending"]
    actions = [action for _actor, action in set_up_cli.audit()]
    assert "aged.old" not in actions and "aged.recent" in actions
    assert ("cli", "retention.purged") in set_up_cli.audit()


def test_owner_override_and_bad_input(ready_cli):
    add_aged_rows(ready_cli.database_url)
    result = ready_cli("retention", "set", "conversations", "0")
    assert result.exit_code == 0, result.output
    assert ("cli", "retention.window_changed") in ready_cli.audit()
    ready_cli("retention", "purge")
    assert len(table_rows(ready_cli, "SELECT id FROM visitors")) == 2
    for args, fragment in (
        (["nonsense", "3"], "unknown category"),
        (["leads", "40000"], "between"),
    ):
        bad = ready_cli("retention", "set", *args)
        assert bad.exit_code == 1
        assert_one_line_error(bad.output, fragment)


def test_the_daily_task_purges_and_audits_as_system(registry, ini_settings):
    from asthron.privacy import tasks

    add_aged_rows(ini_settings["asthron.database_url"])
    report = tasks.purge_expired.call_local()
    assert report["visitors"]["rows"] == 1
    engine = sa.create_engine(ini_settings["asthron.database_url"])
    with engine.connect() as connection:
        assert (
            connection.execute(
                sa.text("SELECT actor_label FROM audit_log WHERE action = 'retention.purged'")
            ).scalar_one()
            == "system"
        )
    engine.dispose()

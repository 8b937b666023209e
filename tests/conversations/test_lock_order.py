"""Lock order on PostgreSQL: the conversation row first, then the event-log lock.

The reply runner (and the inbox, and handoff) lock a conversation row and then append an
event, which takes the global event-log advisory lock. A visitor's message appended an event
first (advisory lock) and updated the row afterwards: the two waited on each other, and
PostgreSQL broke the deadlock by killing the visitor's request (retried, so the message was
counted twice against the rate limit, or a 500 once retries ran out).
"""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
import transaction

from tests.conftest import empty_database

pytestmark = pytest.mark.postgresql


@pytest.fixture
def db_url(pg_database_url):
    """PostgreSQL only: SQLite has one writer at a time and no row locks to order."""
    yield pg_database_url
    empty_database(pg_database_url)


def _deadlocks(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        ).scalar_one()


def _someone_waits_for_a_lock(engine) -> bool:
    with engine.connect() as connection:
        return bool(
            connection.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def test_visitor_message_and_a_row_locking_writer_do_not_deadlock(visitor, registry):
    from asthron.conversations import service
    from asthron.conversations.models import Conversation
    from asthron.db import get_tm_session

    conversation = visitor.open()
    engine = registry["db_engine"]
    deadlocks_before = _deadlocks(engine)
    locked, outcome = threading.Event(), {}

    def request_is_blocked():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _someone_waits_for_a_lock(engine):
            time.sleep(0.01)

    def runner_like():
        # What ReplyRunner.run does when it stores a reply: lock the row, then append.
        try:
            tm = transaction.TransactionManager(explicit=True)
            with tm:
                db = get_tm_session(registry["dbsession_factory"], tm)
                row = db.get(Conversation, conversation["id"], with_for_update=True)
                row.owner = "human"  # so no real reply runs for the visitor's message
                db.flush()
                locked.set()
                request_is_blocked()
                service.append_event(db, row, "staff_message", "A person here", author_name="Sam")
            outcome["runner"] = "committed"
        except Exception as exc:
            outcome["runner"] = exc

    writer = threading.Thread(target=runner_like)
    writer.start()
    assert locked.wait(10)
    sent = visitor.send(conversation["id"], "Hello?")  # blocks until the writer commits
    writer.join(timeout=30)
    assert not writer.is_alive()

    assert outcome["runner"] == "committed"
    assert sent.status_int == 201, sent.text
    assert _deadlocks(engine) == deadlocks_before
    events = visitor.events(conversation["id"]).json["events"]
    assert [e["type"] for e in events] == ["staff_message", "visitor_message"]

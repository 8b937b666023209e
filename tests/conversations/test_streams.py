"""Event streams against a real waitress server: ids, resume, live frames, heartbeats,
disconnects, caps; and long polling."""

from __future__ import annotations

import http.client
import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa

from tests.conversations.openapi_check import ApiSpec
from tests.conversations.sse import is_message
from tests.fixtures.visitors import ORIGIN, Visitor

API = "/api/widget/v1"


def wait_for(condition, timeout=10.0, message="condition"):
    """Poll ``condition`` until it is true; fail (not hang) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {message}")


def stream_path(conversation_id, **query):
    suffix = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{API}/conversations/{conversation_id}/stream" + (f"?{suffix}" if suffix else "")


def open_stream(live_server, visitor, conversation_id, headers=None, **query):
    stream = live_server.stream(
        stream_path(conversation_id, **query), {**visitor.headers, **(headers or {})}
    )
    return stream


def set_owner(run_in_tm, conversation_id, owner):
    from asthron.conversations.models import Conversation

    def change(db):
        db.get(Conversation, conversation_id).owner = owner

    run_in_tm(change)


def public_event_ids(registry, conversation_id):
    with registry["db_engine"].connect() as connection:
        return [
            row.id
            for row in connection.execute(
                sa.text(
                    "SELECT id FROM conversation_events WHERE conversation_id = :c AND public "
                    "ORDER BY id"
                ),
                {"c": conversation_id},
            )
        ]


def test_stream_frames_ids_and_live_reply_before_the_stored_message(live_server, visitor, testapp):
    spec = ApiSpec(testapp.get(f"{API}/openapi.json").json)
    conversation = visitor.open()
    with open_stream(live_server, visitor, conversation["id"]) as stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache"
        assert stream.headers["access-control-allow-origin"] == ORIGIN
        spec.check(
            "GET", stream_path(conversation["id"]), 200, stream.headers["content-type"], None
        )
        first = stream.next_frame()
        assert first.retry == 2000  # sent at once, so the client knows the stream is live

        sent = visitor.send(conversation["id"], "Do you ship to Norway?")
        frames = stream.read_until(lambda f: is_message(f, "assistant_message"))

    messages = [f for f in frames if f.event == "message"]
    assert [m.data["type"] for m in messages] == ["visitor_message", "assistant_message"]
    assert messages[0].id == sent.json["id"] == messages[0].data["id"]
    assert messages[0].data == sent.json
    stored = messages[-1]
    assert stored.id == stored.data["id"] > messages[0].id
    # Only stored events carry ids: a reconnect resumes from them, never from live frames.
    assert all(f.id is None for f in frames if f.event != "message")

    reply_id = stored.data["data"]["reply_id"]
    before = frames[: frames.index(stored)]
    typing = [f for f in before if f.event == "typing"]
    deltas = [f for f in before if f.event == "delta"]
    assert typing and typing[0].data["active"] is True
    assert deltas, "the reply should arrive as deltas before it is stored"
    assert {d.data["reply_id"] for d in deltas} == {reply_id}
    assert "".join(d.data["text"] for d in deltas).strip()
    assert frames.index(typing[0]) < frames.index(deltas[0])

    # Every frame's data is what the document says.
    schema_of = {"message": "Event"} | {
        schema["properties"]["kind"]["const"]: name
        for name, schema in spec.document["components"]["schemas"].items()
        if name.startswith("Stream")
    }
    for frame in frames:
        if frame.data is not None:
            spec.check_schema(schema_of[frame.event], frame.data)


def test_resume_with_last_event_id_has_no_gaps_and_no_duplicates(
    live_server, visitor, run_in_tm, registry
):
    conversation = visitor.open()
    set_owner(run_in_tm, conversation["id"], "human")  # no assistant replies in between
    for n in range(3):
        assert visitor.send(conversation["id"], f"before {n}").status_int == 201

    with open_stream(live_server, visitor, conversation["id"]) as stream:
        first = [
            f
            for f in stream.read_until(lambda f: is_message(f) and f.data["body"] == "before 2")
            if is_message(f)
        ]
        # One more while connected, then the client goes away.
        visitor.send(conversation["id"], "during")
        first += [f for f in stream.read_until(lambda f: is_message(f)) if is_message(f)]
    for n in range(3):
        visitor.send(conversation["id"], f"after {n}")

    last_seen = first[-1].id
    # Browsers resend the last id as Last-Event-ID; it wins over a stale ?after.
    with open_stream(
        live_server, visitor, conversation["id"], {"Last-Event-ID": str(last_seen)}, after=0
    ) as stream:
        second = [
            f
            for f in stream.read_until(lambda f: is_message(f) and f.data["body"] == "after 2")
            if is_message(f)
        ]

    ids = [f.id for f in first + second]
    assert ids == public_event_ids(registry, conversation["id"])
    assert len(ids) == len(set(ids)) == 7
    assert [f.data["body"] for f in first + second] == [
        "before 0",
        "before 1",
        "before 2",
        "during",
        "after 0",
        "after 1",
        "after 2",
    ]

    # ?after alone resumes too (EventSource cannot set headers on its first connect).
    with open_stream(live_server, visitor, conversation["id"], after=ids[4]) as stream:
        frame = stream.read_until(is_message)[-1]
    assert frame.id == ids[5]


def test_heartbeat_comments_keep_an_idle_stream_alive(live_server, visitor):
    conversation = visitor.open()
    with open_stream(live_server, visitor, conversation["id"]) as stream:
        frames = stream.read_until(lambda f: f.is_heartbeat, limit=20)
    assert frames[-1].comments == ["heartbeat"]
    assert frames[-1].data is None and frames[-1].id is None


def test_heartbeat_interval_is_15_seconds_in_production():
    from asthron.conversations import streams

    assert streams.HEARTBEAT_SECONDS == 15.0


def test_client_disconnect_ends_the_stream_and_frees_its_slot(live_server, visitor, registry):
    conversation = visitor.open()
    counter = registry["stream_counter"]
    notifier = registry["notifier"]
    channel = f"conversation:{conversation['id']}"
    stream = open_stream(live_server, visitor, conversation["id"])
    assert stream.next_frame().retry == 2000
    wait_for(lambda: counter.total == 1 and notifier.hub.subscriber_count(channel) == 1)
    stream.close()
    wait_for(lambda: counter.total == 0, message="the stream slot to be released")
    wait_for(lambda: notifier.hub.subscriber_count(channel) == 0, message="unsubscribe")


def test_head_request_does_not_leak_a_stream_slot(live_server, visitor, registry):
    conversation = visitor.open()
    connection = http.client.HTTPConnection(live_server.host, live_server.port, timeout=10)
    try:
        for _ in range(5):  # more than the per-visitor cap: a leak would show as 429
            connection.request("HEAD", stream_path(conversation["id"]), headers=visitor.headers)
            response = connection.getresponse()
            response.read()
            assert response.status == 200
    finally:
        connection.close()
    wait_for(lambda: registry["stream_counter"].total == 0, message="no held stream slots")
    with open_stream(live_server, visitor, conversation["id"]) as stream:
        assert stream.status == 200


@pytest.mark.app_settings(**{"widget.max_streams_per_visitor": 2})
def test_per_visitor_stream_cap(live_server, visitor, testapp, site, registry):
    conversation = visitor.open()
    counter = registry["stream_counter"]
    first = open_stream(live_server, visitor, conversation["id"])
    second = open_stream(live_server, visitor, conversation["id"])
    try:
        assert first.next_frame().retry and second.next_frame().retry
        with open_stream(live_server, visitor, conversation["id"]) as third:
            assert third.status == 429
            assert third.headers["retry-after"].isdigit()
            body = third.json()
            assert body["error"]["code"] == "too_many_streams"
            assert set(body["error"]) == {"code", "message"}
        # The cap is per visitor: someone else still gets a stream.
        other = Visitor(testapp, site)
        other_conversation = other.open()
        with open_stream(live_server, other, other_conversation["id"]) as elsewhere:
            assert elsewhere.status == 200
        first.close()
        wait_for(lambda: counter.total == 1, message="the closed stream's slot")
        with open_stream(live_server, visitor, conversation["id"]) as again:
            assert again.status == 200
    finally:
        first.close()
        second.close()


def _lock_probe(db_url, registry, visitor_token):
    """Whether another connection can write right now (False while something holds locks)."""
    if db_url.startswith("sqlite"):
        connection = sqlite3.connect(db_url[len("sqlite:///") :], timeout=0, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            connection.close()
    from asthron.security.tokens import token_hash

    with registry["db_engine"].connect() as connection:
        try:
            connection.execute(
                sa.text("SELECT id FROM visitors WHERE token_hash = :h FOR UPDATE NOWAIT"),
                {"h": token_hash(visitor_token)},
            ).all()
            return True
        except sa.exc.OperationalError:
            return False
        finally:
            connection.rollback()


def test_long_poll_returns_early_and_holds_no_locks_while_waiting(
    visitor, registry, db_url, run_in_tm
):
    conversation = visitor.open()
    set_owner(run_in_tm, conversation["id"], "human")
    # A visitor not seen for a while: this request updates last_seen_at, i.e. it writes.
    with registry["db_engine"].begin() as connection:
        connection.execute(sa.text("UPDATE visitors SET last_seen_at = '2020-01-01 00:00:00'"))
    result = {}
    poll = threading.Thread(
        target=lambda: result.update(response=visitor.events(conversation["id"], wait=20))
    )
    poll.start()
    try:
        channel = f"conversation:{conversation['id']}"
        wait_for(lambda: registry["notifier"].hub.subscriber_count(channel) == 1)
        # While it waits, the visitor's row (on SQLite: the database) is free for writers.
        assert _lock_probe(db_url, registry, visitor.token)
        sent = visitor.send(conversation["id"], "wake up")
        assert sent.status_int == 201
    finally:
        poll.join(timeout=15)
    assert not poll.is_alive(), "the long poll did not return when the event arrived"
    body = result["response"].json
    assert [e["id"] for e in body["events"]] == [sent.json["id"]]
    assert body["last_id"] == sent.json["id"]


@pytest.mark.app_settings(**{"widget.max_wait": 1})
def test_long_poll_returns_empty_after_the_wait_capped_by_the_server(visitor, run_in_tm):
    conversation = visitor.open()
    set_owner(run_in_tm, conversation["id"], "human")
    sent = visitor.send(conversation["id"], "hello")
    result = {}
    # Asked to wait an hour; the server caps it at max_wait (1 s) and answers empty.
    poll = threading.Thread(
        target=lambda: result.update(
            response=visitor.events(conversation["id"], after=sent.json["id"], wait=3600)
        )
    )
    poll.start()
    poll.join(timeout=30)
    assert not poll.is_alive(), "the wait was not capped"
    response = result["response"]
    assert response.status_int == 200
    assert response.json == {"events": [], "last_id": sent.json["id"]}
    # Without a wait it answers at once, with what there is.
    assert visitor.events(conversation["id"]).json["last_id"] == sent.json["id"]

"""Races the database must settle: two "open conversation" requests at once, and the same
message sent twice at once. Both requests are forced past the existence check before either
inserts, so only the unique constraint can keep the second row out."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from tests.fixtures.visitors import ORIGIN

API = "/api/widget/v1"


def force_race(monkeypatch, module, name):
    """Make the first two calls of ``module.name`` meet at a barrier and find nothing."""
    real = getattr(module, name)
    barrier = threading.Barrier(2, timeout=15)
    lock = threading.Lock()
    calls = {"n": 0}

    def racing(*args, **kwargs):
        with lock:
            calls["n"] += 1
            raced = calls["n"] <= 2
        if raced:
            barrier.wait()
            return None
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, racing)
    return calls


def in_parallel(*calls):
    results = [None] * len(calls)
    errors = []

    def run(index, call):
        try:
            results[index] = call()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a request hung"
    assert not errors, errors
    return results


def test_two_concurrent_opens_make_one_conversation(live_server, visitor, registry, monkeypatch):
    from asthron.conversations import service

    calls = force_race(monkeypatch, service, "current_conversation")

    def open_one():
        return live_server.request("POST", f"{API}/conversations", {}, visitor.headers)

    first, second = in_parallel(open_one, open_one)
    assert calls["n"] >= 3  # both raced, and the loser looked again after the conflict
    statuses = sorted([first[0], second[0]])
    assert statuses == [200, 201], (first, second)
    assert first[2]["id"] == second[2]["id"]
    with registry["db_engine"].connect() as connection:
        rows = connection.execute(sa.text("SELECT id, open_slot FROM conversations")).all()
    assert [tuple(r) for r in rows] == [(first[2]["id"], 1)]


def test_same_message_sent_twice_at_once_is_stored_once(
    live_server, visitor, registry, monkeypatch, run_in_tm
):
    from asthron.conversations import service
    from asthron.conversations.models import Conversation

    conversation = visitor.open()

    def to_human(db):
        db.get(Conversation, conversation["id"]).owner = "human"

    run_in_tm(to_human)
    calls = force_race(monkeypatch, service, "_event_by_client_id")
    body = {"body": "Sent twice by a flaky network", "client_id": "retry-0123456789"}

    def send():
        return live_server.request(
            "POST", f"{API}/conversations/{conversation['id']}/messages", body, visitor.headers
        )

    first, second = in_parallel(send, send)
    assert calls["n"] >= 3
    assert sorted([first[0], second[0]]) == [200, 201], (first, second)
    assert first[2] == second[2]
    with registry["db_engine"].connect() as connection:
        rows = connection.execute(
            sa.text("SELECT id FROM conversation_events WHERE client_id = :c"),
            {"c": body["client_id"]},
        ).all()
    assert [r.id for r in rows] == [first[2]["id"]]
    assert first[1].get("Access-Control-Allow-Origin") == ORIGIN

"""Races: two people pressing Join at once, a Join while the assistant is mid-reply, and a
reply from someone who has just lost the chat."""

from __future__ import annotations

import threading

from tests.inbox.conftest import SlowResponder


def _waiting_conversation(http_visitor, registry):
    visitor = http_visitor()
    conversation_id = visitor.open()
    visitor.send(conversation_id, "I want to talk to a person please")
    return visitor, conversation_id


def test_simultaneous_join_has_exactly_one_winner(
    live_server, registry, no_replies, http_visitor, http_staff, conversation_state
):
    alice, bob = http_staff(name="Alice"), http_staff(name="Bob")
    names = {alice.id: "Alice", bob.id: "Bob"}
    for _round in range(5):
        _visitor, conversation_id = _waiting_conversation(http_visitor, registry)
        assert conversation_state(conversation_id)["owner"] == "waiting"
        barrier = threading.Barrier(2)
        results = {}

        def press(member, conversation_id=conversation_id, barrier=barrier, results=results):
            barrier.wait()
            results[member.id] = member.act(conversation_id, "join")

        threads = [threading.Thread(target=press, args=(m,)) for m in (alice, bob)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        statuses = sorted(status for status, _data in results.values())
        assert statuses == [200, 409], results
        state = conversation_state(conversation_id)
        winner = state["assigned_user_id"]
        assert state["owner"] == "human" and winner in names
        loser_status, loser_data = next(r for uid, r in results.items() if uid != winner)
        assert loser_data["error"]["code"] == "already_owned"
        assert f"{names[winner]} is already handling this chat." == loser_data["error"]["message"]
        # One "joined" line for the visitor, not two.
        joined = [
            e
            for e in _visitor.events(conversation_id)
            if (e["data"] or {}).get("action") == "joined"
        ]
        assert [e["body"] for e in joined] == [f"{names[winner]} joined the chat"]


def test_join_while_the_assistant_streams_stops_it_and_stores_nothing(
    live_server, registry, http_visitor, http_staff, stored_events, conversation_state
):
    slow = SlowResponder(pieces=60, pause=0.05)
    registry["reply_runner"].responder = slow
    alice = http_staff(name="Alice")
    visitor = http_visitor()
    conversation_id = visitor.open()
    stream = visitor.stream(conversation_id)
    visitor.send(conversation_id, "Tell me everything about teapots")
    # Wait until the visitor has seen part of the reply streaming.
    frames = stream.read_until(lambda f: f.event == "delta")
    assert frames[-1].data["text"].startswith("part")

    status, data = alice.act(conversation_id, "join")
    assert status == 200 and data["conversation"]["owner"] == "human"
    assert slow.closed.wait(10), "generation did not stop"
    assert slow.yielded < slow.pieces
    # The visitor is told the assistant stopped typing; no assistant message is ever stored.
    stream.read_until(lambda f: f.event == "typing" and f.data["active"] is False)
    registry["reply_runner"].pool.shutdown(wait=True)
    types = [row[1] for row in stored_events(conversation_id)]
    assert "assistant_message" not in types
    assert types[-1] == "system"
    assert conversation_state(conversation_id)["owner"] == "human"
    assert not any("part" in row[2] for row in stored_events(conversation_id))
    stream.close()


def test_a_reply_after_losing_the_chat_is_a_409(
    live_server, registry, no_replies, http_visitor, http_staff, stored_events
):
    alice, admin = http_staff(name="Alice"), http_staff("admin", name="Ada")
    _visitor, conversation_id = _waiting_conversation(http_visitor, registry)
    assert alice.act(conversation_id, "join")[0] == 200
    # Alice returns the chat from another tab; the reply in this tab is now refused.
    assert alice.act(conversation_id, "return")[0] == 200
    status, data = alice.act(conversation_id, "reply", body="Are you still there?")
    assert status == 409 and data["error"]["code"] == "not_owner"

    # She joins again; an admin closes the chat; her reply is refused again.
    assert alice.act(conversation_id, "join")[0] == 200
    assert admin.act(conversation_id, "close")[0] == 200
    status, data = alice.act(conversation_id, "reply", body="Hello?")
    assert status == 409 and data["error"]["code"] == "conversation_closed"
    assert not any(row[1] == "staff_message" for row in stored_events(conversation_id))


def test_replies_racing_a_return_never_land_after_it(
    live_server, registry, no_replies, http_visitor, http_staff, stored_events
):
    """A reply and a Return at the same moment: the reply is either stored before the return
    line or refused with a 409, never stored after the chat went back to the assistant."""
    alice = http_staff(name="Alice")
    for _round in range(8):
        _visitor, conversation_id = _waiting_conversation(http_visitor, registry)
        assert alice.act(conversation_id, "join")[0] == 200
        barrier = threading.Barrier(2)
        results = {}

        def run(action, form, barrier=barrier, results=results, cid=conversation_id):
            barrier.wait()
            results[action] = alice.act(cid, action, **form)

        threads = [
            threading.Thread(target=run, args=("reply", {"body": "racing"})),
            threading.Thread(target=run, args=("return", {})),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert results["return"][0] == 200
        rows = stored_events(conversation_id)
        returned = next(
            i for i, r in enumerate(rows) if r[2].endswith("returned the chat to the assistant")
        )
        replies = [i for i, r in enumerate(rows) if r[1] == "staff_message"]
        if results["reply"][0] == 200:
            assert replies and replies[0] < returned
        else:
            assert results["reply"][0] == 409 and not replies


def test_concurrent_joins_in_the_service_layer_on_one_thread_each(
    registry, run_in_tm, make_user, site, make_visitor, no_replies
):
    """The same race without HTTP, so nothing but the conditional UPDATE decides."""
    from asthron.accounts.models import User
    from asthron.audit.service import Actor
    from asthron.conversations import handoff
    from asthron.conversations.models import Conversation
    from asthron.conversations.service import ConversationError

    members = [make_user("staff", name=f"Member {i}") for i in range(4)]
    visitor = make_visitor(site)
    conversation_id = visitor.open()["id"]
    barrier = threading.Barrier(len(members))
    outcomes = {}

    def press(member):
        def join(db):
            conversation = db.get(Conversation, conversation_id)
            user = db.get(User, member["id"])
            barrier.wait()
            try:
                handoff.join(db, Actor(label="t", user_id=user.id), conversation, user)
                return "won"
            except ConversationError as error:
                return error.code

        outcomes[member["id"]] = run_in_tm(join)

    threads = [threading.Thread(target=press, args=(m,)) for m in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes.values()) == ["already_owned"] * (len(members) - 1) + ["won"]

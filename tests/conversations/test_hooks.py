"""The hook points on the message path and the domain events: what a feature plugs into.

A fake feature registers hooks on a real app; the tests send messages through the real widget
API and check the order, the transaction each hook runs in, and that a hook can stop the
assistant's reply.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from asthron.conversations.hooks import MessageHooks, SidePanel, UnknownHookPoint
from asthron.domain_events import DomainEvent, Subscribers, UnknownDomainEvent


def test_hooks_run_by_order_then_registration():
    hooks, calls = MessageHooks(), []
    hooks.add("on_close", lambda db, c: calls.append("late"), order=200)
    hooks.add("on_close", lambda db, c: calls.append("first"), order=10)
    hooks.add("on_close", lambda db, c: calls.append("second"), order=10)
    hooks.on_close(None, None)
    assert calls == ["first", "second", "late"]


def test_an_unknown_hook_point_or_event_kind_is_refused():
    with pytest.raises(UnknownHookPoint):
        MessageHooks().add("on_visitor_mesage", lambda *a: None)
    with pytest.raises(UnknownDomainEvent):
        Subscribers().add("lead.qualifed", lambda *a: None)


def test_one_failing_after_reply_hook_does_not_stop_the_others():
    hooks, calls = MessageHooks(), []

    def broken(registry, reply):
        raise RuntimeError("boom")

    hooks.add("after_reply", broken, order=1)
    hooks.add("after_reply", lambda registry, reply: calls.append(reply), order=2)
    hooks.after_reply(None, "reply")
    assert calls == ["reply"]


def test_a_visitor_message_hook_that_handles_the_message_stops_the_reply(
    registry, visitor, run_in_tm
):
    from asthron.conversations.models import ConversationEvent

    seen = []

    def feature_hook(db, message):
        # Runs in the visitor's transaction: the message is already there to read.
        stored = db.get(ConversationEvent, message.event.id)
        seen.append((stored.body, message.conversation.owner))
        return True  # handled: the assistant must not answer

    registry["message_hooks"].add("on_visitor_message", feature_hook, order=1)
    started = []
    registry["reply_runner"].start_reply = lambda db, conversation: started.append(conversation)
    conversation = visitor.open()
    response = visitor.send(conversation["id"], "hello there")
    assert response.status_int == 201
    assert seen == [("hello there", "assistant")]
    assert started == []
    # The same client_id again is a duplicate: no hook runs a second time.
    visitor.send(conversation["id"], "hello there", client_id=response.json["client_id"])
    assert len(seen) == 1


def test_without_a_handling_hook_the_reply_starts(registry, visitor):
    started = []
    registry["reply_runner"].start_reply = lambda db, conversation: started.append(conversation.id)
    conversation = visitor.open()
    visitor.send(conversation["id"], "Do you sell chairs?")
    assert started == [conversation["id"]]


def test_domain_event_subscribers_run_in_the_causes_transaction(registry, run_in_tm, site):
    """A subscriber's writes commit with the cause, and vanish with it on a rollback."""
    from asthron.accounts.models import StaffPresence  # any table the subscriber can write
    from asthron.conversations import service
    from asthron.sites.models import Site

    def make_user(db):
        from asthron.accounts.models import User

        user = User(email="a@example.com", display_name="A", role="staff", password_hash="x")
        db.add(user)
        db.flush()
        return user.id

    user_id = run_in_tm(make_user)
    payloads = []

    def subscriber(db, event):
        payloads.append(event.payload)
        db.add(StaffPresence(user_id=user_id, status="away"))

    registry["domain_event_subscribers"].add("conversation.created", subscriber)

    class Abort(Exception):
        pass

    def open_then_fail(db):
        visitor, _ = service.start_visitor(db, db.get(Site, site["id"]), "UA")
        service.open_conversation(db, visitor)
        raise Abort

    with pytest.raises(Abort):
        run_in_tm(open_then_fail)
    count = sa.select(sa.func.count()).select_from
    assert run_in_tm(lambda db: db.scalar(count(StaffPresence))) == 0
    assert run_in_tm(lambda db: db.scalar(count(DomainEvent))) == 0

    def open_conversation(db):
        visitor, _ = service.start_visitor(db, db.get(Site, site["id"]), "UA")
        conversation, created = service.open_conversation(db, visitor)
        return conversation.id

    conversation_id = run_in_tm(open_conversation)
    assert run_in_tm(lambda db: db.scalar(count(StaffPresence))) == 1
    assert payloads[-1]["conversation_id"] == conversation_id
    rows = run_in_tm(
        lambda db: [
            (e.kind, e.subject_type, e.subject_id) for e in db.scalars(sa.select(DomainEvent))
        ]
    )
    assert rows == [("conversation.created", "conversation", str(conversation_id))]


def test_side_panels_come_from_features(registry, run_in_tm):
    hooks = registry["message_hooks"]
    hooks.add("side_panels", lambda db, cid: SidePanel("Booking", [("When", "Thursday 14:00")]))
    hooks.add("side_panels", lambda db, cid: None)  # nothing to show
    panels = run_in_tm(lambda db: hooks.side_panels(db, 1))
    assert [p.title for p in panels][-1] == "Booking"
    assert all(p.title in ("Lead", "Booking", "Payments") for p in panels)

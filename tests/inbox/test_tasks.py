"""The inbox's background work: the summary at handoff, alerts for chats left waiting, and
one email per batch of staff replies to a visitor who left."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from asthron.accounts.models import StaffPresence
from asthron.audit.service import Actor
from asthron.conversations import handoff
from asthron.conversations import service as conversations
from asthron.conversations.models import Conversation, Visitor
from asthron.db import utcnow
from asthron.inbox import tasks
from asthron.inbox.models import ConversationSummary, HandoffRules
from asthron.jobs.models import OutboxItem
from asthron.notify.service import unsealed


def new_conversation(run_in_tm, site, *messages, email=None):
    from asthron.sites.models import Site

    def create(db):
        visitor, _token = conversations.start_visitor(db, db.get(Site, site["id"]), "UA")
        visitor.email, visitor.name = email, "Dana" if email else None
        conversation, _ = conversations.open_conversation(db, visitor)
        for body in messages:
            conversations.append_event(db, conversation, "visitor_message", body)
        return conversation.id

    return run_in_tm(create)


def send_visitor_email(run_in_tm, conversation_id):
    return run_in_tm(lambda db: tasks.email_visitor_about_replies(db, conversation_id))


def emails(run_in_tm, registry):
    box = registry["secret_box"]
    return run_in_tm(
        lambda db: [
            unsealed(o.payload, box)
            for o in db.scalars(sa.select(OutboxItem).order_by(OutboxItem.id))
        ]
    )


def test_handoff_writes_an_extractive_summary(run_in_tm, site):
    conversation_id = new_conversation(
        run_in_tm, site, "Hi, I need a quote for 40 chairs", "My email is dana@example.com"
    )
    run_in_tm(
        lambda db: handoff.request_handoff(
            db, db.get(Conversation, conversation_id), "visitor", "asked"
        )
    )
    summary = run_in_tm(lambda db: db.get(ConversationSummary, conversation_id))
    assert summary is not None and summary.provider == "builtin"
    assert "quote for 40 chairs" in summary.text and "dana@example.com" in summary.text


def test_chats_waiting_too_long_alert_online_staff_once(run_in_tm, site, make_user, registry):
    on_duty = make_user("staff", email="on-duty@example.com")
    make_user("staff", email="off-duty@example.com")
    conversation_id = new_conversation(run_in_tm, site, "hello?")

    def arrange(db):
        db.add(HandoffRules(id=1, keywords=[], waiting_alert_minutes=5))
        db.add(StaffPresence(user_id=on_duty["id"], status="online", last_seen_at=utcnow()))
        conversation = db.get(Conversation, conversation_id)
        conversation.owner = "waiting"
        conversation.waiting_since = utcnow() - dt.timedelta(minutes=6)

    run_in_tm(arrange)
    assert tasks.alert_waiting_chats.call_local() == 1
    assert tasks.alert_waiting_chats.call_local() == 0  # once per wait
    sent = emails(run_in_tm, registry)
    assert [m["to"] for m in sent] == ["on-duty@example.com"]
    assert f"/inbox/{conversation_id}" in sent[0]["text"]


def test_recent_waits_are_not_alerted(run_in_tm, site, registry):
    conversation_id = new_conversation(run_in_tm, site, "hello?")

    def arrange(db):
        conversation = db.get(Conversation, conversation_id)
        conversation.owner, conversation.waiting_since = "waiting", utcnow()

    run_in_tm(arrange)
    assert tasks.alert_waiting_chats.call_local() == 0
    assert emails(run_in_tm, registry) == []


def test_visitor_who_left_gets_one_email_per_batch_of_replies(run_in_tm, site, make_user, registry):
    staff = make_user("staff", name="Alice")
    conversation_id = new_conversation(
        run_in_tm, site, "Can someone call me?", email="dana@example.com"
    )

    def join_and_reply(*bodies):
        def run(db):
            from asthron.accounts.models import User

            conversation = db.get(Conversation, conversation_id)
            user = db.get(User, staff["id"])
            if conversation.owner != "human":
                handoff.join(db, Actor(label=user.email, user_id=user.id), conversation, user)
            for body in bodies:
                handoff.staff_reply(db, conversation, user, body)
            visitor = db.get(Visitor, conversation.visitor_id)
            visitor.last_seen_at = utcnow() - dt.timedelta(minutes=10)  # the visitor left

        run_in_tm(run)

    join_and_reply("Hi Dana!", "Sure, what number?")
    assert send_visitor_email(run_in_tm, conversation_id) is True
    assert send_visitor_email(run_in_tm, conversation_id) is False  # same batch
    join_and_reply("Are you still there?")
    assert send_visitor_email(run_in_tm, conversation_id) is True
    sent = [m for m in emails(run_in_tm, registry) if m["to"] == "dana@example.com"]
    assert len(sent) == 2
    assert "Hi Dana!" in sent[0]["text"] and "Sure, what number?" in sent[0]["text"]
    assert "Are you still there?" in sent[1]["text"] and "Hi Dana!" not in sent[1]["text"]


def test_visitor_still_here_or_without_email_gets_none(run_in_tm, site, make_user):
    staff = make_user("staff", name="Alice")
    present = new_conversation(run_in_tm, site, "hi", email="here@example.com")
    anonymous = new_conversation(run_in_tm, site, "hi")

    def reply(conversation_id, away):
        def run(db):
            from asthron.accounts.models import User

            conversation = db.get(Conversation, conversation_id)
            user = db.get(User, staff["id"])
            handoff.join(db, Actor(label=user.email, user_id=user.id), conversation, user)
            handoff.staff_reply(db, conversation, user, "Hello")
            if away:
                db.get(Visitor, conversation.visitor_id).last_seen_at = utcnow() - dt.timedelta(
                    minutes=10
                )

        run_in_tm(run)

    reply(present, away=False)
    reply(anonymous, away=True)
    assert send_visitor_email(run_in_tm, present) is False
    assert send_visitor_email(run_in_tm, anonymous) is False

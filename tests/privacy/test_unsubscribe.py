"""The visitor-reply email carries List-Unsubscribe; its link stops further emails."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from asthron.accounts.models import User
from asthron.audit.models import AuditEntry
from asthron.audit.service import Actor
from asthron.conversations import handoff
from asthron.conversations.models import Conversation, Visitor
from asthron.db import utcnow
from asthron.notify.models import SmtpSettings
from asthron.notify.service import build_message
from tests.inbox.test_tasks import emails, new_conversation, send_visitor_email


def test_reply_email_has_a_one_click_unsubscribe_that_stops_the_next(
    run_in_tm,
    site,
    make_user,
    registry,
    testapp,
):
    staff = make_user("staff", name="Alice")
    conversation_id = new_conversation(run_in_tm, site, "Call me?", email="dana@example.com")

    def reply(body):
        def run(db):
            conversation = db.get(Conversation, conversation_id)
            user = db.get(User, staff["id"])
            if conversation.owner != "human":
                handoff.join(db, Actor(label=user.email, user_id=user.id), conversation, user)
            handoff.staff_reply(db, conversation, user, body)
            db.get(Visitor, conversation.visitor_id).last_seen_at = utcnow() - dt.timedelta(
                minutes=10
            )

        run_in_tm(run)

    reply("Hi Dana!")
    assert send_visitor_email(run_in_tm, conversation_id) is True
    (sent,) = [m for m in emails(run_in_tm, registry) if m["to"] == "dana@example.com"]
    message = build_message(SmtpSettings(host="h", from_address="a@example.com"), sent)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message["List-Unsubscribe"].strip("<>")
    path = url.removeprefix(registry["app_settings"].public_url)
    assert path in sent["text"]

    testapp.get(path, status=200)
    testapp.get(path[:-1] + ("0" if path[-1] != "0" else "1"), status=404)  # a forged token
    testapp.post(path, status=200)  # what a mail client sends: no cookie, no CSRF token

    reply("Are you still there?")
    assert send_visitor_email(run_in_tm, conversation_id) is False

    def opted_out(db):
        visitor = db.scalar(sa.select(Visitor).where(Visitor.email == "dana@example.com"))
        return visitor.email_opt_out_at is not None

    assert run_in_tm(opted_out)
    actions = run_in_tm(lambda db: list(db.scalars(sa.select(AuditEntry.action))))
    assert actions.count("visitor.email_opt_out") == 1

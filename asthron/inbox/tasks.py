"""Background work for the inbox: summaries at handoff, alerts for chats left waiting, and
emails to visitors who left before staff replied."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import transaction
from huey import crontab

from asthron.conversations.models import Conversation, ConversationEvent, Visitor
from asthron.db import get_tm_session, utcnow
from asthron.jobs.queue import app_context, enqueue_after_commit, huey

# A visitor counts as gone when their widget has not been seen for this long.
VISITOR_GONE_AFTER = dt.timedelta(minutes=2)
# Staff replies are batched: one email for the replies of this window, not one per message.
VISITOR_EMAIL_DELAY = 120


def _session(tm):
    return get_tm_session(app_context["registry"]["dbsession_factory"], tm)


@huey.task()
def summarize_conversation(conversation_id: int) -> None:
    from asthron.inbox.summary import write_summary

    tm = transaction.TransactionManager(explicit=True)
    with tm:
        db = _session(tm)
        conversation = db.get(Conversation, conversation_id)
        if conversation is not None:
            responder = app_context["registry"]["reply_runner"].responder
            write_summary(db, conversation, responder)


def summarize_after_commit(db, conversation_id: int) -> None:
    enqueue_after_commit(
        summarize_conversation,
        conversation_id,
        transaction_manager=db.info.get("transaction_manager"),
    )


@huey.periodic_task(crontab(minute="*"))
def alert_waiting_chats() -> int:
    """Email on-duty staff about chats that have waited unanswered for N minutes."""
    from asthron.inbox import presence
    from asthron.inbox.triggers import rules
    from asthron.notify.service import queue_email

    tm = transaction.TransactionManager(explicit=True)
    with tm:
        db = _session(tm)
        minutes = rules(db).waiting_alert_minutes
        if not minutes:
            return 0
        cutoff = utcnow() - dt.timedelta(minutes=minutes)
        waiting = list(
            db.scalars(
                sa.select(Conversation).where(
                    Conversation.owner == "waiting",
                    Conversation.status == "open",
                    Conversation.waiting_since <= cutoff,
                    Conversation.waiting_alert_sent_at.is_(None),
                )
            )
        )
        if not waiting:
            return 0
        recipients = presence.online_staff(db) or _all_staff(db)
        base = app_context["registry"]["app_settings"].public_url
        for conversation in waiting:
            conversation.waiting_alert_sent_at = utcnow()
            for user in recipients:
                queue_email(
                    db,
                    user.email,
                    f"A visitor has waited {minutes}+ minutes for a reply",
                    f"Conversation #{conversation.id} has been waiting since "
                    f"{conversation.waiting_since:%H:%M} UTC.\n\nOpen it: "
                    f"{base}/inbox/{conversation.id}\n",
                )
        return len(waiting)


def _all_staff(db):
    from asthron.accounts.models import User

    return list(db.scalars(sa.select(User).where(User.is_active.is_(True))))


@huey.task()
def email_visitor_about_replies(conversation_id: int) -> bool:
    """Once per batch: if the visitor left before reading staff replies and gave an email."""
    from asthron.notify.service import queue_email

    tm = transaction.TransactionManager(explicit=True)
    with tm:
        db = _session(tm)
        conversation = db.get(Conversation, conversation_id, with_for_update=True)
        if conversation is None:
            return False
        visitor = db.get(Visitor, conversation.visitor_id)
        if not visitor.email or utcnow() - visitor.last_seen_at < VISITOR_GONE_AFTER:
            return False
        unread = list(
            db.scalars(
                sa.select(ConversationEvent)
                .where(
                    ConversationEvent.conversation_id == conversation.id,
                    ConversationEvent.type == "staff_message",
                    ConversationEvent.id
                    > max(
                        conversation.visitor_read_event_id, conversation.visitor_emailed_event_id
                    ),
                )
                .order_by(ConversationEvent.id)
            )
        )
        if not unread:
            return False
        conversation.visitor_emailed_event_id = unread[-1].id
        lines = "\n\n".join(f"{e.author_name}: {e.body}" for e in unread)
        queue_email(
            db,
            visitor.email,
            "You have a reply from our team",
            f"Hello{(' ' + visitor.name) if visitor.name else ''},\n\n"
            f"Our team replied to your chat:\n\n{lines}\n\n"
            "Reply by opening the chat on our website again.\n",
        )
        return True


def schedule_visitor_email(db, conversation_id: int) -> None:
    tm = db.info.get("transaction_manager")

    def hook(committed):
        if committed:
            email_visitor_about_replies.schedule(args=(conversation_id,), delay=VISITOR_EMAIL_DELAY)

    tm.get().addAfterCommitHook(hook)

"""Background work for the inbox: summaries at handoff, alerts for chats left waiting, and
emails to visitors who left before staff replied."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from huey import crontab
from sqlalchemy.orm import Session

from asthron.accounts import presence
from asthron.accounts.models import User
from asthron.alerts.service import Alert, send_alert
from asthron.conversations import unsubscribe
from asthron.conversations.history import history
from asthron.conversations.hooks import HandoffRequested
from asthron.conversations.models import Conversation, Visitor
from asthron.db import registry_of, utcnow
from asthron.inbox.summary import write_summary
from asthron.inbox.triggers import rules
from asthron.jobs.queue import app_task, enqueue_after_commit
from asthron.jobs.service import JobContext, add_outbox_item, outbox_handler
from asthron.notify.service import queue_templated_email

# A visitor counts as gone when their widget has not been seen for this long.
VISITOR_GONE_AFTER = dt.timedelta(minutes=2)
# Staff replies are batched: one email for the replies of this window, not one per message.
VISITOR_EMAIL_DELAY = dt.timedelta(seconds=120)
VISITOR_EMAIL_KIND = "inbox.visitor_replies_email"


@app_task()
def summarize_conversation(db: Session, conversation_id: int) -> None:
    conversation = db.get(Conversation, conversation_id)
    if conversation is not None:
        write_summary(db, conversation)


def summarize_after_handoff(db: Session, handoff: HandoffRequested) -> None:
    """The on-handoff hook: the summary is written in the background once the handoff
    commits, so the person joining need not scroll."""
    enqueue_after_commit(summarize_conversation, handoff.conversation.id, db=db)


@app_task(periodic=crontab(minute="*"))
def alert_waiting_chats(db: Session) -> int:
    """Email on-duty staff about chats that have waited unanswered for N minutes."""
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
    # The staff on duty (or everyone, when no one is) are the default route; the email
    # routing rules add recipients per site, or move someone to a digest.
    recipients = [user.email for user in presence.online_staff(db) or _all_staff(db)]
    base = registry_of(db)["app_settings"].public_url
    for conversation in waiting:
        conversation.waiting_alert_sent_at = utcnow()
        link = f"{base}/inbox/{conversation.id}"
        send_alert(
            db,
            Alert(
                event="chat.waiting",
                site_id=conversation.site_id,
                facts={"minutes": minutes},
                email="waiting_alert",
                values={"conversation": conversation, "minutes": minutes, "link": link},
                line=f"Conversation #{conversation.id} waited {minutes}+ minutes for a person",
                link=link,
                default_recipients=recipients,
            ),
        )
    return len(waiting)


def _all_staff(db: Session) -> list[User]:
    return list(db.scalars(sa.select(User).where(User.is_active.is_(True))))


def schedule_visitor_email(db: Session, conversation_id: int) -> None:
    """After a staff reply: in a couple of minutes, email the visitor the replies they have
    not read, if they left and gave an address. An outbox item, so it is never lost."""
    add_outbox_item(
        db, VISITOR_EMAIL_KIND, {"conversation_id": conversation_id}, delay=VISITOR_EMAIL_DELAY
    )


@outbox_handler(VISITOR_EMAIL_KIND)
def _send_visitor_email(ctx: JobContext, payload: dict) -> None:
    email_visitor_about_replies(ctx.db, payload["conversation_id"])


def email_visitor_about_replies(db: Session, conversation_id: int) -> bool:
    """Once per batch: if the visitor left before reading staff replies and gave an email."""
    conversation = db.get(Conversation, conversation_id, with_for_update=True)
    if conversation is None:
        return False
    visitor = db.get(Visitor, conversation.visitor_id)
    if not visitor.email or visitor.email_opt_out_at is not None:
        return False
    if utcnow() - visitor.last_seen_at < VISITOR_GONE_AFTER:
        return False
    seen = max(conversation.visitor_read_event_id, conversation.visitor_emailed_event_id)
    unread = [e for e in history(db, conversation.id, types=["staff_message"]) if e.id > seen]
    if not unread:
        return False
    conversation.visitor_emailed_event_id = unread[-1].id
    registry = registry_of(db)
    headers = unsubscribe.headers(
        registry["secrets"], registry["app_settings"].public_url, visitor.id
    )
    queue_templated_email(
        db,
        visitor.email,
        "visitor_replies",
        headers=headers,
        visitor=visitor,
        replies=unread,
        unsubscribe_url=headers["List-Unsubscribe"][1:-1],
    )
    return True

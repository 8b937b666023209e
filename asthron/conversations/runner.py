"""Runs the responder after a visitor's message commits, in a bounded pool in the web process.

Not in Huey: a polling consumer would add up to seconds before the first token. The runner
re-checks who owns the conversation before it stores a reply, so the assistant never talks
over a person.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
import transaction

from asthron.conversations import service
from asthron.conversations.models import Conversation, ConversationEvent
from asthron.conversations.responder import ReplyContext, ReplyOutcome, Turn
from asthron.db import get_tm_session, utcnow
from asthron.realtime import conversation_channel
from asthron.sites import hours
from asthron.sites.models import Site

log = logging.getLogger(__name__)
HISTORY_TURNS = 40


def _taken_over(watch) -> bool:
    return any(
        m.get("kind") == "ownership" and m.get("owner") != "assistant" for m in watch.drain()
    )


class ReplyRunner:
    def __init__(self, registry, responder=None, max_workers: int = 8):
        self.registry = registry
        # Set by asthron.assistant's includeme; the runner only knows the interface.
        self.responder = responder
        self.pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="reply")
        # Called before the responder starts (reading a qualification answer) and after a
        # reply is stored (handoff decisions, lead capture...).
        self.before_reply: list = []
        self.after_reply: list = []

    def schedule_after_commit(self, db, conversation_id: int, trigger_event_id: int) -> None:
        tm = db.info.get("transaction_manager")

        def hook(committed):
            if committed:
                self.pool.submit(self.run_safely, conversation_id, trigger_event_id)

        tm.get().addAfterCommitHook(hook)

    def run_safely(self, conversation_id: int, trigger_event_id: int) -> None:
        try:
            self.run(conversation_id, trigger_event_id)
        except Exception:
            log.exception("reply for conversation %s failed", conversation_id)
            self._publish(
                conversation_id, {"kind": "typing", "author": "assistant", "active": False}
            )

    def _session(self, tm):
        return get_tm_session(self.registry["dbsession_factory"], tm)

    def _publish(self, conversation_id: int, message: dict) -> None:
        self.registry["notifier"].publish(conversation_channel(conversation_id), message)

    def build_context(self, db, conversation: Conversation) -> ReplyContext:
        site = db.get(Site, conversation.site_id)
        now = utcnow()
        rows = db.scalars(
            sa.select(ConversationEvent)
            .where(
                ConversationEvent.conversation_id == conversation.id,
                ConversationEvent.public.is_(True),
            )
            .order_by(ConversationEvent.id.desc())
            .limit(HISTORY_TURNS)
        )
        history = [Turn(service.AUTHOR_OF_TYPE[e.type], e.body) for e in reversed(list(rows))]
        business_open = hours.is_open(site.business_hours, site.holidays, site.timezone, now)
        return ReplyContext(
            conversation_id=conversation.id,
            site_name=site.name,
            business_open=business_open,
            next_opening=None
            if business_open
            else hours.next_opening(site.business_hours, site.holidays, site.timezone, now),
            site_timezone=site.timezone,
            history=history,
        )

    def run(self, conversation_id: int, trigger_event_id: int) -> ConversationEvent | None:
        tm = transaction.TransactionManager(explicit=True)
        # One short transaction for everything before the model is called (hooks, context,
        # retrieval, the prompt): each extra one would add to the visitor's time to first token.
        with tm:
            db = self._session(tm)
            for hook in self.before_reply:
                try:
                    with db.begin_nested():
                        hook(self.registry, conversation_id, db)
                except Exception:
                    log.exception("before-reply hook %s failed", getattr(hook, "__name__", hook))
            conversation = db.get(Conversation, conversation_id)
            if conversation is None or conversation.owner != "assistant":
                return None
            if conversation.status != "open":
                return None
            context = self.build_context(db, conversation)
            prepare = getattr(self.responder, "prepare", None)
            prepared = prepare(db, context) if prepare is not None else None

        reply_id = uuid.uuid4().hex
        self._publish(conversation_id, {"kind": "typing", "author": "assistant", "active": True})
        parts, outcome = [], None
        # A person joining publishes an ownership change on this channel (from any process);
        # generation stops at the next delta and nothing partial is stored as a reply.
        with self.registry["notifier"].subscribe(conversation_channel(conversation_id)) as watch:
            replies = (
                self.responder.reply(context, prepared)
                if prepared is not None
                else self.responder.reply(context)
            )
            try:
                for item in replies:
                    if _taken_over(watch):
                        self._publish(
                            conversation_id, {"kind": "reply_cancelled", "reply_id": reply_id}
                        )
                        self._publish(
                            conversation_id,
                            {"kind": "typing", "author": "assistant", "active": False},
                        )
                        return None
                    if isinstance(item, ReplyOutcome):
                        outcome = item
                        continue
                    parts.append(item)
                    self._publish(
                        conversation_id, {"kind": "delta", "reply_id": reply_id, "text": item}
                    )
            finally:
                close = getattr(replies, "close", None)
                if close is not None:
                    close()
        text = (outcome.text if outcome else "".join(parts)).strip()
        extra = dict(outcome.data) if outcome else {}
        if outcome and outcome.cut_off:
            extra["cut_off"] = True

        with tm:
            db = self._session(tm)
            conversation = db.get(Conversation, conversation_id)
            if conversation is not None:
                service.lock_conversation(db, conversation)
            # A person may have taken over while we generated: then the reply is dropped.
            if conversation is None or conversation.owner != "assistant" or not text:
                self._publish(conversation_id, {"kind": "reply_cancelled", "reply_id": reply_id})
                self._publish(
                    conversation_id, {"kind": "typing", "author": "assistant", "active": False}
                )
                return None
            event = service.append_event(
                db,
                conversation,
                "assistant_message",
                text,
                author_name="Assistant",
                data={"reply_id": reply_id, "responder": self.responder.name, **extra},
            )
        self._publish(conversation_id, {"kind": "typing", "author": "assistant", "active": False})
        for hook in self.after_reply:
            try:
                hook(self.registry, conversation_id, event, outcome)
            except Exception:
                log.exception("after-reply hook %s failed", getattr(hook, "__name__", hook))
        return event

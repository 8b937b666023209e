"""Runs the responder for a visitor's message, in a bounded pool in the web process.

Not in Huey: a polling consumer would add up to seconds before the first token. For the same
reason the reply is prepared (hooks, context, retrieval, the prompt) in the very transaction
that stores the visitor's message, and the model is called before that transaction commits:
the model's own first-token delay then overlaps the commit and the HTTP response. Nothing is
shown or stored until the commit is known (``CommitGate``); a rolled-back or retried request
cancels its speculative reply. The runner re-checks who owns the conversation before it stores
a reply, so the assistant never talks over a person.
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from asthron.conversations import service
from asthron.conversations.history import AUTHOR_OF_TYPE, history
from asthron.conversations.hooks import StoredReply
from asthron.conversations.models import Conversation, ConversationEvent
from asthron.conversations.responder import ReplyContext, ReplyOutcome, Responder, Turn
from asthron.db import new_transaction
from asthron.realtime import conversation_channel, hand_over_the_interpreter
from asthron.sites.availability import availability
from asthron.sites.service import site_snapshot

log = logging.getLogger(__name__)
HISTORY_TURNS = 40
# How long a prepared reply waits to learn whether the visitor's message committed.
COMMIT_WAIT_SECONDS = 30.0
# How long the visitor's POST waits, at most, for the model's request to be sent.
SENT_WAIT_SECONDS = 0.05


def _taken_over(watch) -> bool:
    return any(
        m.get("kind") == "ownership" and m.get("owner") != "assistant" for m in watch.drain()
    )


class CommitGate:
    """Whether the transaction that stored the visitor's message committed. The first
    outcome wins: an after-commit hook and an after-abort hook may both report."""

    def __init__(self, committed: bool | None = None):
        self._settled = threading.Event()
        self.committed = False
        if committed is not None:
            self.settle(committed)

    def settle(self, committed: bool) -> None:
        if not self._settled.is_set():
            self.committed = committed
            self._settled.set()

    def wait(self, timeout: float = COMMIT_WAIT_SECONDS) -> bool:
        return self._settled.wait(timeout) and self.committed


class ReplyRunner:
    def __init__(self, registry, responder: Responder | None = None, max_workers: int = 8):
        self.registry = registry
        # Set by asthron.assistant's includeme; the runner only knows the Responder protocol.
        self.responder = responder
        self.pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="reply")

    # -- starting a reply ---------------------------------------------------------------------

    def start_reply(self, db, conversation: Conversation) -> None:
        """Reply to the visitor message just stored in ``db``'s transaction.

        The reply is prepared here and the model called at once (see the module docstring);
        deltas and the stored reply wait for this transaction's commit.
        """
        txn = db.info["transaction_manager"].get()
        try:
            started = self._prepare_in_visitors_transaction(db, conversation)
        except Exception:
            # The reply is prepared again after the commit, in a transaction of its own.
            log.exception("preparing the reply for conversation %s failed", conversation.id)
            started = None
        if started is None:
            self._run_after_commit(txn, conversation.id)
            return
        context, replies, watch = started
        gate = CommitGate()

        def committed(ok):
            if ok:
                self._publish_typing(conversation.id, True)
            gate.settle(ok)

        txn.addAfterCommitHook(committed)
        txn.addAfterAbortHook(lambda: gate.settle(False))
        # Commit and answer the POST once the model's request is sent, not while the
        # provider's client builds it: on a small machine the two would share one interpreter
        # lock, and the visitor's first token would wait for the commit.
        replies.wait_until_sent(SENT_WAIT_SECONDS)
        try:
            self.pool.submit(self._deliver_safely, context, replies, watch, gate)
        except RuntimeError:  # the process is shutting down: no reply, but no error either
            watch.close()
            replies.close()

    def _prepare_in_visitors_transaction(self, db, conversation: Conversation):
        if db.get_bind().dialect.name != "postgresql":
            # On SQLite a failed statement leaves the transaction usable, and preparing is
            # reads plus the hooks' own savepoints: no savepoint needed (it would cost two
            # statements on every message).
            return self._prepare_and_start(db, conversation)
        # On PostgreSQL a failed statement aborts the whole transaction, whose COMMIT would then
        # silently store nothing, the visitor's message included.
        with db.begin_nested():
            return self._prepare_and_start(db, conversation)

    def _prepare_and_start(self, db, conversation: Conversation):
        """The context and the responder's preparation, then the responder's stream (an
        assistant responder has already sent the request to the model)."""
        if conversation.owner != "assistant" or conversation.status != "open":
            return None
        context = self.build_context(db, conversation)
        prepared = self.responder.prepare(db, context)
        # Subscribed before the model is called, so a person joining is never missed.
        watch = self.registry["notifier"].subscribe(conversation_channel(conversation.id))
        try:
            replies = self.responder.reply(context, prepared)
        except BaseException:
            watch.close()
            raise
        return context, replies, watch

    def _run_after_commit(self, txn, conversation_id: int) -> None:
        def hook(committed):
            if committed:
                self.pool.submit(self.run_safely, conversation_id)

        txn.addAfterCommitHook(hook)

    # -- running a reply in a transaction of its own ------------------------------------------

    def run_safely(self, conversation_id: int) -> None:
        try:
            self.run(conversation_id)
        except Exception:
            log.exception("reply for conversation %s failed", conversation_id)
            self._publish_typing(conversation_id, False)

    def run(self, conversation_id: int):
        """Prepare and deliver a reply now: used when preparing in the visitor's transaction
        failed, and by tests. Returns the stored event, or None."""
        with new_transaction(self.registry) as db:
            conversation = db.get(Conversation, conversation_id)
            if conversation is None:
                return None
            started = self._prepare_and_start(db, conversation)
        if started is None:
            return None
        context, replies, watch = started
        self._publish_typing(conversation_id, True)
        return self._deliver(context, replies, watch, CommitGate(committed=True))

    # -- delivering a reply -------------------------------------------------------------------

    def _publish(self, conversation_id: int, message: dict) -> None:
        self.registry["notifier"].publish(conversation_channel(conversation_id), message)

    def _publish_typing(self, conversation_id: int, active: bool) -> None:
        self._publish(conversation_id, {"kind": "typing", "author": "assistant", "active": active})

    def build_context(self, db, conversation: Conversation) -> ReplyContext:
        site = site_snapshot(db, conversation.site_id)
        events = history(db, conversation.id, public_only=True, last=HISTORY_TURNS)
        now = availability(db, site, with_staff=False)
        return ReplyContext(
            conversation_id=conversation.id,
            site_name=site.name,
            business_open=now.open_now,
            next_opening=now.next_open_at,
            site_timezone=site.timezone,
            history=[Turn(AUTHOR_OF_TYPE[e.type], e.body) for e in events],
        )

    def _deliver_safely(self, context, replies, watch, gate: CommitGate) -> None:
        try:
            self._deliver(context, replies, watch, gate)
        except Exception:
            log.exception("reply for conversation %s failed", context.conversation_id)
            if gate.committed:
                self._publish_typing(context.conversation_id, False)

    def _deliver(self, context, replies, watch, gate: CommitGate) -> ConversationEvent | None:
        """Publish the reply's deltas as they come and store the reply; nothing at all unless
        the visitor's message committed."""
        conversation_id = context.conversation_id
        reply_id = uuid.uuid4().hex
        parts, outcome = [], None
        # A person joining publishes an ownership change on this channel (from any process);
        # generation stops at the next delta and nothing partial is stored as a reply.
        with watch:
            try:
                # The commit comes within milliseconds, before any model's first token. If the
                # visitor's message was never stored, say nothing and stop the model at once
                # rather than hold this worker until its first token.
                if not gate.wait():
                    return None
                for item in replies:
                    if _taken_over(watch):
                        self._publish(
                            conversation_id, {"kind": "reply_cancelled", "reply_id": reply_id}
                        )
                        self._publish_typing(conversation_id, False)
                        return None
                    if isinstance(item, ReplyOutcome):
                        outcome = item
                        continue
                    parts.append(item)
                    self._publish(
                        conversation_id, {"kind": "delta", "reply_id": reply_id, "text": item}
                    )
                    if len(parts) == 1:
                        hand_over_the_interpreter()  # to the streams carrying the first delta
            finally:
                replies.close()
        text = (outcome.text if outcome else "".join(parts)).strip()
        extra = dict(outcome.data) if outcome else {}
        if outcome and outcome.cut_off:
            extra["cut_off"] = True

        with new_transaction(self.registry) as db:
            conversation = db.get(Conversation, conversation_id)
            if conversation is not None:
                service.lock_conversation(db, conversation)
            # A person may have taken over while we generated: then the reply is dropped.
            if conversation is None or conversation.owner != "assistant" or not text:
                self._publish(conversation_id, {"kind": "reply_cancelled", "reply_id": reply_id})
                self._publish_typing(conversation_id, False)
                return None
            event = service.append_event(
                db,
                conversation,
                "assistant_message",
                text,
                author_name="Assistant",
                data={"reply_id": reply_id, "responder": self.responder.name, **extra},
            )
        self._publish_typing(conversation_id, False)
        self.registry["message_hooks"].after_reply(
            self.registry, StoredReply(conversation_id, event, outcome)
        )
        return event

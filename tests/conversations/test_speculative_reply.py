"""The speculative reply: prepared in the visitor's own transaction, the model called before
that transaction commits, and nothing shown or stored unless it does commit.

A rolled-back message gets no typing indicator, no delta and no stored reply; a committed one
gets, in order, its event notification, typing, the deltas and exactly one stored reply. The
visitor's POST returns while the model is still thinking, after its request is on the wire.
"""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
import sqlalchemy as sa
import transaction

from asthron.assistant.providers.base import Completion, Delta, ProviderError, Usage
from asthron.realtime import conversation_channel
from tests.conversations.test_concurrency import force_race, in_parallel
from tests.fakes.llm_server import FakeLLMServer
from tests.fixtures.waiting import wait_for

API = "/api/widget/v1"
WAIT = 10.0  # the longest anything here may take; normally well under a second


class CountingProvider:
    """A model that answers at once, in pieces, and counts how often it is called."""

    kind = "openai"
    model = "fake-model"

    def __init__(self, pieces=("We open ", "at nine ", "tomorrow.")):
        self.pieces = list(pieces)
        self.reply = "".join(self.pieces)
        self.requests: list = []
        self.called = threading.Event()
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.requests)

    def stream_chat(self, messages, options, grounding=None):
        with self._lock:
            self.requests.append(messages)
        self.called.set()
        for piece in self.pieces:
            yield Delta(piece)
        yield Completion(self.reply, Usage(12, 5), self.model)

    def structured(self, messages, schema, options):
        # The after-reply hooks (handoff decision, contact extraction) fall back to rules.
        raise ProviderError("unavailable", "no structured output in these tests")

    def health(self):
        raise NotImplementedError

    def list_models(self):
        return [self.model]


@pytest.fixture
def ini_settings(ini_settings):
    ini_settings.update(
        {
            "asthron.ai.primary.kind": "openai",
            "asthron.ai.primary.base_url": "http://127.0.0.1:9/v1",
            "asthron.ai.primary.model": "fake-model",
            "asthron.ai.primary.api_key": "sk-test",
        }
    )
    return ini_settings


@pytest.fixture
def provider(registry):
    fake = CountingProvider()
    registry["ai_providers"].factory = lambda effective: fake
    return fake


# -- helpers --------------------------------------------------------------------------------


def events_of(run_in_tm, conversation_id, type_):
    from asthron.conversations.models import ConversationEvent

    return run_in_tm(
        lambda db: [
            (e.id, e.body)
            for e in db.scalars(
                sa.select(ConversationEvent)
                .where(
                    ConversationEvent.conversation_id == conversation_id,
                    ConversationEvent.type == type_,
                )
                .order_by(ConversationEvent.id)
            )
        ]
    )


def wait_for_replies(registry, run_in_tm, conversation_id, count=1):
    """The stored replies once there are ``count``, looked for again whenever the
    conversation's channel announces something."""

    def stored():
        replies = events_of(run_in_tm, conversation_id, "assistant_message")
        return replies if len(replies) >= count else None

    channel = conversation_channel(conversation_id)
    with registry["notifier"].subscribe(channel) as updates:
        return wait_for(stored, f"{count} assistant replies", WAIT, wake=updates)


def read_until(subscription, predicate, timeout=WAIT):
    """Messages up to and including the first that satisfies ``predicate``."""
    messages = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = subscription.get(timeout=max(0.01, deadline - time.monotonic()))
        if message is None:
            continue
        messages.append(message)
        if predicate(message):
            return messages
    raise AssertionError(f"the expected message never came: {messages}")


def finish_replies(registry):
    """Wait for every reply the runner has started (its pool is shut down for good)."""
    registry["reply_runner"].pool.shutdown(wait=True)


def typing(active):
    return {"kind": "typing", "author": "assistant", "active": active}


@contextlib.contextmanager
def message_in_open_transaction(registry, conversation_id, text, client_id):
    """Store a visitor message and start its reply in a transaction the test ends itself
    (``tm.commit()`` or ``tm.abort()``); yields ``(tm, event)``."""
    from asthron.conversations import service
    from asthron.conversations.models import Conversation
    from asthron.db import get_tm_session

    tm = transaction.TransactionManager(explicit=True)
    tm.begin()
    db = get_tm_session(registry["dbsession_factory"], tm)
    try:
        conversation = db.get(Conversation, conversation_id)
        event, created = service.post_visitor_message(db, conversation, text, client_id)
        assert created
        registry["reply_runner"].start_reply(db, conversation)
        yield tm, event
    finally:
        db.close()


# -- 1. a rolled-back message gets no reply ---------------------------------------------------


def test_aborted_transaction_shows_and_stores_nothing(registry, visitor, provider, run_in_tm):
    conversation_id = visitor.open()["id"]
    watch = registry["notifier"].subscribe(conversation_channel(conversation_id))
    try:
        with message_in_open_transaction(
            registry, conversation_id, "Will anyone answer this?", "aborted-0123456789"
        ) as (tm, _event):
            try:
                # The model is at work before the transaction ends: that is the speculation.
                assert provider.called.wait(WAIT), "the model was not called before the commit"
            finally:
                tm.abort()
        finish_replies(registry)  # the speculative delivery has run to its end
        late = watch.get(timeout=1.0)
        assert late is None, f"a rolled-back message got {late}"
        assert watch.drain() == []
    finally:
        watch.close()
    assert events_of(run_in_tm, conversation_id, "visitor_message") == []
    assert events_of(run_in_tm, conversation_id, "assistant_message") == []
    assert provider.calls == 1  # and nothing tried again after the abort
    # The call still cost a request: it is metered, as cancelled, and is no provider failure.
    assert_one_cancelled_call(run_in_tm, conversation_id)


def assert_one_cancelled_call(run_in_tm, conversation_id):
    from asthron.assistant import usage
    from asthron.assistant.models import UsageRecord

    def read(db):
        records = db.scalars(
            sa.select(UsageRecord).where(UsageRecord.conversation_id == conversation_id)
        ).all()
        since = min(r.created_at for r in records)
        return [(r.purpose, r.success, r.error_kind) for r in records], usage.by_provider(db, since)

    records, table = run_in_tm(read)
    assert records == [("reply", False, "cancelled")]
    assert [(row["calls"], row["failures"]) for row in table] == [(1, 0)]


# -- 2. a committed message: event, typing, deltas, one stored reply --------------------------


def test_committed_message_gets_event_typing_deltas_then_one_stored_reply(
    registry, visitor, provider, run_in_tm
):
    conversation_id = visitor.open()["id"]
    with registry["notifier"].subscribe(conversation_channel(conversation_id)) as watch:
        response = visitor.send(conversation_id, "When do you open?", status=201)
        visitor_event_id = response.json["id"]
        messages = read_until(watch, lambda m: m == typing(False))
    replies = wait_for_replies(registry, run_in_tm, conversation_id)
    finish_replies(registry)

    seen = [m for m in messages if m.get("kind") in ("event", "typing", "delta")]
    assert seen[0] == {"kind": "event", "id": visitor_event_id}, seen
    assert seen[1] == typing(True), seen
    deltas = [m for m in seen[2:] if m["kind"] == "delta"]
    assert [d["text"] for d in deltas] == provider.pieces
    assert len({d["reply_id"] for d in deltas}) == 1
    # The deltas come together, right after typing; the stored reply's event follows them.
    assert seen[2 : 2 + len(deltas)] == deltas, seen
    rest = seen[2 + len(deltas) :]
    (reply_id, reply_body), *more = events_of(run_in_tm, conversation_id, "assistant_message")
    assert more == [], "more than one reply was stored"
    assert rest == [{"kind": "event", "id": reply_id}, typing(False)], seen
    assert reply_body == provider.reply
    assert replies == [(reply_id, reply_body)]
    assert provider.calls == 1
    # The model saw the visitor's message, read in the request's own transaction.
    assert any("When do you open?" in m.content for m in provider.requests[0])


def test_committed_through_an_explicit_transaction_manager(registry, visitor, provider, run_in_tm):
    """The same as above, driving the transaction by hand: nothing before the commit."""
    conversation_id = visitor.open()["id"]
    with registry["notifier"].subscribe(conversation_channel(conversation_id)) as watch:
        with message_in_open_transaction(
            registry, conversation_id, "Do you ship abroad?", "committed-0123456789"
        ) as (tm, event):
            event_id = event.id
            assert provider.called.wait(WAIT)
            # The model has answered, but the message is not committed: nothing is shown.
            assert watch.get(timeout=0.3) is None
            tm.commit()
        messages = read_until(watch, lambda m: m == typing(False))
    finish_replies(registry)
    kinds = [m["kind"] for m in messages]
    assert messages[:2] == [{"kind": "event", "id": event_id}, typing(True)], messages
    assert kinds[2:-2] == ["delta"] * len(provider.pieces)
    [(reply_id, body)] = events_of(run_in_tm, conversation_id, "assistant_message")
    assert messages[-2:] == [{"kind": "event", "id": reply_id}, typing(False)]
    assert body == provider.reply


# -- 3. the model is called before the POST returns --------------------------------------------


@pytest.fixture
def fake_llm(ini_settings):
    server = FakeLLMServer(reply="Our shop opens at nine.", chunks=3)
    server.start()
    prefix = "asthron.ai.primary."
    ini_settings.update(
        {
            prefix + "base_url": server.openai_base_url,
            prefix + "model": "gpt-test",
            prefix + "first_token_timeout": "5",
            prefix + "total_timeout": "10",
            prefix + "connect_timeout": "1",
        }
    )
    yield server
    server.stop()


def streamed_chats(fake):
    return [b for b in fake.bodies("/v1/chat/completions") if isinstance(b, dict) and b["stream"]]


def test_the_model_is_called_before_the_post_returns(
    fake_llm, registry, visitor, run_in_tm, monkeypatch
):
    from asthron.assistant import chain

    # No side calls to the model after a reply (handoff decision, contact extraction): only
    # the streamed replies reach the fake server.
    monkeypatch.setattr(registry["message_hooks"], "after_reply", lambda *a: None)
    conversation_id = visitor.open()["id"]
    # A first message warms the provider's client up (one per configuration, reused).
    visitor.send(conversation_id, "Hello there", status=201)
    wait_for_replies(registry, run_in_tm, conversation_id)
    assert len(streamed_chats(fake_llm)) == 1

    waits = []
    real_wait = chain.BoundedStream.wait_until_sent

    def watched_wait(stream, timeout):
        real_wait(stream, timeout)
        waits.append((time.monotonic(), stream._sent.is_set()))

    monkeypatch.setattr(chain.BoundedStream, "wait_until_sent", watched_wait)
    fake_llm.scenario, fake_llm.first_token_delay = "slow_first_token", 1.0
    started = time.monotonic()
    visitor.send(conversation_id, "Are you open on Sunday?", status=201)
    returned_at = time.monotonic()
    # The POST waited for the model's request to be written (not for its 50 ms bound).
    assert len(waits) == 1, waits
    waited_until, sent = waits[0]
    assert sent, "the POST returned before the model's request was sent"
    assert started < waited_until < returned_at
    # The model server has it (parsing it takes it a moment after the body is written,
    # so no exact instant: well before the first token, at any rate)...
    fake_llm.wait_until(
        lambda fake: len(streamed_chats(fake)) >= 2, timeout=returned_at + 0.5 - time.monotonic()
    )
    chats = streamed_chats(fake_llm)
    assert len(chats) == 2, "the model server never saw the request"
    prompt = [m["content"] for m in chats[-1]["messages"]]
    assert any("Are you open on Sunday?" in content for content in prompt), prompt
    # ...and the POST did not wait for the model's reply.
    assert returned_at - started < 0.9
    assert len(events_of(run_in_tm, conversation_id, "assistant_message")) == 1

    replies = wait_for_replies(registry, run_in_tm, conversation_id, count=2)
    finish_replies(registry)
    assert [body for _, body in replies] == [fake_llm.reply, fake_llm.reply]
    assert len(streamed_chats(fake_llm)) == 2


def test_the_post_waits_only_briefly_for_a_model_that_has_not_sent_yet(
    registry, visitor, provider, run_in_tm
):
    """A provider that never reports its request sent (stuck before sending, or no HTTP
    hook) holds the POST for SENT_WAIT_SECONDS at most, not until its first token."""
    from asthron.conversations import runner

    stuck, released = threading.Event(), threading.Event()
    real_stream_chat = provider.stream_chat

    def stream_chat_after_a_delay(messages, options, grounding=None):
        stuck.wait(WAIT)
        released.set()
        yield from real_stream_chat(messages, options, grounding)

    provider.stream_chat = stream_chat_after_a_delay
    conversation_id = visitor.open()["id"]
    try:
        visitor.send(conversation_id, "Anyone there?", status=201)
        # The POST answered while the provider was still stuck: it did not wait for the model
        # (which the test releases only now), only for at most SENT_WAIT_SECONDS.
        answered_while_stuck = not released.is_set()
    finally:
        stuck.set()
    assert runner.SENT_WAIT_SECONDS <= 0.05
    assert answered_while_stuck
    replies = wait_for_replies(registry, run_in_tm, conversation_id)
    finish_replies(registry)
    assert [body for _, body in replies] == [provider.reply]


# -- 4. the same message twice at once: one reply ----------------------------------------------


def test_same_message_twice_at_once_gets_one_reply(
    live_server, visitor, provider, registry, monkeypatch, run_in_tm
):
    from asthron.conversations import service

    conversation_id = visitor.open()["id"]
    calls = force_race(monkeypatch, service, "_event_by_client_id")
    body = {"body": "Sent twice by a flaky network", "client_id": "twice-0123456789"}

    def send():
        return live_server.request(
            "POST", f"{API}/conversations/{conversation_id}/messages", body, visitor.headers
        )

    first, second = in_parallel(send, send)
    assert calls["n"] >= 3  # both raced; the retried request looked again and found it
    assert sorted([first[0], second[0]]) == [200, 201], (first, second)
    assert first[2] == second[2]
    visitor_events = events_of(run_in_tm, conversation_id, "visitor_message")
    assert [event_id for event_id, _ in visitor_events] == [first[2]["id"]]

    wait_for_replies(registry, run_in_tm, conversation_id)
    finish_replies(registry)
    replies = events_of(run_in_tm, conversation_id, "assistant_message")
    assert [text for _, text in replies] == [provider.reply]
    assert provider.calls == 1


# -- 5. preparing fails: the reply comes through the after-commit fallback ----------------------


def test_failed_preparation_falls_back_to_a_reply_after_the_commit(
    registry, visitor, provider, run_in_tm, monkeypatch
):
    responder = registry["reply_runner"].responder
    real_prepare = responder.prepare
    prepared = []

    def prepare_failing_once(db, context):
        prepared.append(context.conversation_id)
        if len(prepared) == 1:
            raise RuntimeError("retrieval exploded")
        return real_prepare(db, context)

    monkeypatch.setattr(responder, "prepare", prepare_failing_once)
    conversation_id = visitor.open()["id"]
    with registry["notifier"].subscribe(conversation_channel(conversation_id)) as watch:
        visitor.send(conversation_id, "Can I return an item?", status=201)
        messages = read_until(watch, lambda m: m == typing(False))
    replies = wait_for_replies(registry, run_in_tm, conversation_id)
    finish_replies(registry)
    assert prepared == [conversation_id, conversation_id]  # failed, then again after commit
    assert [body for _, body in replies] == [provider.reply]
    assert events_of(run_in_tm, conversation_id, "assistant_message") == replies
    assert provider.calls == 1
    kinds = [m["kind"] for m in messages if m.get("kind") in ("typing", "delta")]
    assert kinds == ["typing"] + ["delta"] * len(provider.pieces) + ["typing"]


def test_a_database_error_while_preparing_does_not_lose_the_visitors_message(
    registry, visitor, provider, run_in_tm, monkeypatch
):
    """Preparing now runs in the visitor's transaction. A failed statement there (on
    PostgreSQL it aborts the whole transaction) must not cost the message itself."""
    responder = registry["reply_runner"].responder
    real_prepare = responder.prepare
    prepared = []

    def prepare_with_a_failed_query_once(db, context):
        prepared.append(context.conversation_id)
        if len(prepared) == 1:
            db.execute(sa.text("SELECT no_such_column FROM no_such_table"))
        return real_prepare(db, context)

    monkeypatch.setattr(responder, "prepare", prepare_with_a_failed_query_once)
    conversation_id = visitor.open()["id"]
    response = visitor.send(conversation_id, "Is this message kept?")
    assert response.status_int == 201, response.text
    assert [body for _, body in events_of(run_in_tm, conversation_id, "visitor_message")] == [
        "Is this message kept?"
    ]
    replies = wait_for_replies(registry, run_in_tm, conversation_id)
    finish_replies(registry)
    assert [body for _, body in replies] == [provider.reply]


# -- the first-token clock runs while a reply waits for a worker --------------------------------


@pytest.fixture
def quick_first_token(ini_settings):
    ini_settings["asthron.ai.primary.first_token_timeout"] = "0.3"


def test_a_reply_waiting_for_a_free_worker_keeps_the_models_timely_answer(
    quick_first_token, registry, visitor, provider, run_in_tm
):
    runner = registry["reply_runner"]
    busy = threading.Event()
    conversation_id = visitor.open()["id"]
    blockers = [runner.pool.submit(busy.wait, WAIT) for _ in range(runner.pool._max_workers)]
    try:
        visitor.send(conversation_id, "Is the model's answer kept?", status=201)
        assert provider.called.wait(WAIT)
        time.sleep(0.5)  # the answer is in; the reply still waits for a worker
    finally:
        busy.set()
        for blocker in blockers:
            blocker.result(WAIT)
    replies = wait_for_replies(registry, run_in_tm, conversation_id)
    finish_replies(registry)
    assert [body for _, body in replies] == [provider.reply]

"""The token counts a provider reports are metered only when believable. A count too big for
the usage column (2**64) failed the visitor's message (OverflowError on SQLite,
NumericValueOutOfRange on PostgreSQL) and it was never stored; a negative one made a negative
cost, which lowered the month's spend under its budget. Over real HTTP, with Ollama's wire
protocol from the loopback fake for both the question's embedding and the reply."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from asthron.assistant.models import ModelPrice, ProviderConfig, UsageRecord
from asthron.assistant.providers.base import MAX_REPORTED_TOKENS
from asthron.assistant.usage import month_spend
from asthron.conversations.models import ConversationEvent
from tests.assistant.test_end_to_end import ask, open_chat
from tests.fakes.llm_server import FakeLLMServer
from tests.knowledge.test_embeddings import create

QUESTION = "Do you fix bicycles?"


@pytest.fixture
def fake():
    server = FakeLLMServer(reply="We repair bicycles of every kind, e-bikes too.", chunks=3)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def priced_ollama(run_in_tm, fake):
    """Ollama at the fake for replies and embeddings, at a price: a negative token count
    would make a negative cost."""

    def save(db):
        row = ProviderConfig(slot="primary", kind="ollama", base_url=fake.url, model="chat-test")
        row.embedding_model = "embed-a"
        db.add(row)
        db.add(
            ModelPrice(
                provider="ollama",
                model="*",
                input_per_million=Decimal("1"),
                output_per_million=Decimal("2"),
            )
        )

    run_in_tm(save)


def usage_rows(run_in_tm, purpose):
    return run_in_tm(
        lambda db: [
            (u.input_tokens, u.output_tokens, u.cost, u.success)
            for u in db.scalars(
                sa.select(UsageRecord)
                .where(UsageRecord.purpose == purpose)
                .order_by(UsageRecord.id)
            )
        ]
    )


@pytest.mark.parametrize("reported", [2**64, -(10**8)], ids=["too-big", "negative"])
def test_an_unbelievable_token_count_is_metered_as_an_estimate(
    reported, priced_ollama, fake, live_server, make_site, run_in_tm
):
    headers, conversation_id = open_chat(live_server, make_site())
    create(run_in_tm)  # embedded in the background, while the counts are still believable
    embedded_before = len(usage_rows(run_in_tm, "embedding"))
    fake.input_tokens = fake.output_tokens = fake.embedding_tokens = reported

    frames = ask(live_server, headers, conversation_id, QUESTION)  # the POST answers 201

    assert frames[-1].data["body"] == fake.reply
    stored = run_in_tm(
        lambda db: [
            (e.type, e.body)
            for e in db.scalars(
                sa.select(ConversationEvent)
                .where(ConversationEvent.conversation_id == conversation_id)
                .where(ConversationEvent.type.in_(["visitor_message", "assistant_message"]))
                .order_by(ConversationEvent.id)
            )
        ]
    )
    assert stored == [("visitor_message", QUESTION), ("assistant_message", fake.reply)]

    # The question's embedding: about four characters a token, as for a provider that says
    # nothing.
    question_embedding = usage_rows(run_in_tm, "embedding")[embedded_before:]
    assert fake.bodies("/api/embed")[-1]["input"] == [QUESTION]
    assert question_embedding == [(len(QUESTION) // 4, 0, Decimal("0.000005"), True)]

    # The reply: the prompt and the reply's text estimated the same way.
    [(input_tokens, output_tokens, cost, success)] = usage_rows(run_in_tm, "reply")
    prompt = [b for b in fake.bodies("/api/chat") if b.get("stream")][-1]["messages"]
    prompt_characters = sum(len(m["content"]) for m in prompt)
    assert success and 0 < input_tokens <= MAX_REPORTED_TOKENS
    assert abs(input_tokens - prompt_characters // 4) <= len(prompt)
    assert output_tokens == len(fake.reply) // 4
    assert cost == (input_tokens * 1 + output_tokens * 2) / Decimal(1_000_000)
    assert run_in_tm(month_spend) > 0

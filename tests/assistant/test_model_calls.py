"""How many model calls a conversation costs: one per visitor message in the common case.

A scripted 20-message conversation over real HTTP, the model behind the real OpenAI client
talking to a local fake server. Every call the server receives is counted, by purpose (the
usage records) and on the wire (the fake server's request log). The handoff decision and the
contact extraction run only on their cheap signals: an unhappy message, an email address.
"""

from __future__ import annotations

import collections

import pytest
import sqlalchemy as sa

from tests.assistant.test_end_to_end import ask, open_chat, provider_settings
from tests.fakes.llm_server import FakeLLMServer

SCRIPT = [
    "Hi there",
    "Do you sell office chairs?",
    "What colours do they come in?",
    "Is there a warranty?",
    "How long is delivery to Lyon?",
    "Can I pick them up instead?",
    "What are your opening hours?",
    "Do you have a showroom?",
    "Is parking available?",
    "Do you offer bulk discounts?",
    "How many chairs make a bulk order?",
    "My email is dana@example.com",  # the contact signal: one extraction
    "Do you assemble them?",
    "What does assembly cost?",
    "This is useless, I asked about the price twice",  # the unhappy signal: one decision
    "Can I pay by card?",
    "Do you take returns?",
    "Thanks, that helps",
    "One more: do you ship to Belgium?",
    "Great, bye",
]


@pytest.fixture
def fake():
    server = FakeLLMServer(reply="We can help with that: ask us anything.", chunks=3)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def db_url(sqlite_url):
    return sqlite_url


@pytest.fixture
def openai_primary(ini_settings, fake):
    ini_settings.update(provider_settings("primary", "openai", fake.openai_base_url, "gpt-test"))
    return ini_settings


def test_a_scripted_conversation_costs_one_call_per_message(
    openai_primary, live_server, make_site, fake, run_in_tm, registry
):
    from asthron.assistant.models import UsageRecord

    headers, conversation_id = open_chat(live_server, make_site())
    for text in SCRIPT:
        ask(live_server, headers, conversation_id, text)
    # The after-reply hooks run in the reply pool after the reply is published: wait for them.
    registry["reply_runner"].pool.shutdown(wait=True)

    purposes = collections.Counter(
        run_in_tm(
            lambda db: list(
                db.scalars(
                    sa.select(UsageRecord.purpose).where(
                        UsageRecord.conversation_id == conversation_id
                    )
                )
            )
        )
    )
    assert purposes == {"reply": 20, "extraction": 1, "handoff_decision": 1}
    on_the_wire = fake.bodies("/v1/chat/completions")
    assert len(on_the_wire) == 22
    assert sum(1 for body in on_the_wire if body.get("stream")) == 20


def test_a_reply_that_admits_it_cannot_answer_asks_for_a_decision(
    openai_primary, live_server, make_site, fake, run_in_tm, registry
):
    from asthron.assistant.models import UsageRecord

    fake.reply = "I'm not sure about that, sorry."
    headers, conversation_id = open_chat(live_server, make_site())
    ask(live_server, headers, conversation_id, "Do you repair bicycles?")
    registry["reply_runner"].pool.shutdown(wait=True)
    purposes = run_in_tm(
        lambda db: sorted(
            db.scalars(
                sa.select(UsageRecord.purpose).where(UsageRecord.conversation_id == conversation_id)
            )
        )
    )
    assert purposes == ["handoff_decision", "reply"]

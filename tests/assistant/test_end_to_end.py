"""The assistant end to end: a visitor message over real HTTP, the model behind the real
client library talking to a local fake server, deltas over SSE, one stored reply."""

from __future__ import annotations

import re
import time

import pytest

from tests.conversations.sse import is_message
from tests.fakes.llm_server import FakeLLMServer, closed_port
from tests.fixtures.visitors import ORIGIN

# Some tests here time requests: the client libraries' one-time loading is done beforehand.
pytestmark = pytest.mark.usefixtures("warm_provider_sdks")


@pytest.fixture
def fake():
    server = FakeLLMServer(reply="We are open from nine to five, Monday to Friday.", chunks=5)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def db_url(sqlite_url):
    # These start a real server and provider: once, on SQLite, is enough (the event log and
    # notifier are covered on both databases elsewhere).
    return sqlite_url


def provider_settings(slot, kind, base_url, model, first_token=2.0, total=10.0):
    prefix = f"asthron.ai.{slot}."
    return {
        prefix + "kind": kind,
        prefix + "base_url": base_url,
        prefix + "model": model,
        prefix + "api_key": "sk-test",
        prefix + "first_token_timeout": str(first_token),
        prefix + "total_timeout": str(total),
        prefix + "connect_timeout": "1",
    }


def open_chat(live_server, site):
    status, _, session = live_server.request(
        "POST", "/api/widget/v1/sessions", {"site_key": site["key"]}, {"Origin": ORIGIN}
    )
    assert status == 201
    headers = {"Authorization": f"Bearer {session['visitor_token']}", "Origin": ORIGIN}
    status, _, conversation = live_server.request(
        "POST", "/api/widget/v1/conversations", {}, headers
    )
    return headers, conversation["id"]


def ask(live_server, headers, conversation_id, text="When are you open?"):
    stream = live_server.stream(f"/api/widget/v1/conversations/{conversation_id}/stream", headers)
    assert stream.status == 200
    status, _, _ = live_server.request(
        "POST",
        f"/api/widget/v1/conversations/{conversation_id}/messages",
        {"body": text, "client_id": f"c{time.monotonic_ns()}"},
        headers,
    )
    assert status == 201
    # The stored reply and the runner's "typing off" (published after every delta) may come
    # in either order: the stream reads the stored reply from the event log while live frames
    # wait in its queue (the widget drops deltas of a reply it has already shown). Read both.
    seen = set()

    def both_seen(frame):
        if is_message(frame, "assistant_message"):
            seen.add("reply")
        if frame.event == "typing" and frame.data.get("author") == "assistant":
            seen.add("typing on" if frame.data["active"] else "typing off")
        return {"reply", "typing off"} <= seen

    frames = stream.read_until(both_seen)
    stream.close()
    # The stored reply last, as the tests read it.
    final = [f for f in frames if is_message(f, "assistant_message")][-1]
    return [f for f in frames if f is not final] + [final]


@pytest.fixture
def openai_primary(ini_settings, fake):
    ini_settings.update(provider_settings("primary", "openai", fake.openai_base_url, "gpt-test"))
    return ini_settings


def test_reply_streams_deltas_then_one_stored_event(
    openai_primary, live_server, make_site, fake, run_in_tm
):
    import sqlalchemy as sa

    from asthron.assistant.models import UsageRecord
    from asthron.conversations.models import ConversationEvent

    headers, conversation_id = open_chat(live_server, make_site())
    frames = ask(live_server, headers, conversation_id)
    deltas = [f.data["text"] for f in frames if f.event == "delta"]
    assert len(deltas) >= 2 and "".join(deltas) == fake.reply, [(f.event, f.data) for f in frames]
    final = frames[-1].data
    assert final["body"] == fake.reply and final["author"] == "assistant"
    # What the real OpenAI client sent to the server.
    # (After the reply, non-streamed structured calls follow: the handoff decision and
    # contact extraction. The reply is the streamed one.)
    body = [b for b in fake.bodies("/v1/chat/completions") if b.get("stream")][-1]
    assert body["model"] == "gpt-test"
    fenced = r"<(visitor_message_[0-9a-f]{16})>\nWhen are you open\?\n</\1>"
    assert any(re.fullmatch(fenced, m["content"]) for m in body["messages"])
    stored = run_in_tm(
        lambda db: [
            e.body
            for e in db.scalars(
                sa.select(ConversationEvent).where(ConversationEvent.type == "assistant_message")
            )
        ]
    )
    assert stored == [fake.reply]
    usage = run_in_tm(
        lambda db: [
            (u.provider, u.model, u.input_tokens, u.output_tokens, u.success)
            for u in db.scalars(sa.select(UsageRecord).where(UsageRecord.purpose == "reply"))
        ]
    )
    assert usage == [("openai", "gpt-test", fake.input_tokens, fake.output_tokens, True)]


@pytest.fixture
def dead_primary_ollama_secondary(ini_settings, fake):
    ini_settings.update(
        provider_settings("primary", "openai", f"http://127.0.0.1:{closed_port()}/v1", "gpt-test")
    )
    ini_settings.update(provider_settings("secondary", "ollama", fake.url, "llama-test:latest"))


def test_dead_primary_fails_over_to_ollama_in_bounded_time(
    dead_primary_ollama_secondary, live_server, make_site, fake
):
    headers, conversation_id = open_chat(live_server, make_site())
    started = time.monotonic()
    frames = ask(live_server, headers, conversation_id)
    assert time.monotonic() - started < 8
    assert frames[-1].data["body"] == fake.reply
    assert fake.bodies("/api/chat")[-1]["model"] == "llama-test:latest"


@pytest.fixture
def slow_anthropic(ini_settings, fake):
    ini_settings.update(
        provider_settings("primary", "anthropic", fake.url, "claude-test", first_token=0.5)
    )


def test_slow_first_token_falls_back_to_builtin(slow_anthropic, live_server, make_site, fake):
    fake.scenario, fake.first_token_delay = "slow_first_token", 5
    headers, conversation_id = open_chat(live_server, make_site())
    frames = ask(live_server, headers, conversation_id)
    # The built-in provider's answer: the chain gave up on the model at its first-token
    # timeout instead of waiting the fake's 5 s for a token.
    assert "person on our team" in frames[-1].data["body"]
    assert all(f.data.get("text") not in fake.pieces() for f in frames if f.event == "delta")


def test_stream_cut_midway_is_stored_as_cut_off_with_a_notice(
    openai_primary, live_server, make_site, fake, run_in_tm
):
    from asthron.conversations.models import ConversationEvent

    fake.scenario, fake.good_chunks = "disconnect", 2
    headers, conversation_id = open_chat(live_server, make_site())
    frames = ask(live_server, headers, conversation_id)
    final = frames[-1].data
    assert "cut off" in final["body"] and final["data"].get("cut_off") is True
    assert final["body"].startswith("".join(fake.pieces()[:2]).strip()[:10])
    assert run_in_tm(lambda db: db.get(ConversationEvent, final["id"]).data["cut_off"]) is True


@pytest.mark.parametrize("scenario", ["401", "429", "500", "malformed"])
def test_provider_errors_never_reach_the_visitor_as_errors(
    openai_primary, live_server, make_site, fake, scenario
):
    fake.scenario, fake.good_chunks = scenario, 0
    headers, conversation_id = open_chat(live_server, make_site())
    frames = ask(live_server, headers, conversation_id)
    body = frames[-1].data["body"]
    assert "Traceback" not in body and "401" not in body and "Error" not in body
    assert body  # the built-in provider answered instead

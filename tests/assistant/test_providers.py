"""The three HTTP providers, driven by their real client libraries against local fake servers.

Each test gets its own fake server on 127.0.0.1 (``tests/fakes/llm_server.py``) speaking the
provider's real wire protocol; a provider that is down is a closed port.

Error kinds, as the failover chain sees them:
* before any text reached the caller a failure keeps its own kind (a malformed first chunk is
  ``bad_response``, a dropped connection ``unavailable``, a stall ``timeout``);
* after text reached the caller every failure is ``cut_off`` with ``partial_text``, whatever
  broke (a malformed chunk, a dropped connection, the total timeout): the visitor has already
  seen that text, so the chain keeps it as a cut-off reply instead of silently failing over.
"""

from __future__ import annotations

import email.utils
import time
from types import SimpleNamespace

import pytest

from asthron.assistant.providers._common import parse_retry_after
from asthron.assistant.providers.base import (
    ChatMessage,
    Completion,
    Delta,
    GenerationOptions,
    ProviderError,
    StructuredOutputError,
    Timeouts,
)
from asthron.assistant.providers.factory import (
    ProviderSettings,
    build_provider,
    options_from_config,
)
from tests.fakes.llm_server import FakeLLMServer, closed_port

# Some tests here time requests: the client libraries' one-time loading is done beforehand.
pytestmark = pytest.mark.usefixtures("warm_provider_sdks")

KINDS = ("openai", "ollama", "anthropic")
MODELS = {"openai": "gpt-test", "ollama": "llama-test", "anthropic": "claude-test"}
CHAT_PATHS = {"openai": "/v1/chat/completions", "ollama": "/api/chat", "anthropic": "/v1/messages"}
SLACK = 2.0  # seconds of scheduling slack on top of a configured timeout

CONVERSATION = [
    ChatMessage("system", "You are the assistant of Acme Bakery."),
    ChatMessage("user", "Hi!"),
    ChatMessage("assistant", "Hello, how can I help?"),
    ChatMessage("system", "Reference: we open at nine."),
    ChatMessage("user", "When do you open?"),
]
SYSTEM_TEXT = "You are the assistant of Acme Bakery.\n\nReference: we open at nine."
TURNS = [
    {"role": "user", "content": "Hi!"},
    {"role": "assistant", "content": "Hello, how can I help?"},
    {"role": "user", "content": "When do you open?"},
]
SCHEMA = {
    "type": "object",
    "properties": {
        "intent": {"type": "string", "enum": ["question", "lead"]},
        "score": {"type": "integer"},
    },
    "required": ["intent", "score"],
    "additionalProperties": False,
}


@pytest.fixture
def fake():
    server = FakeLLMServer().start()
    yield server
    server.stop()


def options(
    first_token: float = 5.0,
    total: float = 15.0,
    connect: float = 2.0,
    temperature: float = 0.2,
    max_tokens: int = 321,
) -> GenerationOptions:
    return GenerationOptions(
        temperature=temperature,
        max_tokens=max_tokens,
        timeouts=Timeouts(connect, first_token, total),
    )


def make(kind: str, fake: FakeLLMServer | None = None, **overrides):
    if fake is None:
        base_url = f"http://127.0.0.1:{closed_port()}"
    else:
        base_url = fake.openai_base_url if kind == "openai" else fake.url
    if kind == "openai" and fake is None:
        base_url += "/v1"
    settings = {
        "kind": kind,
        "model": MODELS[kind],
        "base_url": base_url,
        "api_key": "sk-test-123",
        "connect_timeout": 2.0,
        "first_token_timeout": 5.0,
        "total_timeout": 15.0,
        **overrides,
    }
    return build_provider(ProviderSettings(**settings))


def drain(provider, opts=None, messages=CONVERSATION):
    """Run a stream; return (deltas, completion or None, error or None)."""
    deltas, completion, error = [], None, None
    try:
        for item in provider.stream_chat(messages, opts or options()):
            assert completion is None, "nothing may follow the Completion"
            if isinstance(item, Delta):
                deltas.append(item.text)
            else:
                assert isinstance(item, Completion)
                completion = item
    except ProviderError as exc:
        error = exc
    return deltas, completion, error


# --- normal replies and what the model is sent ------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_normal_reply_streams_deltas_then_one_completion_with_usage(kind, fake):
    fake.reply = "We open at nine every weekday, and at ten on Saturdays."
    fake.chunks = 5
    deltas, completion, error = drain(make(kind, fake))
    assert error is None
    assert len(deltas) == 5
    assert "".join(deltas) == completion.text == fake.reply
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (11, 7)
    assert completion.model == MODELS[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_the_server_receives_model_messages_and_settings(kind, fake):
    drain(make(kind, fake), options(temperature=0.2, max_tokens=321))
    request = fake.last(CHAT_PATHS[kind])
    body = request.body
    assert body["model"] == MODELS[kind]
    assert body["stream"] is True
    if kind == "openai":
        assert body["messages"] == [{"role": "system", "content": SYSTEM_TEXT}, *TURNS]
        assert body["temperature"] == 0.2
        assert body["max_tokens"] == 321
        assert body["stream_options"] == {"include_usage": True}
        assert request.headers["authorization"] == "Bearer sk-test-123"
    elif kind == "ollama":
        assert body["messages"] == [{"role": "system", "content": SYSTEM_TEXT}, *TURNS]
        assert body["options"] == {"temperature": 0.2, "num_predict": 321}
        assert "keep_alive" not in body
        assert request.headers["authorization"] == "Bearer sk-test-123"
    else:
        # System content travels in ``system``, never as a message.
        assert body["system"] == SYSTEM_TEXT
        assert body["messages"] == TURNS
        assert body["max_tokens"] == 321
        # The 2.x SDK has no temperature parameter, so none is sent.
        assert "temperature" not in body
        assert "sk-test-123" in (
            request.headers.get("x-api-key", "") + request.headers.get("authorization", "")
        )
        assert "anthropic-version" in request.headers


def test_ollama_sends_keep_alive_and_reads_numeric_strings_as_seconds(fake):
    drain(make("ollama", fake, keep_alive="10m"))
    assert fake.last("/api/chat").body["keep_alive"] == "10m"
    drain(make("ollama", fake, keep_alive="-1"))
    assert fake.last("/api/chat").body["keep_alive"] == -1


def test_openai_uses_max_completion_tokens_on_openais_own_api():
    provider = build_provider(ProviderSettings(kind="openai", model="gpt-x", api_key="k"))
    assert provider.base_url == "https://api.openai.com/v1"
    assert provider._tokens_param == "max_completion_tokens"


# --- timeouts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_slow_first_token_times_out_in_bounded_time(kind, fake):
    fake.scenario, fake.first_token_delay = "slow_first_token", 5.0
    started = time.monotonic()
    deltas, completion, error = drain(make(kind, fake), options(first_token=0.5, total=10))
    elapsed = time.monotonic() - started
    assert error is not None and error.kind == "timeout"
    assert deltas == [] and completion is None and error.partial_text == ""
    assert elapsed < 0.5 + SLACK


@pytest.mark.parametrize("kind", KINDS)
def test_total_timeout_before_the_first_token(kind, fake):
    # The first-token allowance is generous, but the total is smaller and wins.
    fake.scenario, fake.first_token_delay = "slow_first_token", 5.0
    started = time.monotonic()
    _, _, error = drain(make(kind, fake), options(first_token=4.0, total=0.5))
    assert error is not None and error.kind == "timeout"
    assert time.monotonic() - started < 0.5 + SLACK


@pytest.mark.parametrize("kind", KINDS)
def test_total_timeout_between_chunks_cuts_the_reply_off(kind, fake):
    # Every chunk arrives within the first-token timeout, but the whole takes too long.
    fake.reply, fake.chunks, fake.chunk_delay = "one two three four five six", 6, 0.25
    started = time.monotonic()
    deltas, completion, error = drain(make(kind, fake), options(first_token=2.0, total=0.6))
    assert completion is None
    assert error is not None and error.kind == "cut_off"
    assert "timeout" in error.message
    assert error.partial_text == "".join(deltas) != ""
    assert fake.reply.startswith(error.partial_text)
    assert time.monotonic() - started < 0.6 + 2.0 + SLACK


# --- broken streams ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_disconnect_mid_stream_is_cut_off_with_the_partial_text(kind, fake):
    fake.scenario, fake.chunks, fake.good_chunks = "disconnect", 4, 2
    deltas, completion, error = drain(make(kind, fake))
    assert completion is None
    assert error is not None and error.kind == "cut_off"
    assert error.partial_text == "".join(fake.pieces()[:2]) == "".join(deltas)


@pytest.mark.parametrize("kind", KINDS)
def test_disconnect_before_any_text_is_unavailable(kind, fake):
    fake.scenario, fake.good_chunks = "disconnect", 0
    deltas, _, error = drain(make(kind, fake))
    assert deltas == []
    assert error is not None and error.kind == "unavailable"


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_first_chunk_is_bad_response(kind, fake):
    fake.scenario, fake.good_chunks = "malformed", 0
    deltas, completion, error = drain(make(kind, fake))
    assert deltas == [] and completion is None
    assert error is not None and error.kind == "bad_response"


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_chunk_after_text_is_cut_off(kind, fake):
    fake.scenario, fake.chunks, fake.good_chunks = "malformed", 4, 1
    deltas, completion, error = drain(make(kind, fake))
    assert completion is None
    assert error is not None and error.kind == "cut_off"
    assert "bad_response" in error.message
    assert error.partial_text == fake.pieces()[0] == "".join(deltas)


# --- HTTP errors and a server that is down ----------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_401_is_auth(kind, fake):
    fake.scenario = "401"
    _, _, error = drain(make(kind, fake))
    assert error is not None and error.kind == "auth" and error.retry_after is None


@pytest.mark.parametrize("kind", KINDS)
def test_429_is_rate_limit_with_retry_after(kind, fake):
    fake.scenario = "429"
    _, _, error = drain(make(kind, fake))
    assert error is not None and error.kind == "rate_limit"
    assert error.retry_after == 7
    # No retries inside the SDK: the chain decides.
    assert len(fake.bodies(CHAT_PATHS[kind])) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_500_is_unavailable(kind, fake):
    fake.scenario = "500"
    _, _, error = drain(make(kind, fake))
    assert error is not None and error.kind == "unavailable"
    assert len(fake.bodies(CHAT_PATHS[kind])) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_down_provider_is_unavailable(kind):
    provider = make(kind, None)
    started = time.monotonic()
    _, _, error = drain(provider)
    assert error is not None and error.kind == "unavailable"
    assert time.monotonic() - started < 2.0 + SLACK
    with pytest.raises(ProviderError) as caught:
        provider.list_models()
    assert caught.value.kind == "unavailable"
    with pytest.raises(ProviderError) as caught:
        provider.structured([ChatMessage("user", "hi")], SCHEMA, options())
    assert caught.value.kind == "unavailable"
    health = provider.health()
    assert health.ok is False and "unavailable" in health.detail


# --- structured output ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_structured_output_returns_the_validated_object(kind, fake):
    fake.reply = '{"intent": "lead", "score": 4}'
    messages = [ChatMessage("system", "Classify the message."), ChatMessage("user", "Call me")]
    assert make(kind, fake).structured(messages, SCHEMA, options()) == {
        "intent": "lead",
        "score": 4,
    }
    body = fake.last(CHAT_PATHS[kind]).body
    if kind == "openai":
        assert body["stream"] is False
        assert body["response_format"]["type"] == "json_schema"
        assert body["response_format"]["json_schema"]["schema"] == SCHEMA
        system = body["messages"][0]
    elif kind == "ollama":
        assert body["stream"] is False
        assert body["format"] == SCHEMA
        system = body["messages"][0]
    else:
        # No native JSON mode used: the schema is asked for in the system prompt.
        assert body["stream"] is True
        system = {"role": "system", "content": body["system"]}
    assert system["role"] == "system"
    assert system["content"].startswith("Classify the message.")
    assert '"enum": ["question", "lead"]' in system["content"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "reply",
    [
        "Sure! The intent is a lead.",  # no JSON at all
        '{"intent": "lead", "score": ',  # broken JSON
        '{"intent": "order", "score": 4}',  # valid JSON, not the schema
        '{"intent": "lead", "score": "high"}',
    ],
)
def test_structured_output_that_is_not_valid_raises(kind, reply, fake):
    fake.reply = reply
    with pytest.raises(StructuredOutputError):
        make(kind, fake).structured([ChatMessage("user", "Call me")], SCHEMA, options())


def test_openai_falls_back_to_json_object_when_json_schema_is_refused(fake):
    fake.reject_json_schema = True
    fake.reply = '{"intent": "question", "score": 1}'
    result = make("openai", fake).structured([ChatMessage("user", "hi")], SCHEMA, options())
    assert result == {"intent": "question", "score": 1}
    formats = [b["response_format"]["type"] for b in fake.bodies("/v1/chat/completions")]
    assert formats == ["json_schema", "json_object"]


@pytest.mark.parametrize("kind", KINDS)
def test_structured_output_maps_http_errors(kind, fake):
    fake.scenario = "429"
    with pytest.raises(ProviderError) as caught:
        make(kind, fake).structured([ChatMessage("user", "hi")], SCHEMA, options())
    assert caught.value.kind == "rate_limit" and caught.value.retry_after == 7


# --- health and models ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_health_and_list_models(kind, fake):
    provider = make(kind, fake)
    expected = {
        "openai": ["gpt-test", "other-model"],
        "ollama": ["llama-test:latest", "qwen:7b"],
        "anthropic": ["claude-other", "claude-test"],
    }[kind]
    assert provider.list_models() == expected
    health = provider.health()
    assert health.ok is True and health.latency_ms >= 0
    assert health.detail == "ok, 2 models"


@pytest.mark.parametrize("kind", KINDS)
def test_health_fails_on_a_rejected_key(kind, fake):
    fake.scenario = "401"
    health = make(kind, fake).health()
    assert health.ok is False and health.detail.startswith("auth")


def test_ollama_health_fails_when_the_model_is_not_pulled(fake):
    health = make("ollama", fake, model="mistral").health()
    assert health.ok is False and "not pulled" in health.detail


def test_openai_health_notes_a_model_missing_from_the_list(fake):
    health = make("openai", fake, model="gpt-unknown").health()
    assert health.ok is True and "not in its list" in health.detail


# --- factory ----------------------------------------------------------------------------------


def test_factory_builds_each_kind_from_any_config_object():
    for kind in KINDS:
        config = SimpleNamespace(
            kind=kind,
            base_url="",
            model="m",
            api_key=None,
            temperature=0.7,
            max_tokens=99,
            connect_timeout=1.0,
            first_token_timeout=2.0,
            total_timeout=3.0,
            keep_alive=None,
        )
        provider = build_provider(config)
        assert (provider.kind, provider.model) == (kind, "m")
        assert provider.defaults == GenerationOptions(0.7, 99, Timeouts(1.0, 2.0, 3.0))


def test_factory_normalises_base_urls():
    anthropic = build_provider(ProviderSettings("anthropic", "c", "https://example.test/v1/"))
    assert anthropic.base_url == "https://example.test"
    ollama = build_provider(ProviderSettings("ollama", "l", "http://gpu.local:11434/api"))
    assert ollama.host == "http://gpu.local:11434"


@pytest.mark.parametrize(
    "config",
    [
        ProviderSettings(kind="cohere", model="x"),
        ProviderSettings(kind="openai", model=""),
    ],
)
def test_factory_rejects_bad_configuration(config):
    with pytest.raises(ProviderError) as caught:
        build_provider(config)
    assert caught.value.kind == "bad_request"


def test_options_from_config_fills_defaults():
    assert options_from_config(SimpleNamespace(temperature=0.1)) == GenerationOptions(
        temperature=0.1
    )


def test_settings_repr_hides_the_key():
    assert "sk-secret" not in repr(ProviderSettings("openai", "m", api_key="sk-secret"))


def test_retry_after_forms():
    assert parse_retry_after({"retry-after": "7"}) == 7
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after({"retry-after": later}) <= 31
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


@pytest.mark.parametrize("kind", KINDS)
def test_structured_output_times_out_within_the_total(kind, fake):
    # Not streamed for OpenAI and Ollama: the wait is before the response headers.
    fake.scenario, fake.first_token_delay = "slow_first_token", 5.0
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        make(kind, fake).structured(
            [ChatMessage("user", "hi")], SCHEMA, options(first_token=0.5, total=0.5)
        )
    assert caught.value.kind == "timeout"
    assert time.monotonic() - started < 0.5 + SLACK

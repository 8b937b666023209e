"""OpenAI-compatible chat completions through the official ``openai`` SDK.

The same code talks to OpenAI and to everything that speaks its wire protocol at another base
URL: vLLM, the llama.cpp server, LM Studio, Groq, Together, OpenRouter, Ollama's /v1. The SDK
never retries (``max_retries=0``): the failover chain decides what happens after a failure.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

import httpx2
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from asthron.assistant.providers._common import (
    BodyDeadline,
    StreamState,
    as_dicts,
    listed_model_health,
    read_timeout,
    split_system,
)
from asthron.assistant.providers._common import (
    http_timeout as _timeout,
)
from asthron.assistant.providers.base import (
    ChatMessage,
    Completion,
    Delta,
    GenerationOptions,
    HealthResult,
    ProviderError,
    StreamItem,
    reported_tokens,
    request_hooks,
    validate_structured,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Local servers (llama.cpp, vLLM without --api-key, LM Studio) need no key, but the SDK
# refuses to start without one; this placeholder is sent instead and ignored by them.
NO_KEY = "no-key"


class OpenAICompatProvider:
    kind = "openai"

    def __init__(
        self,
        model: str,
        base_url: str = "",
        api_key: str | None = None,
        defaults: GenerationOptions | None = None,
        ssrf_allowlist: Iterable[str] | None = None,
    ):
        """``ssrf_allowlist``: for a base URL typed in the dashboard, connect only to checked
        addresses (see ``base.request_hooks``)."""
        self.model = model
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.defaults = defaults or GenerationOptions()
        # OpenAI's own API takes max_completion_tokens (newer models refuse max_tokens);
        # the compatible servers take max_tokens.
        host = (urlsplit(self.base_url).hostname or "").lower()
        self._tokens_param = "max_completion_tokens" if host == "api.openai.com" else "max_tokens"
        timeouts = self.defaults.timeouts
        self._body_deadline = BodyDeadline(httpx2)
        try:
            timeout = _timeout(timeouts.connect, read_timeout(timeouts))
            self._client = openai.OpenAI(
                api_key=api_key or NO_KEY,
                base_url=self.base_url,
                max_retries=0,
                timeout=timeout,
                # The SDK follows redirects by default; a redirect could lead a checked public
                # base URL to a private address (SSRF), so none are followed.
                http_client=openai.DefaultHttpxClient(
                    timeout=timeout,
                    follow_redirects=False,
                    event_hooks={
                        "request": request_hooks(ssrf_allowlist),
                        "response": [self._body_deadline],
                    },
                ),
            )
        except Exception as exc:
            message = f"{self.kind}: invalid configuration: {exc}"
            raise ProviderError("bad_request", message) from None

    # --- chat -------------------------------------------------------------------------------

    def stream_chat(
        self,
        messages: list[ChatMessage],
        options: GenerationOptions | None = None,
        grounding: object = None,
    ) -> Iterator[StreamItem]:
        # ``grounding`` is for the built-in provider; the prompt already carries the passages.
        options = options or self.defaults
        state = StreamState(self.kind, options.timeouts)
        stream = None
        try:
            try:
                stream = self._post_stream(
                    {
                        "model": self.model,
                        "messages": as_dicts(messages),
                        "temperature": options.temperature,
                        "stream": True,
                        "stream_options": {"include_usage": True},
                        self._tokens_param: options.max_tokens,
                    },
                    _timeout(options.timeouts.connect, read_timeout(options.timeouts)),
                )
            except Exception as exc:  # every library failure becomes a ProviderError
                raise _map_error(exc, state) from None
            finish_reason = usage_seen = False
            iterator = iter(stream)
            while True:
                try:
                    chunk = next(iterator)
                except StopIteration:
                    break
                except Exception as exc:
                    if finish_reason:
                        break  # the reply was complete; only the trailing usage/[DONE] broke
                    raise _map_error(exc, state) from None
                state.check_deadline()
                try:
                    text, finished_here, usage_here = _read_chunk(chunk, state)
                except Exception as exc:
                    raise state.error("bad_response", f"malformed stream chunk: {exc}") from None
                finish_reason = finish_reason or finished_here
                usage_seen = usage_seen or usage_here
                if text:
                    state.add(text)
                    yield Delta(text)
            if not (finish_reason or usage_seen):
                # The body ended without a finish reason or usage: the server stopped midway.
                raise state.error("bad_response", "the stream ended before the reply was complete")
            yield Completion(
                state.text,
                state.usage(messages),
                state.model or self.model,
            )
        finally:
            if stream is not None:
                with contextlib.suppress(Exception):  # a broken stream may fail to close
                    stream.close()

    def _post_stream(self, body: dict, timeout) -> openai.Stream:
        """``chat.completions.create(stream=True)`` without its parameter transform: the body
        is already plain JSON (strings, numbers, dicts), and the transform, walking the whole
        prompt, is the costliest step before the request is sent, which is where the
        visitor's time to first token is spent. The same client, path, auth and stream
        class as ``create``."""
        return self._client.post(
            "/chat/completions",
            body=body,
            options={"timeout": timeout, "security": {"bearer_auth": True}},
            cast_to=ChatCompletion,
            stream=True,
            stream_cls=openai.Stream[ChatCompletionChunk],
        )

    # --- structured output ------------------------------------------------------------------

    def structured(
        self, messages: list[ChatMessage], schema: dict, options: GenerationOptions | None = None
    ) -> dict:
        """Native JSON mode: ``json_schema`` first, ``json_object`` where that is refused."""
        options = options or self.defaults
        system, rest = split_system(messages)
        instruction = (
            "Answer with one JSON object only, no prose, matching this JSON schema:\n"
            + json.dumps(schema)
        )
        system = f"{system}\n\n{instruction}" if system else instruction
        payload = [ChatMessage("system", system), *rest]
        formats = [
            {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": schema, "strict": False},
            },
            {"type": "json_object"},
        ]
        try:
            text = self._complete(payload, options, formats[0])
        except ProviderError as exc:
            # A server without json_schema support answers 400: ask for plain JSON mode once.
            if exc.kind != "bad_request":
                raise
            text = self._complete(payload, options, formats[1])
        return validate_structured(text, schema)

    def _complete(
        self, messages: list[ChatMessage], options: GenerationOptions, response_format: dict
    ) -> str:
        """One non-streamed completion; the whole reply comes at once, so read waits the total."""
        state = StreamState(self.kind, options.timeouts)
        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=as_dicts(messages),
                temperature=options.temperature,
                stream=False,
                response_format=response_format,
                timeout=_timeout(options.timeouts.connect, options.timeouts.total),
                **{self._tokens_param: options.max_tokens},
            )
        except Exception as exc:
            raise _map_error(exc, state) from None
        try:
            return response.choices[0].message.content or ""
        except Exception as exc:
            raise ProviderError("bad_response", f"{self.kind}: malformed reply: {exc}") from None

    # --- embeddings (dense retrieval) --------------------------------------------------------

    def embed(self, texts: list[str], model: str, timeouts=None) -> list[list[float]]:
        """One vector per text from ``/embeddings`` (``model``: the embedding model)."""
        return self.embed_with_usage(texts, model, timeouts)[0]

    def embed_with_usage(
        self, texts: list[str], model: str, timeouts=None
    ) -> tuple[list[list[float]], int | None]:
        """The vectors, and the input tokens the provider counted (None: not said)."""
        timeouts = timeouts or self.defaults.timeouts
        state = StreamState(self.kind, timeouts)
        try:
            with self._body_deadline.until(state.deadline):
                response = self._client.embeddings.create(
                    model=model,
                    input=list(texts),
                    encoding_format="float",
                    timeout=_timeout(timeouts.connect, timeouts.total),
                )
            rows = sorted(response.data, key=lambda row: row.index)
            vectors = [[float(x) for x in row.embedding] for row in rows]
            tokens = getattr(getattr(response, "usage", None), "prompt_tokens", None)
        except Exception as exc:
            raise _map_error(exc, state) from None
        if len(vectors) != len(texts):
            raise ProviderError("bad_response", f"{self.kind}: wrong number of embeddings")
        return vectors, reported_tokens(tokens)

    # --- health and models ------------------------------------------------------------------

    def list_models(self) -> list[str]:
        state = StreamState(self.kind, self.defaults.timeouts)
        timeouts = self.defaults.timeouts
        try:
            page = self._client.models.list(
                timeout=_timeout(timeouts.connect, read_timeout(timeouts))
            )
            return sorted({str(model.id) for model in page.data if getattr(model, "id", None)})
        except Exception as exc:
            raise _map_error(exc, state) from None

    def health(self) -> HealthResult:
        return listed_model_health(self)

    def close(self) -> None:
        self._client.close()


def _read_chunk(chunk, state: StreamState) -> tuple[str, bool, bool]:
    """The text in one chunk, whether it has a finish reason, and whether it has the usage."""
    finished = has_usage = False
    if getattr(chunk, "model", None):
        state.model = str(chunk.model)
    usage = getattr(chunk, "usage", None)
    if usage is not None:
        state.input_tokens = usage.prompt_tokens or 0
        state.output_tokens = usage.completion_tokens or 0
        has_usage = True
    text = ""
    choices = chunk.choices or []
    if not isinstance(choices, list):
        raise TypeError("choices is not a list")
    for choice in choices[:1]:
        delta = choice.delta
        content = getattr(delta, "content", None) if delta is not None else None
        if content is not None and not isinstance(content, str):
            raise TypeError("delta content is not text")
        text = content or ""
        if choice.finish_reason:
            finished = True
    return text, finished, has_usage


def _map_error(exc: BaseException, state: StreamState) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        return state.from_status(exc.status_code, _message(exc), exc.response.headers)
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return state.error("timeout", "the server did not answer in time")
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError | OSError):
        cause = exc.__cause__ or exc
        if state.parts:
            return state.error("unavailable", f"the connection broke: {cause}")
        return state.error("unavailable", f"cannot reach the server: {cause}")
    if isinstance(exc, ValueError | openai.APIResponseValidationError):
        return state.error("bad_response", f"malformed response: {exc}")
    if isinstance(exc, openai.APIError):
        # An error event inside the stream.
        return state.error("unavailable", f"the server reported an error: {exc}")
    return state.error("bad_response", f"unexpected failure: {type(exc).__name__}: {exc}")


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return exc.message

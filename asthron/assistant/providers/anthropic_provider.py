"""Anthropic's Messages API through the official ``anthropic`` SDK.

System messages go in the ``system`` parameter; the reply streams as server-sent events
(``message_start`` carries the input tokens, ``message_delta`` the output tokens). The 2.x SDK
has no ``temperature`` parameter, so none is sent. Structured output asks for JSON in the prompt
and validates it (``base.structured_via_chat``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import anthropic
import httpx2

from asthron.assistant.providers._common import (
    StreamState,
    listed_model_health,
    read_timeout,
    split_system,
)
from asthron.assistant.providers._common import http_timeout as _timeout
from asthron.assistant.providers.base import (
    ChatMessage,
    Completion,
    Delta,
    ErrorKind,
    GenerationOptions,
    HealthResult,
    ProviderError,
    StreamItem,
    reported_tokens,
    request_hooks,
    structured_via_chat,
)

DEFAULT_BASE_URL = "https://api.anthropic.com"


class AnthropicProvider:
    kind = "anthropic"

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
        # The SDK adds /v1/...; a pasted ".../v1" would double it.
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/").removesuffix("/v1")
        self.defaults = defaults or GenerationOptions()
        timeouts = self.defaults.timeouts
        try:
            timeout = _timeout(timeouts.connect, read_timeout(timeouts))
            self._client = anthropic.Anthropic(
                # An explicit key (even empty) keeps the SDK from reading credentials from the
                # environment or a profile on disk: the configured key is the only one used.
                api_key=api_key or "",
                base_url=self.base_url,
                max_retries=0,
                timeout=timeout,
                # No redirects: one could lead a checked public base URL to a private address.
                http_client=anthropic.DefaultHttpxClient(
                    timeout=timeout,
                    follow_redirects=False,
                    event_hooks={"request": request_hooks(ssrf_allowlist)},
                ),
                # No tracing spans: they could carry visitors' messages elsewhere.
                open_telemetry=False,
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
        system, rest = split_system(messages)
        extra = {"system": system} if system else {}
        stream = None
        try:
            try:
                stream = self._client.messages.create(
                    model=self.model,
                    max_tokens=options.max_tokens,
                    messages=[{"role": m.role, "content": m.content} for m in rest],
                    stream=True,
                    timeout=_timeout(options.timeouts.connect, read_timeout(options.timeouts)),
                    **extra,
                )
            except Exception as exc:
                raise _map_error(exc, state) from None
            finished = False
            iterator = iter(stream)
            while True:
                try:
                    event = next(iterator)
                except StopIteration:
                    break
                except Exception as exc:
                    raise _map_error(exc, state) from None
                state.check_deadline()
                try:
                    text, done = _read_event(event, state)
                except Exception as exc:
                    raise state.error("bad_response", f"malformed stream event: {exc}") from None
                if text:
                    state.add(text)
                    yield Delta(text)
                if done:
                    finished = True
                    break
            if not finished:
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

    # --- structured output ------------------------------------------------------------------

    def structured(
        self, messages: list[ChatMessage], schema: dict, options: GenerationOptions | None = None
    ) -> dict:
        return structured_via_chat(self, messages, schema, options or self.defaults)

    # --- health and models ------------------------------------------------------------------

    def list_models(self) -> list[str]:
        state = StreamState(self.kind, self.defaults.timeouts)
        timeouts = self.defaults.timeouts
        try:
            page = self._client.models.list(
                limit=1000, timeout=_timeout(timeouts.connect, read_timeout(timeouts))
            )
            return sorted({str(m.id) for m in page.data if getattr(m, "id", None)})
        except Exception as exc:
            raise _map_error(exc, state) from None

    def health(self) -> HealthResult:
        return listed_model_health(self)

    def close(self) -> None:
        self._client.close()


def _read_event(event, state: StreamState) -> tuple[str, bool]:
    """The text in one event and whether it ends the message."""
    kind = event.type
    if kind == "message_start":
        message = event.message
        if getattr(message, "model", None):
            state.model = str(message.model)
        usage = getattr(message, "usage", None)
        if usage is not None:
            state.input_tokens = _input_tokens(usage)
            state.output_tokens = getattr(usage, "output_tokens", 0) or 0
    elif kind == "content_block_delta":
        delta = event.delta
        if delta.type == "text_delta":
            if not isinstance(delta.text, str):
                raise TypeError("text_delta without text")
            return delta.text, False
    elif kind == "message_delta":
        usage = event.usage
        if usage is not None:
            # Cumulative counts; input only when the API repeats it here.
            state.output_tokens = usage.output_tokens or 0
            if getattr(usage, "input_tokens", None):
                state.input_tokens = _input_tokens(usage)
    elif kind == "message_stop":
        return "", True
    return "", False


def _input_tokens(usage) -> int | None:
    """None when one of the counts is not believable (``StreamState.usage`` then estimates)."""
    # Cached prompt tokens are reported apart from input_tokens; all of them were read.
    counts = [
        reported_tokens(getattr(usage, name, 0) or 0)
        for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    return None if None in counts else sum(counts)


def _map_error(exc: BaseException, state: StreamState) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, anthropic.APIStatusError):
        if exc.status_code < 400:
            # An ``event: error`` inside a 200 stream (overloaded_error, api_error, …).
            return state.error(_event_error_kind(exc.body), f"stream error: {_message(exc)}")
        return state.from_status(exc.status_code, _message(exc), exc.response.headers)
    if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
        return state.error("timeout", "the server did not answer in time")
    if isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError | OSError):
        cause = exc.__cause__ or exc
        if state.parts:
            return state.error("unavailable", f"the connection broke: {cause}")
        return state.error("unavailable", f"cannot reach the server: {cause}")
    if isinstance(exc, ValueError | anthropic.APIResponseValidationError):
        return state.error("bad_response", f"malformed response: {exc}")
    if isinstance(exc, anthropic.APIError):
        return state.error("unavailable", f"the server reported an error: {exc}")
    if isinstance(exc, TypeError):
        # The SDK raises TypeError when it cannot resolve any credentials.
        return state.error("auth", f"no usable API key: {exc}")
    return state.error("bad_response", f"unexpected failure: {type(exc).__name__}: {exc}")


def _event_error_kind(body: object) -> ErrorKind:
    error = body.get("error", body) if isinstance(body, dict) else None
    error_type = error.get("type") if isinstance(error, dict) else None
    return {
        "rate_limit_error": "rate_limit",
        "authentication_error": "auth",
        "permission_error": "auth",
        "invalid_request_error": "bad_request",
        "timeout_error": "timeout",
    }.get(str(error_type), "unavailable")


def _message(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return exc.message

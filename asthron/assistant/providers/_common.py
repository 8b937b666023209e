"""Helpers the three HTTP providers share: error kinds, Retry-After, system prompts, deadlines."""

from __future__ import annotations

import contextlib
import email.utils
import threading
import time
from collections.abc import Iterable, Iterator, Mapping

from asthron.assistant.providers.base import (
    ChatMessage,
    ErrorKind,
    ProviderError,
    Timeouts,
    Usage,
    estimated_tokens,
    reported_tokens,
    timed_health,
)


def kind_for_status(status: int) -> ErrorKind:
    """The error kind for an HTTP status from a model API."""
    if status in (401, 403):
        return "auth"
    if status == 429:
        return "rate_limit"
    if status == 408:
        return "timeout"
    if status >= 500:
        # 500, 502, 503, 504, 529 (overloaded): the provider is not serving now; fail over.
        return "unavailable"
    # 400, 404 (unknown model), 413, 422 …: what we sent is wrong for this provider.
    return "bad_request"


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(float(value) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(when.timestamp() - time.time(), 0.0)


def status_error(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> ProviderError:
    kind = kind_for_status(status)
    retry_after = parse_retry_after(headers) if kind in ("rate_limit", "unavailable") else None
    return ProviderError(kind, f"HTTP {status}: {_short(message)}", retry_after=retry_after)


def _short(message: object, limit: int = 300) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def split_system(messages: Iterable[ChatMessage]) -> tuple[str, list[ChatMessage]]:
    """All system content joined into one text, and the other messages.

    One leading system prompt is what every chat template accepts; several, or one in the
    middle of the conversation, make some servers (vLLM with Mistral templates) refuse.
    """
    system_parts: list[str] = []
    rest: list[ChatMessage] = []
    for message in messages:
        if message.role == "system":
            if message.content.strip():
                system_parts.append(message.content.strip())
        else:
            rest.append(message)
    return "\n\n".join(system_parts), rest


def as_dicts(messages: Iterable[ChatMessage]) -> list[dict[str, str]]:
    """Messages in the common ``{"role", "content"}`` shape with one leading system message."""
    system, rest = split_system(messages)
    out = [{"role": "system", "content": system}] if system else []
    out.extend({"role": m.role, "content": m.content} for m in rest)
    return out


def read_timeout(timeouts: Timeouts) -> float:
    """How long one read may block: the first-token wait, never beyond the total."""
    return max(min(timeouts.first_token, timeouts.total), 0.001)


class StreamState:
    """What a stream has produced so far, and its deadline.

    Every failure goes through :meth:`error`: before any text it keeps its own kind; once text
    has reached the caller it becomes ``cut_off`` carrying that text, because the visitor has
    already seen it and a silent failover would repeat or contradict it.
    """

    def __init__(self, provider: str, timeouts: Timeouts):
        self.provider = provider
        self.total = timeouts.total
        self.deadline = time.monotonic() + timeouts.total
        self.parts: list[str] = []
        # As the provider reported them, unchecked: ``usage`` decides whether to believe them.
        self.input_tokens: object = 0
        self.output_tokens: object = 0
        self.model = ""

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def add(self, text: str) -> None:
        self.parts.append(text)

    def usage(self, messages: Iterable[ChatMessage]) -> Usage:
        """The tokens the provider counted, each replaced by an estimate from the text where
        the count is not believable (``reported_tokens``)."""
        input_tokens = reported_tokens(self.input_tokens)
        if input_tokens is None:
            input_tokens = estimated_tokens(sum(len(m.content) for m in messages))
        output_tokens = reported_tokens(self.output_tokens)
        if output_tokens is None:
            output_tokens = estimated_tokens(len(self.text))
        return Usage(input_tokens, output_tokens)

    def error(
        self, kind: ErrorKind, message: str, retry_after: float | None = None
    ) -> ProviderError:
        message = f"{self.provider}: {_short(message)}"
        if self.parts:
            return ProviderError(
                "cut_off", f"reply cut off ({kind}): {message}", partial_text=self.text
            )
        return ProviderError(kind, message, retry_after=retry_after)

    def from_status(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> ProviderError:
        err = status_error(status, message, headers)
        return self.error(err.kind, err.message, err.retry_after)

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise self.error(
                "timeout", f"no complete reply within the total timeout of {self.total:g} s"
            )

    def remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.001)


class BodyDeadline:
    """An httpx ``response`` event hook that bounds how long the body of a call made in
    ``until(deadline)`` may take to arrive, in this thread.

    httpx's read timeout bounds each read, not their sum: a server sending one byte every few
    milliseconds held a call for as long as it liked. Past the deadline the body's next piece
    fails with the library's own ``ReadTimeout`` (which the SDKs and ``_map_error`` take for a
    timeout) and httpx closes the connection, so the call ends instead of reading on.
    ``httpx_module`` is the httpx the client is built on (the OpenAI SDK's is ``httpx2``).
    """

    def __init__(self, httpx_module):
        self._httpx = httpx_module
        self._local = threading.local()

    @contextlib.contextmanager
    def until(self, deadline: float) -> Iterator[None]:
        """``deadline``: a ``time.monotonic()`` value."""
        self._local.deadline = deadline
        try:
            yield
        finally:
            self._local.deadline = None

    def __call__(self, response) -> None:
        deadline = getattr(self._local, "deadline", None)
        if deadline is not None:
            response.stream = self._bounded(response.stream, deadline)

    def _bounded(self, body, deadline: float):
        httpx = self._httpx

        class BodyUntilDeadline(httpx.SyncByteStream):
            def __iter__(self) -> Iterator[bytes]:
                for piece in body:
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("the body did not arrive within the total timeout")
                    yield piece

            def close(self) -> None:
                body.close()

        return BodyUntilDeadline()


def http_timeout(connect: float, read: float):
    """The httpx timeout the OpenAI and Anthropic SDKs take: connect, then per-read."""
    import httpx2

    return httpx2.Timeout(connect=connect, read=read, write=max(connect, 10.0), pool=connect)


def listed_model_health(provider):
    """Healthy when the model list answers; says so when the configured model is missing."""

    def check() -> str:
        models = provider.list_models()
        if models and provider.model not in models:
            return f"reachable; model {provider.model!r} is not in its list of {len(models)}"
        return f"ok, {len(models)} models"

    return timed_health(check)

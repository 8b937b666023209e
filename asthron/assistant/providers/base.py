"""The provider interface: one small surface every AI backend implements.

A provider streams a chat completion (text deltas, then the final text with token usage),
produces structured output validated against a JSON schema, checks its health and lists its
models. Errors are ``ProviderError`` with a kind the failover chain can act on.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from asthron.security.ssrf import SSRFError, check_host

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


# The most tokens one call is believed to have read or written. A count the provider reports
# outside 0..this is not stored: 2**64 overflowed the usage column (the visitor's message
# failed with it) and a negative count made a negative cost, lowering the month's spend.
MAX_REPORTED_TOKENS = 10_000_000


def reported_tokens(count: object) -> int | None:
    """A provider's own token count when it is a believable one, else None."""
    if isinstance(count, bool) or not isinstance(count, int):
        return None
    return count if 0 <= count <= MAX_REPORTED_TOKENS else None


def estimated_tokens(characters: int) -> int:
    """Tokens for a text of this length where the provider's count is missing or not
    believed: about four characters a token."""
    return characters // 4


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage = field(default_factory=Usage)
    model: str = ""


StreamItem = Delta | Completion


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    first_token: float = 20.0
    total: float = 90.0


@dataclass(frozen=True)
class GenerationOptions:
    temperature: float = 0.3
    max_tokens: int = 600
    timeouts: Timeouts = field(default_factory=Timeouts)


ErrorKind = Literal[
    "auth",
    "rate_limit",
    "timeout",
    "unavailable",
    "bad_response",
    "bad_request",
    "cut_off",
    "cancelled",
]


class ProviderError(Exception):
    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        retry_after: float | None = None,
        partial_text: str = "",
    ):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
        # What had streamed before a failure midway, so it can be kept as a cut-off reply.
        self.partial_text = partial_text

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class StructuredOutputError(ProviderError):
    def __init__(self, message: str):
        super().__init__("bad_response", message)


@dataclass(frozen=True)
class HealthResult:
    ok: bool
    latency_ms: float
    detail: str = ""


class Provider(Protocol):
    kind: str
    model: str

    def stream_chat(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> Iterator[StreamItem]:
        """Yield Delta items as text arrives, then exactly one Completion."""

    def structured(
        self, messages: list[ChatMessage], schema: dict, options: GenerationOptions
    ) -> dict:
        """Return a JSON object valid against ``schema`` or raise StructuredOutputError."""

    def health(self) -> HealthResult: ...

    def list_models(self) -> list[str]: ...


def validate_structured(text: str, schema: dict) -> dict:
    """Parse model output as JSON and validate it; nothing acts on unvalidated output."""
    import jsonschema

    text = text.strip()
    if text.startswith("```"):
        # Models often fence JSON; take what is inside the fence.
        text = text.strip("`")
        text = text[text.find("{") :] if "{" in text else text
    start, end = text.find("{"), text.rfind("}")
    if start == -1 or end == -1:
        raise StructuredOutputError("the model did not return a JSON object")
    try:
        data = json.loads(text[start : end + 1])
    except ValueError as exc:
        raise StructuredOutputError(f"the model returned invalid JSON: {exc}") from None
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as exc:
        raise StructuredOutputError(
            f"the model's JSON does not match the schema: {exc.message}"
        ) from None
    return data


def structured_via_chat(provider, messages, schema, options) -> dict:
    """Structured output for providers without a native JSON mode: ask, then validate."""
    instruction = ChatMessage(
        "system",
        "Answer with one JSON object only, no prose, matching this JSON schema:\n"
        + json.dumps(schema),
    )
    text = ""
    for item in provider.stream_chat([*messages, instruction], options):
        if isinstance(item, Completion):
            text = item.text
    return validate_structured(text, schema)


def timed_health(func) -> HealthResult:
    started = time.perf_counter()
    try:
        detail = func()
    except ProviderError as exc:
        return HealthResult(False, (time.perf_counter() - started) * 1000, str(exc))
    return HealthResult(True, (time.perf_counter() - started) * 1000, detail or "ok")


# -- "the request is sent" -------------------------------------------------------------------

_request_watch = threading.local()
_SENT_EVENTS = ("send_request_body.complete", "send_request_body.failed")


def report_request_sent(request) -> None:
    """An httpx ``request`` event hook for the providers' clients. When a stream in this
    thread is watching (``watching_requests``), it asks the transport, through httpx's
    ``trace`` request extension, to say when the request's body has been written.

    The reply runner waits for that before it commits and answers the visitor's POST: on a
    small machine both would otherwise share one interpreter lock while the SDK builds and
    sends the request that decides the time to first token.
    """
    callback = getattr(_request_watch, "callback", None)
    if callback is None:
        return
    previous = request.extensions.get("trace")

    def trace(name: str, info: dict) -> None:
        if previous is not None:
            previous(name, info)
        if name.endswith(_SENT_EVENTS):
            callback()

    request.extensions["trace"] = trace


@contextlib.contextmanager
def watching_requests(callback: Callable[[], None]):
    """Call ``callback`` when a provider call made in this thread has sent its request."""
    _request_watch.callback = callback
    try:
        yield
    finally:
        _request_watch.callback = None


# -- connecting only to checked addresses (SSRF) --------------------------------------------


def request_hooks(ssrf_allowlist: Iterable[str] | None) -> list[Callable]:
    """The httpx ``request`` event hooks every provider client gets.

    With an ``ssrf_allowlist`` (a base URL typed in the dashboard), each request is first
    pinned to a checked address: its host is resolved and refused if any address is not public
    (unless the operator allowed it), and the connection goes to the address that was checked,
    with the Host header and the TLS server name left as they were. DNS rebinding between the
    check and the connection cannot reach another address. Without one (the operator's own
    .ini configuration), requests go wherever the name resolves.
    """
    hooks: list[Callable] = []
    if ssrf_allowlist is not None:
        hooks.append(_pin_to_checked_address(frozenset(ssrf_allowlist)))
    hooks.append(report_request_sent)
    return hooks


def _pin_to_checked_address(allowlist: frozenset[str]) -> Callable:

    def pin(request) -> None:
        url = request.url
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            resolved = check_host(host, port, allowlist)
        except SSRFError as exc:
            # Raised inside the SDK's send: the call fails and the chain moves on.
            raise ProviderError("bad_request", f"refused to connect: {exc}") from None
        if resolved.ip != host:
            if url.scheme == "https":
                request.extensions["sni_hostname"] = host
            request.url = url.copy_with(host=resolved.ip)

    return pin

"""The failover chain: primary → optional secondary → built-in, with circuit breakers.

A provider is skipped while its breaker is open. A provider that fails before its first token
hands over to the next one; one that fails midway keeps what arrived, marked as cut off, since
switching then would make the visitor read two different answers. Every attempt is bounded by
the connect, first-token and total timeouts, enforced here around the provider's iterator so a
stuck library call can never hang a chat.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from asthron.assistant.providers.base import (
    Completion,
    Delta,
    GenerationOptions,
    ProviderError,
    Usage,
)

log = logging.getLogger(__name__)
_END = object()


class CircuitBreaker:
    """Open after ``threshold`` consecutive failures; let one trial through after ``cooldown``."""

    def __init__(self, threshold: int = 3, cooldown: float = 30.0, clock=time.monotonic):
        self.threshold, self.cooldown, self._clock = threshold, cooldown, clock
        self._lock = threading.Lock()
        self.failures = 0
        self.opened_at: float | None = None

    def allow(self) -> bool:
        with self._lock:
            if self.opened_at is None:
                return True
            if self._clock() - self.opened_at >= self.cooldown:
                self.opened_at = self._clock()  # half-open: one trial, then wait again
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self.failures, self.opened_at = 0, None

    def failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self.failures >= self.threshold:
                self.opened_at = self._clock()

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "open" if self._clock() - self.opened_at < self.cooldown else "half-open"


@dataclass
class Attempt:
    provider: str
    model: str
    ok: bool
    started: float
    first_token_ms: int | None = None
    latency_ms: int = 0
    usage: Usage = field(default_factory=Usage)
    error: ProviderError | None = None


@dataclass
class ChainLink:
    provider: object
    options: GenerationOptions
    breaker: CircuitBreaker


def bounded(iterator_factory: Callable[[], Iterator], first_token: float, total: float):
    """Iterate a provider's stream in a helper thread, enforcing the first-token and total
    timeouts from this side."""
    items: queue.Queue = queue.Queue(maxsize=256)
    cancelled = threading.Event()

    def produce():
        try:
            for item in iterator_factory():
                if cancelled.is_set():
                    return
                items.put(item)
        except BaseException as exc:  # delivered to the consumer, which decides
            items.put(exc)
        finally:
            items.put(_END)

    threading.Thread(target=produce, daemon=True, name="provider-stream").start()
    deadline = time.monotonic() + total
    first = True
    try:
        while True:
            wait = min(first_token if first else total, deadline - time.monotonic())
            if wait <= 0:
                raise ProviderError("timeout", "the reply took longer than the total timeout")
            try:
                item = items.get(timeout=wait)
            except queue.Empty:
                what = "first token" if first else "reply"
                raise ProviderError("timeout", f"no {what} within the timeout") from None
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            first = False
            yield item
    finally:
        cancelled.set()


class FailoverChain:
    def __init__(self, links: list[ChainLink], on_attempt: Callable[[Attempt], None] | None = None):
        self.links = links
        self.on_attempt = on_attempt or (lambda attempt: None)

    def stream(self, messages, grounding=None) -> Iterator[Delta | Completion]:
        """Yield deltas and one Completion from the first provider that works.

        Raises ProviderError(kind="cut_off", partial_text=...) when a provider fails midway.
        """
        last_error: ProviderError | None = None
        for link in self.links:
            provider = link.provider
            if not link.breaker.allow():
                log.info("skipping %s: circuit open", provider.kind)
                continue
            attempt = Attempt(
                provider.kind, getattr(provider, "model", ""), False, time.monotonic()
            )
            streamed = []
            try:
                for item in bounded(
                    lambda p=provider, o=link.options: p.stream_chat(
                        messages, o, grounding=grounding
                    ),
                    link.options.timeouts.first_token,
                    link.options.timeouts.total,
                ):
                    if isinstance(item, Delta):
                        if attempt.first_token_ms is None:
                            attempt.first_token_ms = _ms_since(attempt.started)
                        streamed.append(item.text)
                        yield item
                    elif isinstance(item, Completion):
                        attempt.ok, attempt.usage = True, item.usage
                        attempt.model = item.model or attempt.model
                        attempt.latency_ms = _ms_since(attempt.started)
                        link.breaker.success()
                        self.on_attempt(attempt)
                        yield item
                        return
                raise ProviderError("bad_response", "the stream ended without a final message")
            except ProviderError as exc:
                error = exc
            except Exception as exc:  # a provider bug must not break the chat
                log.exception("provider %s raised", provider.kind)
                error = ProviderError("bad_response", f"{type(exc).__name__}: {exc}")
            attempt.error, attempt.latency_ms = error, _ms_since(attempt.started)
            link.breaker.failure()
            self.on_attempt(attempt)
            if streamed:
                raise ProviderError(
                    "cut_off",
                    f"{provider.kind} failed midway: {error.message}",
                    partial_text=error.partial_text or "".join(streamed),
                )
            last_error = error
        raise last_error or ProviderError("unavailable", "no provider is available")


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)

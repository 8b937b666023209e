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
    watching_requests,
)
from asthron.realtime import hand_over_the_interpreter

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


class BoundedStream:
    """A provider's stream, read in a helper thread that starts at once (so the request is on
    its way before anyone iterates), with the first-token and total timeouts enforced from
    this side, counted from the start."""

    def __init__(self, iterator_factory: Callable[[], Iterator], first_token: float, total: float):
        self._items: queue.Queue = queue.Queue(maxsize=256)
        self._cancelled = threading.Event()
        # Set when the provider's request is sent, or it yields, fails or ends first.
        self._sent = threading.Event()
        started = time.monotonic()
        self._first_deadline = started + first_token
        self._deadline = started + total
        self._factory = iterator_factory
        threading.Thread(target=self._produce, daemon=True, name="provider-stream").start()

    def _produce(self) -> None:
        first = True
        try:
            with watching_requests(self._sent.set):
                for item in self._factory():
                    if self._cancelled.is_set():
                        return
                    self._items.put(item)
                    self._sent.set()
                    if first:
                        first = False
                        hand_over_the_interpreter()  # to the reader of the first token
        except BaseException as exc:  # delivered to the consumer, which decides
            self._items.put(exc)
        finally:
            self._items.put(_END)
            self._sent.set()

    def wait_until_sent(self, timeout: float) -> None:
        """Wait, at most ``timeout`` seconds, until the provider's request is sent."""
        self._sent.wait(timeout)

    def __iter__(self) -> Iterator:
        first = True
        try:
            while True:
                now = time.monotonic()
                wait = min(self._first_deadline if first else self._deadline, self._deadline) - now
                try:
                    # Past the deadline, what arrived in time is still read (a reply whose
                    # reader started late, waiting for a free worker, keeps its answer).
                    item = self._items.get(timeout=wait) if wait > 0 else self._items.get_nowait()
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
            self.close()

    def close(self) -> None:
        self._cancelled.set()
        # A producer blocked on a full queue would never see the flag: make room.
        while True:
            try:
                self._items.get_nowait()
            except queue.Empty:
                return


class FailoverChain:
    def __init__(self, links: list[ChainLink], on_attempt: Callable[[Attempt], None] | None = None):
        self.links = links
        self.on_attempt = on_attempt or (lambda attempt: None)

    def stream(self, messages, grounding=None) -> Iterator[Delta | Completion]:
        """Yield deltas and one Completion from the first provider that works.

        The first provider that its breaker allows is called before this returns; the
        returned iterator relays it and fails over. Raises ProviderError(kind="cut_off",
        partial_text=...) when a provider fails midway.
        """
        links = iter(self.links)
        first = self._open_next(links, messages, grounding)
        relay = self._relay(links, first, messages, grounding)
        if first is None:
            return Started(relay)
        _link, attempt, stream = first
        return Started(relay, stream, lambda: self.cancelled(attempt))

    def cancelled(self, attempt: Attempt) -> None:
        """Record a call stopped by us (a person took over, or the visitor's message was never
        stored): it still cost a request, but says nothing about the provider's health."""
        attempt.error = ProviderError("cancelled", "the reply was stopped before it ended")
        attempt.latency_ms = _ms_since(attempt.started)
        self.on_attempt(attempt)

    def _open_next(self, links, messages, grounding):
        for link in links:
            provider = link.provider
            if not link.breaker.allow():
                log.info("skipping %s: circuit open", provider.kind)
                continue
            attempt = Attempt(
                provider.kind, getattr(provider, "model", ""), False, time.monotonic()
            )
            stream = BoundedStream(
                lambda p=provider, o=link.options: p.stream_chat(messages, o, grounding=grounding),
                link.options.timeouts.first_token,
                link.options.timeouts.total,
            )
            return link, attempt, stream
        return None

    def _relay(self, links, opened, messages, grounding) -> Iterator[Delta | Completion]:
        last_error: ProviderError | None = None
        try:
            while opened is not None:
                link, attempt, stream = opened
                provider = link.provider
                streamed = []
                try:
                    for item in stream:
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
                except GeneratorExit:
                    if not attempt.ok:
                        self.cancelled(attempt)
                    raise
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
                opened = self._open_next(links, messages, grounding)
        finally:
            if opened is not None:
                opened[2].close()
        raise last_error or ProviderError("unavailable", "no provider is available")


class Started:
    """A relay (a generator) over work that began before anyone read it: ``started``, with
    ``wait_until_sent`` and ``close`` (a BoundedStream, or another Started). Closing the relay
    before it was read stops that work too, and calls ``on_unread_close``: the relay's own
    clean-up never ran."""

    def __init__(self, relay: Iterator, started=None, on_unread_close=None):
        self._relay, self._started, self._on_unread_close = relay, started, on_unread_close
        self._read = False

    def __iter__(self):
        return self

    def __next__(self):
        self._read = True
        return next(self._relay)

    def wait_until_sent(self, timeout: float) -> None:
        if self._started is not None:
            self._started.wait_until_sent(timeout)

    def close(self) -> None:
        self._relay.close()
        if self._started is not None:
            self._started.close()
        if not self._read:
            self._read = True
            if self._on_unread_close is not None:
                self._on_unread_close()


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)

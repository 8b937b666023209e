"""BoundedStream and FailoverChain started eagerly: the provider is called when the stream is
built (before anyone iterates), closing an unread stream stops its helper thread, the
first-token timeout counts from the start, and ``wait_until_sent`` never waits for more than
the request needs. Small fake providers, no model server."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from asthron.assistant.chain import BoundedStream, ChainLink, CircuitBreaker, FailoverChain
from asthron.assistant.providers.base import (
    Completion,
    Delta,
    GenerationOptions,
    ProviderError,
    Timeouts,
    Usage,
    report_request_sent,
)

WAIT = 5.0  # the longest any event here may take; the tests normally take milliseconds


class FakeProvider:
    """Records when and where it is called and what became of its generator.

    ``script`` items: a str is yielded as a Delta, an Exception is raised, a threading.Event
    is waited for (a provider blocked on the network), "forever" yields Deltas until closed.
    """

    model = "fake-model"

    def __init__(self, kind="openai", script=("Hello", " there")):
        self.kind, self.script = kind, list(script)
        self.called = threading.Event()
        self.closed = threading.Event()  # the generator saw GeneratorExit
        self.finished = threading.Event()  # the generator's body is over, however it ended
        self.calls = 0
        self.yielded = 0
        self.thread: threading.Thread | None = None

    def stream_chat(self, messages, options, grounding=None):
        self.calls += 1
        self.thread = threading.current_thread()
        self.called.set()
        text = ""
        try:
            for step in self.script:
                if isinstance(step, Exception):
                    raise step
                if isinstance(step, threading.Event):
                    step.wait(WAIT * 2)
                    continue
                if step == "forever":
                    while True:
                        self.yielded += 1
                        yield Delta("x")
                text += step
                self.yielded += 1
                yield Delta(step)
            yield Completion(text, Usage(3, len(text)), self.model)
        except GeneratorExit:
            self.closed.set()
            raise
        finally:
            self.finished.set()


def options(first_token=2.0, total=5.0):
    return GenerationOptions(timeouts=Timeouts(1, first_token, total))


def bounded(provider, first_token=2.0, total=5.0):
    return BoundedStream(lambda: provider.stream_chat([], options()), first_token, total)


def link(provider, first_token=2.0, total=5.0, breaker=None):
    return ChainLink(provider, options(first_token, total), breaker or CircuitBreaker())


def wait_for(predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def texts(items):
    return [i.text for i in items if isinstance(i, Delta)]


# -- the provider is called at once -----------------------------------------------------------


def test_bounded_stream_calls_the_provider_before_anyone_iterates():
    provider = FakeProvider()
    stream = bounded(provider)
    try:
        assert provider.called.wait(WAIT), "the provider was not called until iterated"
        assert provider.thread is not threading.current_thread()
        assert provider.thread.name == "provider-stream"
        # What it produced meanwhile is all there when the stream is read.
        items = list(stream)
        assert texts(items) == ["Hello", " there"]
        assert isinstance(items[-1], Completion) and items[-1].text == "Hello there"
    finally:
        stream.close()


def test_failover_chain_calls_the_first_allowed_provider_before_returning():
    tripped = CircuitBreaker(threshold=1, cooldown=60)
    tripped.failure()
    skipped, first, second = FakeProvider("anthropic"), FakeProvider("openai"), FakeProvider()
    chain = FailoverChain([link(skipped, breaker=tripped), link(first), link(second)])
    started = chain.stream([])
    try:
        assert first.called.wait(WAIT), "the first allowed provider was not called"
        assert skipped.calls == 0  # its breaker is open
        assert second.calls == 0  # only the first allowed one is called ahead
        assert texts(list(started)) == ["Hello", " there"]
        assert second.calls == 0
    finally:
        started.close()


# -- closing an unread stream stops its provider ------------------------------------------------


def test_close_before_iterating_stops_a_provider_that_keeps_producing():
    provider = FakeProvider(script=["forever"])
    stream = bounded(provider)
    assert provider.called.wait(WAIT)
    # It fills the queue (256 items) and blocks there, waiting for a reader.
    assert wait_for(lambda: provider.yielded >= 256)
    stream.close()
    assert provider.closed.wait(WAIT), "the provider's generator was never closed"
    provider.thread.join(WAIT)
    assert not provider.thread.is_alive(), "the helper thread is still running"
    advanced = provider.yielded
    time.sleep(0.05)
    assert provider.yielded == advanced


def test_close_before_the_first_token_stops_the_provider_when_it_answers():
    network = threading.Event()
    provider = FakeProvider(script=[network, "late", "never read"])
    stream = bounded(provider)
    assert provider.called.wait(WAIT)
    stream.close()
    network.set()  # the model finally answers: nobody wants it any more
    assert provider.finished.wait(WAIT)
    provider.thread.join(WAIT)
    assert not provider.thread.is_alive()
    assert provider.closed.is_set()
    assert provider.yielded == 1  # never advanced past the first token


def test_closing_a_started_chain_stops_its_first_provider():
    provider = FakeProvider(script=["forever"])
    started = FailoverChain([link(provider)]).stream([])
    assert provider.called.wait(WAIT)
    started.close()
    assert provider.closed.wait(WAIT)
    provider.thread.join(WAIT)
    assert not provider.thread.is_alive()


# -- timeouts count from the start --------------------------------------------------------------


def test_first_token_timeout_counts_from_construction():
    network = threading.Event()
    provider = FakeProvider(script=[network, "too late"])
    stream = bounded(provider, first_token=0.2, total=5.0)
    try:
        time.sleep(0.3)  # the caller commits, answers its request...
        started = time.monotonic()
        with pytest.raises(ProviderError) as caught:
            next(iter(stream))
        assert caught.value.kind == "timeout"
        # Not another 0.2 s from the first read: the deadline had already passed.
        assert time.monotonic() - started < 0.1
    finally:
        network.set()
        stream.close()


def test_first_token_timeout_of_a_started_chain_counts_from_stream():
    network = threading.Event()
    provider = FakeProvider(script=[network, "too late"])
    started_chain = FailoverChain([link(provider, first_token=0.2)]).stream([])
    try:
        time.sleep(0.3)
        started = time.monotonic()
        with pytest.raises(ProviderError) as caught:
            list(started_chain)
        assert caught.value.kind == "timeout"
        assert time.monotonic() - started < 0.1
    finally:
        network.set()
        started_chain.close()


def test_items_that_arrived_before_the_deadline_are_still_read_after_it():
    provider = FakeProvider(script=["on time"])
    stream = bounded(provider, first_token=0.2, total=5.0)
    try:
        assert provider.finished.wait(WAIT)
        time.sleep(0.25)  # past the first-token deadline, but the token came before it
        assert texts(list(stream)) == ["on time"]
    finally:
        stream.close()


# -- waiting until the request is sent ---------------------------------------------------------


def test_wait_until_sent_returns_at_once_when_the_provider_yields_without_http():
    provider = FakeProvider()
    stream = bounded(provider)
    try:
        started = time.monotonic()
        stream.wait_until_sent(WAIT)
        assert time.monotonic() - started < 1.0
        assert provider.yielded >= 1
    finally:
        stream.close()


def test_wait_until_sent_returns_at_once_when_the_provider_fails_without_http():
    provider = FakeProvider(script=[ProviderError("auth", "bad key")])
    stream = bounded(provider)
    try:
        started = time.monotonic()
        stream.wait_until_sent(WAIT)
        assert time.monotonic() - started < 1.0
        with pytest.raises(ProviderError) as caught:
            list(stream)
        assert caught.value.kind == "auth"
    finally:
        stream.close()


def test_wait_until_sent_times_out_when_the_provider_blocks_without_sending():
    network = threading.Event()
    provider = FakeProvider(script=[network, "late"])
    stream = bounded(provider)
    try:
        assert provider.called.wait(WAIT)
        started = time.monotonic()
        stream.wait_until_sent(0.2)
        waited = time.monotonic() - started
        assert 0.18 <= waited < 1.0, waited
        assert not provider.finished.is_set()
    finally:
        network.set()
        stream.close()


def test_a_started_chain_waits_until_its_first_provider_has_sent():
    network = threading.Event()
    blocked = FakeProvider(script=[network, "late"])
    started_chain = FailoverChain([link(blocked)]).stream([])
    try:
        started = time.monotonic()
        started_chain.wait_until_sent(0.2)
        assert 0.18 <= time.monotonic() - started < 1.0
    finally:
        network.set()
        started_chain.close()
    quick = FakeProvider()
    started_chain = FailoverChain([link(quick)]).stream([])
    try:
        started = time.monotonic()
        started_chain.wait_until_sent(WAIT)
        assert time.monotonic() - started < 1.0
    finally:
        started_chain.close()


@pytest.fixture
def silent_server():
    """A server that reads requests and never answers: a model thinking about its first token."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(WAIT * 2)
    received = threading.Event()
    stop = threading.Event()
    connections = []

    def serve():
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        connections.append(connection)
        connection.settimeout(0.05)
        data = b""
        while not stop.is_set():
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            data += chunk
            if b"\r\n\r\n" in data and data.endswith(b"}"):
                received.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], received
    stop.set()
    for connection in connections:
        connection.close()
    listener.close()
    thread.join(WAIT)


def test_wait_until_sent_returns_once_an_httpx_request_body_is_written(silent_server):
    import httpx

    port, received = silent_server

    class HttpProvider(FakeProvider):
        def stream_chat(self, messages, options, grounding=None):
            self.called.set()
            with (
                httpx.Client(
                    event_hooks={"request": [report_request_sent]}, timeout=WAIT * 2
                ) as client,
                contextlib.suppress(httpx.HTTPError),
            ):
                client.post(f"http://127.0.0.1:{port}/v1/chat", json={"stream": True})
            self.finished.set()
            yield Completion("", Usage(), self.model)

    provider = HttpProvider()
    stream = bounded(provider, first_token=WAIT * 3, total=WAIT * 3)
    try:
        started = time.monotonic()
        stream.wait_until_sent(WAIT)
        waited = time.monotonic() - started
        # Returned because the body was written, not because the wait ran out...
        assert waited < WAIT / 2, waited
        # ...and while the provider is still waiting for an answer.
        assert not provider.finished.is_set()
        assert received.wait(WAIT)
    finally:
        stream.close()


# -- failover ------------------------------------------------------------------------------------


def test_failover_when_the_first_provider_raises_before_its_first_token():
    attempts = []
    first = FakeProvider("openai", [ProviderError("unavailable", "down")])
    second = FakeProvider("ollama", ["From ", "the second"])
    items = list(FailoverChain([link(first), link(second)], attempts.append).stream([]))
    assert texts(items) == ["From ", "the second"]
    assert items[-1].text == "From the second"
    assert (first.calls, second.calls) == (1, 1)
    assert [(a.provider, a.ok) for a in attempts] == [("openai", False), ("ollama", True)]
    assert attempts[0].error.kind == "unavailable"


def test_failover_when_the_first_provider_misses_its_first_token_deadline():
    network = threading.Event()
    attempts = []
    first = FakeProvider("openai", [network, "too late"])
    second = FakeProvider("ollama", ["Second"])
    started = time.monotonic()
    try:
        items = list(
            FailoverChain([link(first, first_token=0.2), link(second)], attempts.append).stream([])
        )
    finally:
        network.set()
    assert texts(items) == ["Second"]
    assert time.monotonic() - started < 2.0
    assert [(a.provider, a.ok) for a in attempts] == [("openai", False), ("ollama", True)]
    assert attempts[0].error.kind == "timeout"
    # The abandoned first provider is stopped once its late token comes.
    assert first.finished.wait(WAIT)
    assert first.yielded <= 1

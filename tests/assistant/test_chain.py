"""The failover chain: order, timeouts, circuit breakers and cut-off streams."""

import time

import pytest

from asthron.assistant.chain import ChainLink, CircuitBreaker, FailoverChain
from asthron.assistant.providers.base import (
    Completion,
    Delta,
    GenerationOptions,
    ProviderError,
    Timeouts,
    Usage,
)
from asthron.assistant.providers.builtin import BuiltinProvider


class ScriptedProvider:
    """A provider that follows a script: a list of texts, errors and pauses."""

    def __init__(self, kind, script, model="m"):
        self.kind, self.model, self.script, self.calls = kind, model, script, 0

    def stream_chat(self, messages, options, grounding=None):
        self.calls += 1
        text = ""
        for step in self.script:
            if isinstance(step, Exception):
                raise step
            if isinstance(step, float):
                time.sleep(step)
                continue
            text += step
            yield Delta(step)
        yield Completion(text, Usage(10, len(text)), self.model)


def link(provider, first_token=1.0, total=3.0, breaker=None):
    return ChainLink(
        provider,
        GenerationOptions(timeouts=Timeouts(1, first_token, total)),
        breaker or CircuitBreaker(),
    )


def run(chain):
    deltas, final = [], None
    for item in chain.stream([]):
        if isinstance(item, Delta):
            deltas.append(item.text)
        else:
            final = item
    return deltas, final


def test_primary_answers_and_attempt_is_recorded():
    attempts = []
    chain = FailoverChain(
        [link(ScriptedProvider("openai", ["Hel", "lo"])), link(BuiltinProvider())],
        on_attempt=attempts.append,
    )
    deltas, final = run(chain)
    assert deltas == ["Hel", "lo"] and final.text == "Hello"
    assert [(a.provider, a.ok) for a in attempts] == [("openai", True)]
    assert attempts[0].usage.output_tokens == 5 and attempts[0].first_token_ms is not None


def test_failure_before_first_token_fails_over_to_the_next():
    attempts = []
    primary = ScriptedProvider("openai", [ProviderError("unavailable", "down")])
    secondary = ScriptedProvider("ollama", ["from secondary"])
    deltas, final = run(
        FailoverChain(
            [link(primary), link(secondary), link(BuiltinProvider())], on_attempt=attempts.append
        )
    )
    assert final.text == "from secondary"
    assert [(a.provider, a.ok, a.error.kind if a.error else None) for a in attempts] == [
        ("openai", False, "unavailable"),
        ("ollama", True, None),
    ]


def test_slow_first_token_times_out_in_bounded_time_and_falls_back():
    slow = ScriptedProvider("openai", [5.0, "late"])
    started = time.monotonic()
    deltas, final = run(FailoverChain([link(slow, first_token=0.3), link(BuiltinProvider())]))
    assert time.monotonic() - started < 3  # bounded by the first-token timeout, not the 5 s
    assert final.model == "retrieval"  # the built-in provider answered


def test_total_timeout_cuts_a_trickling_stream():
    trickle = ScriptedProvider("openai", ["a", 0.4, "b", 0.4, "c", 0.4, "d"])
    with pytest.raises(ProviderError) as info:
        run(FailoverChain([link(trickle, first_token=1, total=0.9), link(BuiltinProvider())]))
    assert info.value.kind == "cut_off" and info.value.partial_text.startswith("a")


def test_failure_midway_keeps_partial_text_and_does_not_switch():
    broken = ScriptedProvider("openai", ["Our hours are ", ProviderError("unavailable", "reset")])
    builtin = BuiltinProvider()
    with pytest.raises(ProviderError) as info:
        run(FailoverChain([link(broken), link(builtin)]))
    assert info.value.kind == "cut_off"
    assert info.value.partial_text == "Our hours are "


def test_open_breaker_skips_a_dead_provider():
    dead = ScriptedProvider("openai", [ProviderError("unavailable", "down")])
    breaker = CircuitBreaker(threshold=2, cooldown=60)
    for _ in range(2):
        run(FailoverChain([link(dead, breaker=breaker), link(BuiltinProvider())]))
    assert breaker.state == "open" and dead.calls == 2
    run(FailoverChain([link(dead, breaker=breaker), link(BuiltinProvider())]))
    assert dead.calls == 2  # not called while open


def test_breaker_half_opens_after_cooldown_and_closes_on_success():
    now = [0.0]
    breaker = CircuitBreaker(threshold=1, cooldown=10, clock=lambda: now[0])
    breaker.failure()
    assert not breaker.allow()
    now[0] = 11
    assert breaker.allow()  # one trial
    assert not breaker.allow()  # and only one
    breaker.success()
    assert breaker.state == "closed" and breaker.allow()


def test_a_provider_bug_is_contained():
    buggy = ScriptedProvider("openai", [RuntimeError("library bug")])
    deltas, final = run(FailoverChain([link(buggy), link(BuiltinProvider())]))
    assert final.model == "retrieval"

"""4. Time to first token: what Asthron adds between a visitor's POST and the first streamed
delta, against the model's own first-token delay measured in the same run.

The model is a fake OpenAI-compatible server (tests/fakes/llm_server.py, the real wire
protocol) in a process of its own, like a hosted model, waiting ``DELAY_MS`` before its first
chunk. Through Asthron: the visitor's stream is open and idle, the message is POSTed, and the
clock stops at the first ``event: delta`` frame. Baseline, interleaved with those samples: the
real ``openai`` client sends the very request Asthron just sent (the same prompt, read back from
the fake server) straight to the model, request to first chunk. The difference is Asthron's
overhead: storing the message, the hooks, knowledge retrieval, building the prompt, the
hand-offs between threads and the SSE publish; not the model's time to read a longer prompt.
Pass-through is deltas per second through the stream for a long reply sent without delays.
"""

from __future__ import annotations

import inspect
import socket
import time

from bench.harness import API, Result, Section, new_visitor, percentile

NAME = "ttft"
TITLE = "Time to first token"
DELAY_MS = 50
GOAL_OVERHEAD_MS = 5
# A visitor types for seconds after the widget opens its stream; the benchmark lets the newly
# opened stream finish its first read before posting, so the two requests do not overlap.
STREAM_SETTLE_SECONDS = 0.02


class _DirectClient:
    """The real openai client, replaying a request body exactly as Asthron sent it."""

    def __init__(self, base_url: str):
        import openai

        self.client = openai.OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
        self.params = set(inspect.signature(self.client.chat.completions.create).parameters)

    def ttft(self, body: dict) -> float:
        known = {k: v for k, v in body.items() if k in self.params}
        extra = {k: v for k, v in body.items() if k not in self.params}
        start = time.perf_counter()
        stream = self.client.chat.completions.create(**known, extra_body=extra or None)
        try:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    return (time.perf_counter() - start) * 1000
        finally:
            stream.close()
        raise RuntimeError("the model sent no text")

    def close(self) -> None:
        self.client.close()


class _Stream:
    def __init__(self, port, origin, token, conversation_id):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.sock.sendall(
            (
                f"GET {API}/conversations/{conversation_id}/stream HTTP/1.0\r\nHost: x\r\n"
                f"Authorization: Bearer {token}\r\nOrigin: {origin}\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        self.wait_for(b"retry:")

    def wait_for(self, marker: bytes) -> float:
        while marker not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError(f"stream closed: {self.buffer[-200:]!r}")
            self.buffer += data
        at = time.perf_counter()
        self.buffer = self.buffer[self.buffer.index(marker) + len(marker) :]
        return at

    def count_until(self, marker: bytes, counted: bytes) -> int:
        while marker not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("stream closed")
            self.buffer += data
        seen = self.buffer[: self.buffer.index(marker)].count(counted)
        self.buffer = self.buffer[self.buffer.index(marker) + len(marker) :]
        return seen

    def close(self):
        self.sock.close()


def _through_asthron(app, site_key: str, origin: str) -> float:
    """One visitor: POST a message, milliseconds until the first delta reaches the stream."""
    client, conversation_id = new_visitor(app.port, site_key, origin)
    stream = _Stream(app.port, origin, client.token, conversation_id)
    time.sleep(STREAM_SETTLE_SECONDS)
    start = time.perf_counter()
    client.expect(
        201, "POST", f"{API}/conversations/{conversation_id}/messages", client.message_body()
    )
    first_delta = stream.wait_for(b"event: delta")
    stream.wait_for(b"event: message")
    stream.close()
    client.close()
    return (first_delta - start) * 1000


def run(ctx) -> Section:
    from bench.fake_model import RemoteFakeModel

    section = Section(TITLE)
    samples = 15 if ctx.quick else 60
    fake = RemoteFakeModel(
        scenario="slow_first_token",
        reply="Hello! " * 4,
        chunks=4,
        first_token_delay=DELAY_MS / 1000,
    )
    direct_client = _DirectClient(fake.openai_base_url)
    try:
        # A closed stream frees its thread within a second (the disconnect check); with a
        # sample every ~120 ms, leave room for the ones still winding down.
        app = ctx.start_app(
            "ttft",
            64,
            max_streams=48,
            ai_kind="openai",
            ai_base_url=fake.openai_base_url,
            ai_model="gpt-test",
        )
        try:
            site_key, origin = app.info["site_key"], app.info["origin"]
            through, direct = [], []
            for sample in range(samples + 1):
                took = _through_asthron(app, site_key, origin)
                body = fake.last_streamed()
                baseline = direct_client.ttft(body)
                if sample:  # the first one warms up (the SDK import, the connections)
                    through.append(took)
                    direct.append(baseline)
            # Pass-through: a long reply streamed with no delay between chunks.
            fake.set(scenario="normal", reply="token " * 2000, chunks=2000)
            client, conversation_id = new_visitor(app.port, site_key, origin)
            stream = _Stream(app.port, origin, client.token, conversation_id)
            time.sleep(STREAM_SETTLE_SECONDS)
            start = time.perf_counter()
            client.expect(
                201,
                "POST",
                f"{API}/conversations/{conversation_id}/messages",
                client.message_body(),
            )
            stream.wait_for(b"event: delta")
            deltas = 1 + stream.count_until(b"event: message", b"event: delta")
            rate = deltas / (time.perf_counter() - start)
            stream.close()
            client.close()
        finally:
            app.stop()
    finally:
        direct_client.close()
        fake.stop()
    overhead = percentile(through, 50) - percentile(direct, 50)
    section.results += [
        Result(
            "Model's own TTFT (same request, direct client)", "p50", percentile(direct, 50), "ms"
        ),
        Result("TTFT through Asthron (POST → first delta)", "p50", percentile(through, 50), "ms"),
        Result("TTFT through Asthron (POST → first delta)", "p99", percentile(through, 99), "ms"),
        Result("TTFT overhead added by Asthron", "p50", overhead, "ms", ("<=", GOAL_OVERHEAD_MS)),
        Result("Stream pass-through", "deltas/s", rate, "deltas/s", digits=0),
    ]
    section.notes.append(
        f"TTFT: the fake OpenAI server runs in its own process and waits {DELAY_MS} ms before "
        f"its first chunk; {samples} visitors, each a new conversation (the message is stored, "
        "retrieval runs, the real openai client calls the model), each followed by the "
        "baseline: the same request body, read back from the fake server, sent by the openai "
        "client directly. Pass-through: a 2,000-chunk reply with no delays, counted as SSE "
        "delta frames reaching the visitor."
    )
    return section

"""4. Time to first token: what Asthron adds between a visitor's POST and the first streamed
delta, against the model's own first-token delay measured in the same run.

A local fake OpenAI-compatible server (tests/fakes/llm_server.py, the real wire protocol)
waits ``DELAY_MS`` before its first chunk. The baseline is the real ``openai`` client calling
that server directly: request to first chunk. Through Asthron: the visitor's stream is open,
the message is POSTed, and the clock stops at the first ``event: delta`` frame. The
difference is Asthron's overhead (storing the message, the after-commit hand-off to the reply
pool, knowledge retrieval, the prompt, the provider call and the SSE publish). Pass-through is
deltas per second through the stream for a long reply sent without delays.
"""

from __future__ import annotations

import socket
import sys
import time

from bench.harness import API, ROOT, Result, Section, new_visitor, percentile

NAME = "ttft"
TITLE = "Time to first token"
DELAY_MS = 50
GOAL_OVERHEAD_MS = 5


def _fake():
    sys.path.insert(0, str(ROOT))
    from tests.fakes.llm_server import FakeLLMServer

    return FakeLLMServer(
        scenario="slow_first_token",
        reply="Hello! " * 4,
        chunks=4,
        first_token_delay=DELAY_MS / 1000,
    ).start()


def _direct_ttft(fake, samples: int) -> list[float]:
    import openai

    client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-bench", max_retries=0)
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        stream = client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                times.append((time.perf_counter() - start) * 1000)
                break
        stream.close()
    client.close()
    return times


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
        seen = 0
        while marker not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("stream closed")
            self.buffer += data
        seen += self.buffer[: self.buffer.index(marker)].count(counted)
        self.buffer = self.buffer[self.buffer.index(marker) + len(marker) :]
        return seen

    def close(self):
        self.sock.close()


def run(ctx) -> Section:
    section = Section(TITLE)
    samples = 10 if ctx.quick else 30
    fake = _fake()
    try:
        direct = _direct_ttft(fake, samples)
        # A closed stream frees its thread within a second (the disconnect check); with a
        # sample every ~60 ms, leave room for the ones still winding down.
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
            through = []
            for sample in range(samples + 1):
                client, conversation_id = new_visitor(app.port, site_key, origin)
                stream = _Stream(app.port, origin, client.token, conversation_id)
                start = time.perf_counter()
                client.expect(
                    201,
                    "POST",
                    f"{API}/conversations/{conversation_id}/messages",
                    client.message_body(),
                )
                first_delta = stream.wait_for(b"event: delta")
                if sample:  # the first one warms up (the SDK import, the connection)
                    through.append((first_delta - start) * 1000)
                stream.wait_for(b"event: message")
                stream.close()
                client.close()
            # Pass-through: a long reply streamed with no delay between chunks.
            fake.scenario, fake.reply, fake.chunks = "normal", "token " * 2000, 2000
            client, conversation_id = new_visitor(app.port, site_key, origin)
            stream = _Stream(app.port, origin, client.token, conversation_id)
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
        fake.stop()
    overhead = percentile(through, 50) - percentile(direct, 50)
    section.results += [
        Result("Model's own TTFT (direct client)", "p50", percentile(direct, 50), "ms"),
        Result("TTFT through Asthron (POST → first delta)", "p50", percentile(through, 50), "ms"),
        Result("TTFT through Asthron (POST → first delta)", "p99", percentile(through, 99), "ms"),
        Result("TTFT overhead added by Asthron", "p50", overhead, "ms", ("<=", GOAL_OVERHEAD_MS)),
        Result("Stream pass-through", "deltas/s", rate, "deltas/s", digits=0),
    ]
    section.notes.append(
        f"TTFT: the fake OpenAI server waits {DELAY_MS} ms before its first chunk; {samples} "
        "visitors, each a new conversation (the message is stored, retrieval runs, the reply "
        "pool calls the real openai client). Pass-through: a 2,000-chunk reply with no delays, "
        "counted as SSE delta frames reaching the visitor."
    )
    return section

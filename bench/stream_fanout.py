"""3. Two hundred open event streams, and how fast a staff message reaches each of them.

200 visitors, each with its own conversation, each holding GET .../stream (SSE) open on a raw
socket. The server process then appends a staff message to every conversation, each in its
own transaction (as the reply runner does, so the after-commit publish fires), and stamps the
start of each; the client stamps the moment the ``event: message`` frame arrives on that
conversation's stream. Both stamps use the system-wide monotonic clock (Linux).

Two rounds: a burst (all 200 transactions back to back, the worst case) and a paced one (one
message every 10 ms, 100/s, closer to many staff typing at once).
"""

from __future__ import annotations

import selectors
import socket
import time

from bench.harness import API, ApiClient, Result, Section, percentile

NAME = "streams"
TITLE = "200 open streams"
STREAMS = 200
THREADS = STREAMS + 40  # each stream pins a waitress thread; keep some for other requests
GOAL_P99_MS = 250
PACED_GAP_MS = 10
MESSAGE_MARK = b"event: message"


class Stream:
    def __init__(self, port: int, origin: str, token: str, conversation_id: int):
        self.conversation_id = conversation_id
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        request = (
            f"GET {API}/conversations/{conversation_id}/stream HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\n"
            f"Origin: {origin}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.sock.setblocking(False)
        self.buffer = b""
        self.open = False  # headers and the first (retry) frame received
        self.received_ns: int | None = None

    def reset(self) -> None:
        self.buffer = b""
        self.received_ns = None

    def feed(self, data: bytes, now: int) -> None:
        self.buffer += data
        if not self.open:
            head, sep, _rest = self.buffer.partition(b"\r\n\r\n")
            if sep and not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"stream refused: {head[:200]!r}")
            if sep and b"retry:" in self.buffer:
                self.open = True
                self.buffer = b""
        elif self.received_ns is None and MESSAGE_MARK in self.buffer:
            self.received_ns = now


def _pump(streams: list[Stream], done, timeout: float) -> None:
    """Read every ready stream until done() or the time-out."""
    by_fd = {s.sock.fileno(): s for s in streams}
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for stream in streams:
            selector.register(stream.sock, selectors.EVENT_READ)
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError("timed out waiting for the streams")
            for key, _mask in selector.select(min(remaining, 0.5)):
                now = time.monotonic_ns()
                stream = by_fd[key.fd]
                data = stream.sock.recv(65536)
                if not data:
                    raise RuntimeError(f"stream {stream.conversation_id} closed by the server")
                stream.feed(data, now)


def _round(server, streams: list[Stream], gap_ms: float) -> list[float]:
    for stream in streams:
        stream.reset()
    server.send(cmd="append", conversations=[s.conversation_id for s in streams], gap_ms=gap_ms)
    _pump(streams, lambda: all(s.received_ns is not None for s in streams), timeout=60)
    started = {cid: start for cid, start, _committed in server.receive(timeout=60)}
    if any(b"staff_message" not in s.buffer for s in streams):
        raise RuntimeError("a stream received a frame that is not the staff message")
    return [(s.received_ns - started[s.conversation_id]) / 1e6 for s in streams]


def run(ctx) -> Section:
    section = Section(TITLE)
    server = ctx.start_app(
        "streams",
        THREADS,
        max_streams=STREAMS * 2,
        connection_limit=STREAMS + 100,
        no_reply=True,
    )
    streams: list[Stream] = []
    try:
        site_key, origin = server.info["site_key"], server.info["origin"]
        rss_idle = server.rss_bytes()
        client = ApiClient(server.port, origin)
        visitors = []
        for _ in range(STREAMS):
            client.token = None
            client.start_session(site_key)
            visitors.append((client.token, client.open_conversation()))
        client.close()

        opened = time.perf_counter()
        streams = [Stream(server.port, origin, token, cid) for token, cid in visitors]
        _pump(streams, lambda: all(s.open for s in streams), timeout=60)
        open_seconds = time.perf_counter() - opened
        stats = server.command(cmd="stats")
        if stats["open_streams"] != STREAMS:
            raise RuntimeError(f"expected {STREAMS} open streams, the server has {stats}")
        rss_streams = server.rss_bytes()

        burst = _round(server, streams, 0)
        paced = _round(server, streams, PACED_GAP_MS)
        rss_after = server.rss_bytes()
    finally:
        for stream in streams:
            stream.sock.close()
        server.stop()

    name = f"{STREAMS} streams: staff → visitor"
    section.results += [
        Result(name, "delivery p50, burst", percentile(burst, 50), "ms"),
        Result(name, "delivery p99, burst", percentile(burst, 99), "ms", ("<=", GOAL_P99_MS)),
        Result(name, f"delivery p50, paced {1000 // PACED_GAP_MS}/s", percentile(paced, 50), "ms"),
        Result(
            name,
            f"delivery p99, paced {1000 // PACED_GAP_MS}/s",
            percentile(paced, 99),
            "ms",
            ("<=", GOAL_P99_MS),
        ),
        Result(
            f"{STREAMS} streams: server", "RSS, streams open", rss_streams / 2**20, "MiB", digits=0
        ),
    ]
    section.notes.append(
        f"Streams: waitress with {THREADS} threads; {STREAMS} streams opened in "
        f"{open_seconds:.2f} s. Server RSS {rss_idle / 2**20:.0f} MiB idle, "
        f"{rss_streams / 2**20:.0f} MiB with {STREAMS} streams open "
        f"(≈{(rss_streams - rss_idle) / STREAMS / 1024:.0f} KiB per stream), "
        f"{rss_after / 2**20:.0f} MiB after both rounds. Delivery = from the start of the "
        "staff message's transaction to the frame's arrival; burst max "
        f"{max(burst):.0f} ms, paced max {max(paced):.0f} ms."
    )
    return section

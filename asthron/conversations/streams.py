"""Server-Sent Events and long polling over the conversation event log.

A stream subscribes to the notifier first and then reads the database, so an event committed
in between is never missed; it sends "events after the last id" from the database and uses
notifications only as a reason to look again. Streaming runs after pyramid_tm has committed,
so it opens its own short sessions and never touches request.db.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from contextlib import contextmanager

from asthron.conversations import service
from asthron.realtime import conversation_channel

HEARTBEAT_SECONDS = 15.0
POLL_SLICE = 1.0  # how often a waiting stream checks that its client is still there
# Ephemeral messages a stream passes on as frames of their own kind; "event" only wakes it.
# reply_cancelled tells the widget to drop the deltas of a reply that will never be stored.
LIVE_KINDS = frozenset({"delta", "typing", "presence", "reply_cancelled", "ownership"})


class StreamCounter:
    """Requests that hold a waitress thread while they wait (event streams and long polls),
    per visitor (or staff member), per client address and in total, so they never take every
    thread: one visitor token is free to anyone who loads the site, and so is a new one."""

    def __init__(self):
        self._lock = threading.Lock()
        self._per_key: dict[int | str, int] = defaultdict(int)
        self._per_ip: dict[str, int] = defaultdict(int)
        self.total = 0

    def acquire(
        self,
        key: int | str,
        per_key: int,
        capacity: int,
        ip: str | None = None,
        per_ip: int | None = None,
    ) -> bool:
        with self._lock:
            if self._per_key[key] >= per_key or self.total >= capacity:
                return False
            if ip is not None and per_ip is not None and self._per_ip[ip] >= per_ip:
                return False
            self._per_key[key] += 1
            if ip is not None:
                self._per_ip[ip] += 1
            self.total += 1
            return True

    def release(self, key: int | str, ip: str | None = None) -> None:
        with self._lock:
            self._per_key[key] -= 1
            if self._per_key[key] <= 0:
                del self._per_key[key]
            if ip is not None:
                self._per_ip[ip] -= 1
                if self._per_ip[ip] <= 0:
                    del self._per_ip[ip]
            self.total -= 1

    @contextmanager
    def slot(self, key: int | str, per_key: int, capacity: int, ip: str, per_ip: int):
        """Hold one slot for a block (a long poll), or raise StreamsExhausted."""
        if not self.acquire(key, per_key, capacity, ip, per_ip):
            raise StreamsExhausted()
        try:
            yield
        finally:
            self.release(key, ip)


class StreamsExhausted(service.ConversationError):
    """429: the widget backs off and tries again."""

    def __init__(self):
        super().__init__(
            "Too many open streams and long polls; wait a moment and try again.",
            "too_many_streams",
        )


def _read_events(registry, conversation_id: int, after: int, public_only: bool = True):
    with registry["dbsession_factory"]() as db:
        return service.events_after(db, conversation_id, after, public_only=public_only)


def sse_frame(data: dict, event: str | None = None, event_id: int | None = None) -> bytes:
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event:
        lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


class StreamBody:
    """The WSGI body of a stream: iterates the frames and releases the stream's slot on close.

    The slot must come back even when the frames are never iterated: for a HEAD request WebOb
    answers without iterating the body and only calls close(), and a generator that never
    started does not run its ``finally``.
    """

    def __init__(self, frames, release):
        self._frames = frames
        self._release = release
        self._released = False
        self._lock = threading.Lock()

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        return next(self._frames)

    def close(self) -> None:
        try:
            self._frames.close()
        finally:
            with self._lock:
                released, self._released = self._released, True
            if not released:
                self._release()


def event_stream(
    registry,
    conversation_id: int,
    after: int,
    release,
    disconnected=None,
    public_only: bool = True,
    serialize=service.event_json,
    heartbeat: float | None = None,
) -> StreamBody:
    """SSE frames: stored events (with ids), live deltas and typing, and heartbeats.

    ``heartbeat`` defaults to HEARTBEAT_SECONDS, read when the stream starts (tests shorten
    it). ``release`` is called exactly once, when the server closes the body.
    """
    frames = _frames(
        registry, conversation_id, after, disconnected, public_only, serialize, heartbeat
    )
    return StreamBody(frames, release)


def _frames(registry, conversation_id, after, disconnected, public_only, serialize, heartbeat):
    heartbeat = HEARTBEAT_SECONDS if heartbeat is None else heartbeat
    notifier = registry["notifier"]
    subscription = notifier.subscribe(conversation_channel(conversation_id))
    try:
        # Tell the browser how long to wait before reconnecting, and flush headers at once.
        yield b"retry: 2000\n\n"
        last_id = after
        while True:
            for event in _read_events(registry, conversation_id, last_id, public_only):
                last_id = event.id
                yield sse_frame(serialize(event), "message", event.id)
            deadline = time.monotonic() + heartbeat
            woke = False
            while not woke:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                message = subscription.get(timeout=min(POLL_SLICE, remaining))
                if disconnected is not None and disconnected():
                    return
                if message is None:
                    continue
                for item in [message, *subscription.drain()]:
                    kind = item.get("kind")
                    if kind == "event":
                        woke = True
                    elif kind in LIVE_KINDS:
                        yield sse_frame(item, kind)
            if not woke:
                yield b": heartbeat\n\n"
    finally:
        subscription.close()


def long_poll(registry, conversation_id: int, after: int, wait: int, public_only: bool = True):
    """Wait up to ``wait`` seconds for events after ``after``; an empty list on time-out."""
    notifier = registry["notifier"]
    deadline = time.monotonic() + wait
    with notifier.subscribe(conversation_channel(conversation_id)) as subscription:
        while True:
            events = _read_events(registry, conversation_id, after, public_only)
            if events:
                return events
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            message = subscription.get(timeout=remaining)
            if message is None:
                return []

"""The staff side of Server-Sent Events.

Two streams:

- the inbox stream (``inbox_stream``): subscribes to INBOX_CHANNEL and, after every change,
  sends server-rendered HTML partials (the list, the waiting chats) as named events that the
  htmx SSE extension swaps in. Changes arriving together are coalesced into one render.
- a conversation's staff stream (``conversation_stream``): the conversation event stream of
  asthron.conversations.streams with every event, internal notes included, deltas and
  typing, serialised for staff.

Like the visitor streams, a stream subscribes before it reads, so nothing committed in
between is missed, and it reads in short sessions of its own (never request.db).
"""

from __future__ import annotations

import re
import time

from asthron.conversations import streams
from asthron.conversations.streams import StreamBody
from asthron.inbox.service import staff_event_json
from asthron.realtime import INBOX_CHANNEL

# Changes that arrive within this window are rendered once.
COALESCE_SECONDS = 0.15
# Open streams one staff member may hold: the inbox (or the waiting badge) and a few chats.
STREAMS_PER_STAFF = 6
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def stream_key(user_id: int) -> str:
    """The StreamCounter key of a staff member (visitors are counted by their integer id)."""
    return f"staff:{user_id}"


def html_frame(event: str, html: str) -> bytes:
    """One SSE event whose data is an HTML fragment. Every kind of line break starts a new
    ``data:`` line, so no text inside the fragment can end the event or add a field."""
    lines = _LINE_BREAK.split(html.strip())
    return (f"event: {event}\n" + "".join(f"data: {line}\n" for line in lines) + "\n").encode()


def inbox_stream(registry, render, release, disconnected=None, heartbeat=None) -> StreamBody:
    """``render()`` returns ``[(event_name, html), ...]``; it is sent on connect and again
    after each (coalesced) inbox change.

    Without ``disconnected`` (a server that cannot tell when the client has gone) the stream
    sends one snapshot and ends, so it never pins a thread for a client that left; the
    browser reconnects after the ``retry`` delay.
    """
    return StreamBody(_inbox_frames(registry, render, disconnected, heartbeat), release)


def _inbox_frames(registry, render, disconnected, heartbeat):
    heartbeat = streams.HEARTBEAT_SECONDS if heartbeat is None else heartbeat
    subscription = registry["notifier"].subscribe(INBOX_CHANNEL)
    try:
        yield b"retry: 2000\n\n"
        for name, html in render():
            yield html_frame(name, html)
        if disconnected is None:
            return
        while True:
            deadline = time.monotonic() + heartbeat
            changed = False
            while not changed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                message = subscription.get(timeout=min(streams.POLL_SLICE, remaining))
                if disconnected():
                    return
                changed = message is not None
            if not changed:
                yield b": heartbeat\n\n"
                continue
            time.sleep(COALESCE_SECONDS)
            subscription.drain()
            if disconnected():
                return
            for name, html in render():
                yield html_frame(name, html)
    finally:
        subscription.close()


def conversation_stream(
    registry, conversation_id: int, after: int, release, disconnected=None
) -> StreamBody:
    """Every event of one conversation for staff: notes, deltas and typing included.

    Without ``disconnected`` the stream ends after its first wait (see inbox_stream)."""
    return streams.event_stream(
        registry,
        conversation_id,
        after,
        release=release,
        disconnected=disconnected or (lambda: True),
        public_only=False,
        serialize=staff_event_json,
    )

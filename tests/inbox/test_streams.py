"""The staff streams over a real server: the inbox list updating live (server-rendered
partials for the htmx SSE extension) and a conversation's staff stream; plus the frame
format and the stream limits."""

from __future__ import annotations

import re

from asthron.inbox.streams import html_frame
from tests.inbox.conftest import wait_for


def test_inbox_stream_sends_escaped_partials(live_server, no_replies, http_staff, http_visitor):
    alice = http_staff(name="Alice")
    raw = RawStream(live_server, "/inbox/stream?filter=waiting", alice)
    raw.read_events(2)  # the snapshot: list and waiting
    visitor = http_visitor()
    conversation_id = visitor.open()
    visitor.send(conversation_id, "Talk to a human please <script>alert(1)</script>")
    events = raw.read_until(
        lambda name, data: name == "list" and f'data-conversation-id="{conversation_id}"' in data
    )
    name, data = events[-1]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in data and "<script>" not in data
    waiting = raw.read_until(
        lambda name, data: name == "waiting" and f'data-waiting-id="{conversation_id}"' in data
    )
    assert "1</strong> waiting for a person" in waiting[-1][1]
    # Joining takes it off the waiting filter.
    assert alice.act(conversation_id, "join")[0] == 200
    raw.read_until(lambda name, data: name == "list" and "No conversations here." in data)
    raw.close()


def test_badge_view_sends_only_the_waiting_strip(live_server, no_replies, http_staff):
    alice = http_staff()
    raw = RawStream(live_server, "/inbox/stream?view=badge", alice)
    assert [name for name, _data in raw.read_events(1)] == ["waiting"]
    raw.close()
    status, _h, body = alice.request("GET", "/inbox/stream?view=everything")
    assert status == 400


def test_conversation_stream_for_staff(live_server, no_replies, http_staff, http_visitor):
    alice, bob = http_staff(name="Alice"), http_staff(name="Bob")
    visitor = http_visitor()
    conversation_id = visitor.open()
    visitor.send(conversation_id, "hello")
    stream = alice.stream(f"/inbox/{conversation_id}/stream")
    first = stream.read_until(lambda f: f.event == "message")
    assert first[-1].data["type"] == "visitor_message" and first[-1].data["public"] is True
    bob.act(conversation_id, "notes", body="just a note")
    note = stream.read_until(lambda f: f.event == "message")[-1]
    assert note.data["type"] == "note" and note.data["public"] is False
    assert note.data["author_name"] == "Bob"
    # Resuming with Last-Event-ID sends only what came after.
    resumed = alice.server.stream(
        f"/inbox/{conversation_id}/stream",
        headers={"Cookie": alice._cookie_header(), "Last-Event-ID": str(first[-1].id)},
    )
    again = resumed.read_until(lambda f: f.event == "message")
    assert again[-1].id == note.id
    stream.close()
    resumed.close()
    # Not for visitors, not for strangers to the URL.
    status, _h, _b = visitor.server.request(
        "GET", f"/inbox/{conversation_id}/stream", None, visitor.headers
    )
    assert status in (303, 401)
    status, _h, _b = alice.request("GET", "/inbox/999999/stream")
    assert status == 404


def test_staff_streams_are_capped_per_person(live_server, no_replies, http_staff, http_visitor):
    from asthron.inbox.streams import STREAMS_PER_STAFF

    alice = http_staff()
    visitor = http_visitor()
    conversation_id = visitor.open()
    open_streams = [
        alice.stream(f"/inbox/{conversation_id}/stream") for _ in range(STREAMS_PER_STAFF)
    ]
    assert all(s.status == 200 for s in open_streams)
    refused = alice.stream(f"/inbox/{conversation_id}/stream")
    assert refused.status == 429
    refused.close()
    # Another member is not affected.
    other = http_staff().stream(f"/inbox/{conversation_id}/stream")
    assert other.status == 200
    for s in [*open_streams, other]:
        s.close()
    counter = live_server.app.registry["stream_counter"]
    wait_for(lambda: counter.total == 0, message="the slots to come back")


def test_html_frames_cannot_be_broken_out_of():
    frame = html_frame("list", "<p>a\rdata: x\r\n\r\nevent: evil\n\nb</p>").decode()
    lines = frame.split("\n")
    assert lines[0] == "event: list"
    assert all(line.startswith("data: ") for line in lines[1:-2])
    assert frame.endswith("\n\n") and frame.count("\n\n") == 1
    assert "\r" not in frame


class RawStream:
    """An SSE reader for HTML data (the shared test client parses data as JSON)."""

    def __init__(self, server, path, staff):
        import socket

        self.sock = socket.create_connection((server.host, server.port), timeout=10)
        request = (
            f"GET {path} HTTP/1.0\r\nHost: {server.host}\r\nAccept: text/event-stream\r\n"
            f"Cookie: {staff._cookie_header()}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.file = self.sock.makefile("rb")
        status = self.file.readline().decode()
        assert " 200 " in status, status
        self.headers = {}
        while line := self.file.readline().decode().strip():
            name, _, value = line.partition(":")
            self.headers[name.lower()] = value.strip()
        assert self.headers["content-type"].startswith("text/event-stream")
        assert self.headers["cache-control"] == "no-cache"

    def next_event(self):
        name, data = None, []
        while True:
            line = self.file.readline()
            assert line, "the stream ended"
            text = line.decode().rstrip("\n")
            if text == "":
                if name or data:
                    return name, "\n".join(data)
                continue
            if text.startswith(":") or text.startswith("retry:"):
                continue
            field, _, value = text.partition(": ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)

    def read_events(self, count):
        return [self.next_event() for _ in range(count)]

    def read_until(self, predicate, limit=50):
        seen = []
        for _ in range(limit):
            seen.append(self.next_event())
            if predicate(*seen[-1]):
                return seen
        raise AssertionError(f"no matching event in {seen}")

    def close(self):
        self.file.close()
        self.sock.close()


def test_html_is_rendered_per_filter(live_server, no_replies, http_staff, http_visitor):
    alice = http_staff()
    visitor = http_visitor()
    conversation_id = visitor.open()
    visitor.send(conversation_id, "plain question")
    raw = RawStream(live_server, "/inbox/stream?filter=closed", alice)
    (name, data), _waiting = raw.read_events(2)
    assert name == "list" and "No conversations here." in data
    raw.close()
    raw = RawStream(live_server, "/inbox/stream", alice)
    (name, data), _waiting = raw.read_events(2)
    assert re.search(rf'data-conversation-id="{conversation_id}"', data)
    raw.close()

"""The whole handoff over real HTTP: a waitress server in a thread, a visitor on the widget
API (with its Origin), two staff members logged in with separate cookie jars.

assistant reply → handoff request → waiting → Join → staff reply → Return → the assistant
replies again; the visitor sees every public event in order (polling and SSE) and never a
note; staff see everything on their stream."""

from __future__ import annotations

import threading

from tests.conversations.sse import is_message
from tests.inbox.conftest import AnsweringResponder, wait_for


def _types(events):
    # Lead cards (asthron.leads) may join the chat; this test is about the handoff.
    return [e["type"] for e in events if e["type"] != "card"]


class Collector:
    """Reads an SSE stream in a thread and keeps its frames."""

    def __init__(self, client):
        self.client, self.frames = client, []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            while True:
                frame = self.client.next_frame()
                if frame is None:
                    return
                self.frames.append(frame)
        except OSError:
            return

    def messages(self):
        return [f.data for f in self.frames if is_message(f)]

    def of(self, event):
        return [f.data for f in self.frames if f.event == event]

    def close(self):
        self.client.close()


def test_handoff_round_trip_over_http(
    live_server, registry, http_visitor, http_staff, stored_events
):
    registry["reply_runner"].responder = AnsweringResponder()
    visitor = http_visitor(timezone="Europe/Madrid")
    alice = http_staff(name="Alice")
    bob = http_staff(name="Bob")
    conversation_id = visitor.open()
    visitor_stream = Collector(visitor.stream(conversation_id))
    staff_stream = Collector(alice.stream(f"/inbox/{conversation_id}/stream?after=0"))

    # 1. The assistant answers the first message.
    visitor.send(conversation_id, "Do you sell teapots?")
    wait_for(
        lambda: "assistant_message" in _types(visitor.events(conversation_id)),
        message="the assistant's reply",
    )

    # 2. The visitor asks for a person: the chat waits; the reason is a staff-only note.
    status, data = visitor.call("POST", f"/conversations/{conversation_id}/handoff", {}, 200)
    assert data["owner"] == "waiting"
    status, _h, body = alice.request("GET", "/inbox?filter=waiting")
    assert status == 200 and f'data-conversation-id="{conversation_id}"' in body.decode()

    # 3. Bob, who does not own it, reads along and leaves an internal note.
    status, data = bob.act(conversation_id, "notes", body="INTERNAL: VIP customer, be nice")
    assert status == 200, data
    assert data["event"]["public"] is False

    # 4. Alice joins; Bob's Join is refused with Alice's name; Bob cannot reply.
    status, data = alice.act(conversation_id, "join")
    assert status == 200 and data["conversation"]["owner"] == "human"
    assert data["conversation"]["assigned_name"] == "Alice"
    status, data = bob.act(conversation_id, "join")
    assert status == 409 and data["error"]["code"] == "already_owned"
    assert "Alice" in data["error"]["message"]
    status, data = bob.act(conversation_id, "reply", body="Bob butting in")
    assert status == 409 and data["error"]["code"] == "not_owner"

    # 5. Alice types (the visitor sees it) and replies.
    status, _h, _b = alice.request(
        "POST",
        f"/inbox/{conversation_id}/typing",
        {"active": "1"},
        {"X-CSRF-Token": alice.csrf},
    )
    assert status == 204
    status, data = alice.act(conversation_id, "reply", body="Hi, Alice here. Yes we do!")
    assert status == 200 and data["event"]["type"] == "staff_message"

    # 6. Alice returns the chat; the assistant answers the next message again.
    status, data = alice.act(conversation_id, "return")
    assert status == 200 and data["conversation"]["owner"] == "assistant"
    visitor.send(conversation_id, "And do you ship to Spain?")
    wait_for(
        lambda: _types(visitor.events(conversation_id)).count("assistant_message") == 2,
        message="the assistant's second reply",
    )

    expected = [
        ("visitor_message", "Do you sell teapots?"),
        ("assistant_message", None),
        ("system", "A person from our team will join this chat shortly."),
        ("system", "Alice joined the chat"),
        ("staff_message", "Hi, Alice here. Yes we do!"),
        ("system", "Alice returned the chat to the assistant"),
        ("visitor_message", "And do you ship to Spain?"),
        ("assistant_message", None),
    ]
    # Nobody is online in this test, so the waiting message may be the "leave your email" one.
    polled = [e for e in visitor.events(conversation_id) if e["type"] != "card"]
    assert _types(polled) == [t for t, _ in expected]
    for event, (_type, body) in zip(polled, expected, strict=True):
        if body and event["type"] != "system":
            assert event["body"] == body
    assert [e["body"] for e in polled if e["type"] == "system"][1:] == [
        "Alice joined the chat",
        "Alice returned the chat to the assistant",
    ]
    ids = [e["id"] for e in visitor.events(conversation_id)]
    assert ids == sorted(ids)

    # The SSE stream delivered the same public events, in the same order, and the typing.
    wait_for(lambda: len(visitor_stream.messages()) >= len(polled), message="the stream")
    streamed = visitor_stream.messages()
    assert [e["id"] for e in streamed] == ids
    typing = [t for t in visitor_stream.of("typing") if t.get("author") == "staff"]
    assert typing and typing[0] == {
        "kind": "typing",
        "author": "staff",
        "name": "Alice",
        "active": True,
    }

    # Never a note, in any visitor-facing payload.
    everything = repr(polled) + repr([f.data for f in visitor_stream.frames])
    assert "INTERNAL" not in everything and "Handoff requested" not in everything
    assert all(e["type"] != "note" for e in polled + streamed)

    # Staff saw everything: the notes (the handoff reason and Bob's) among them.
    wait_for(
        lambda: len(staff_stream.messages()) >= len(stored_events(conversation_id)),
        message="the staff stream",
    )
    staff_seen = staff_stream.messages()
    assert [e["id"] for e in staff_seen] == [row[0] for row in stored_events(conversation_id)]
    notes = [e for e in staff_seen if e["type"] == "note"]
    assert [n["public"] for n in notes] == [False, False]
    assert notes[1]["body"] == "INTERNAL: VIP customer, be nice"
    assert staff_stream.of("delta"), "the assistant's reply streamed to staff as deltas"
    visitor_stream.close()
    staff_stream.close()

import time


def test_message_gets_a_builtin_reply(visitor):
    conversation = visitor.open()
    sent = visitor.send(conversation["id"], "Hello there")
    assert sent.status_int == 201
    deadline = time.monotonic() + 10
    events = []
    while time.monotonic() < deadline:
        events = visitor.events(conversation["id"]).json["events"]
        if any(e["type"] == "assistant_message" for e in events):
            break
        time.sleep(0.05)
    types = [e["type"] for e in events]
    assert types == ["visitor_message", "assistant_message"]
    # An empty knowledge base: the built-in provider says so and offers a person.
    assert "person on our team" in events[1]["body"]

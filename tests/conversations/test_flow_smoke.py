from asthron.realtime import conversation_channel
from tests.fixtures.waiting import wait_for


def test_message_gets_a_builtin_reply(visitor, registry):
    conversation = visitor.open()
    with registry["notifier"].subscribe(conversation_channel(conversation["id"])) as updates:
        sent = visitor.send(conversation["id"], "Hello there")
        assert sent.status_int == 201

        def replied():
            events = visitor.events(conversation["id"]).json["events"]
            return events if any(e["type"] == "assistant_message" for e in events) else None

        events = wait_for(replied, "the assistant's reply", wake=updates)
    types = [e["type"] for e in events]
    assert types == ["visitor_message", "assistant_message"]
    # An empty knowledge base: the built-in provider says so and offers a person.
    assert "person on our team" in events[1]["body"]

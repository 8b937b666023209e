"""Replies going back through the channel: text split to the channel's limit, retries that
never send a part twice (a 500, a hanging Graph API), permanent errors, WhatsApp's 24-hour
window and approved templates, and a WhatsApp chat handed to a person whose reply goes out."""

from __future__ import annotations

import sqlalchemy as sa

from asthron.audit.models import AuditEntry
from asthron.audit.service import Actor
from asthron.channels.models import ChannelContact
from asthron.channels.outbound import split_text
from asthron.conversations import service as conversations
from asthron.conversations.models import Conversation, ConversationEvent, Visitor
from asthron.jobs.models import OutboxItem
from asthron.leads import capture
from tests.channels.conftest import PHONE_NUMBER_ID, WA_ID, hours_ago, wa_text
from tests.conftest import csrf_from
from tests.fixtures.waiting import wait_for


def test_split_text_cuts_at_paragraphs_sentences_and_words():
    assert split_text("short", 10) == ["short"]
    text = "First paragraph here.\n\nSecond one is a bit longer than that."
    parts = split_text(text, 30)
    assert parts[0] == "First paragraph here."
    assert all(len(p) <= 30 for p in parts)
    assert " ".join(parts).split() == text.split()
    words = "word " * 500
    parts = split_text(words, 1000)
    assert all(len(p) <= 1000 for p in parts) and all(not p.endswith("wor") for p in parts)
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def _conversation_id(run_in_tm) -> int:
    return run_in_tm(lambda db: db.scalar(sa.select(Conversation.id)))


def _settled(run_in_tm):
    """The send items' attempts so far, once none is leased (an attempt has finished)."""

    def read(db):
        items = list(db.scalars(sa.select(OutboxItem).where(OutboxItem.kind == "channels.send")))
        if not items or any(i.leased_until is not None or i.attempts == 0 for i in items):
            return None
        return [(i.state, i.attempts) for i in items]

    return run_in_tm(read)


def _staff_says(run_in_tm, text: str) -> int:
    def write(db):
        conversation = db.scalar(sa.select(Conversation))
        return conversations.append_event(db, conversation, "staff_message", text).id

    return run_in_tm(write)


def test_a_500_is_retried_and_the_message_sent_once(
    connect, deliver, run_in_tm, graph, channel_messages, retry_now
):
    connection_id, _ = connect()
    graph.replies = ["500", "ok"]
    deliver(connection_id, wa_text("Hello"))
    assert wait_for(lambda: _settled(run_in_tm), "the first attempt") == [("pending", 1)]
    assert channel_messages()[0]["status"] == "queued"
    retry_now()
    assert _settled(run_in_tm) == [("done", 2)]
    sends = graph.sends()
    assert len(sends) == 2 and sends[0].body == sends[1].body
    rows = channel_messages()
    assert len(rows) == 1 and rows[0]["status"] == "sent" and rows[0]["external_id"]
    # Nothing is left to do: another sweep sends nothing again.
    retry_now()
    assert len(graph.sends()) == 2


def test_a_hanging_graph_api_times_out_and_is_retried(
    connect, deliver, run_in_tm, graph, channel_messages, retry_now
):
    connection_id, _ = connect()
    graph.replies = [("hang", 3), "ok"]
    deliver(connection_id, wa_text("Hello"))
    wait_for(lambda: _settled(run_in_tm), "the attempt that timed out", timeout=20)
    error = run_in_tm(
        lambda db: db.scalar(
            sa.select(OutboxItem.last_error).where(OutboxItem.kind == "channels.send")
        )
    )
    assert "did not answer within 1 s" in error
    retry_now()
    assert channel_messages()[0]["status"] == "sent"


def test_a_graph_error_fails_the_message_with_graphs_own_words(
    connect, deliver, run_in_tm, graph, channel_messages
):
    connection_id, _ = connect()
    graph.replies = [("error", 100, "(#100) Invalid parameter")]
    deliver(connection_id, wa_text("Hello"))
    assert wait_for(lambda: _settled(run_in_tm), "the failed attempt") == [("failed", 1)]
    row = channel_messages()[0]
    assert row["status"] == "failed" and "(#100) Invalid parameter" in row["error"]


def test_a_long_reply_is_split_and_a_retry_resends_only_the_missing_part(
    connect, deliver, run_in_tm, graph, channel_messages, retry_now
):
    connection_id, _ = connect()
    deliver(connection_id, wa_text("Hello"))
    wait_for(lambda: graph.sends(), "the assistant's reply")
    wait_for(lambda: _settled(run_in_tm), "the reply's item")
    first_sends = len(graph.sends())
    graph.replies = ["ok", "500", "ok"]
    long_text = ("This sentence is about our opening hours. " * 100).strip()  # 4,300 chars
    event_id = _staff_says(run_in_tm, long_text)
    wait_for(
        lambda: [m for m in channel_messages() if m["event_id"] == event_id and m["external_id"]],
        "the first part",
    )
    retry_now()
    parts = [m for m in channel_messages() if m["event_id"] == event_id]
    assert [m["part"] for m in parts] == [0, 1]
    assert all(m["status"] == "sent" for m in parts)
    bodies = [s.body["text"]["body"] for s in graph.sends()[first_sends:]]
    # Part 0 once, part 1 twice (the 500, then the retry).
    assert len(bodies) == 3 and bodies[1] == bodies[2] and bodies[0] != bodies[1]
    assert all(len(b) <= 4096 for b in bodies)
    assert " ".join(bodies[0:2]).split() == long_text.split()


def _join(testapp, login, make_user, conversation_id):
    login(make_user("staff", name="Sam"))
    page = testapp.get(f"/inbox/{conversation_id}")
    token = csrf_from(page)
    testapp.post(f"/inbox/{conversation_id}/join", {"csrf_token": token}, status=303)
    return token


def test_whatsapp_chat_handed_off_and_the_staff_reply_goes_out(
    connect, deliver, run_in_tm, graph, testapp, login, make_user
):
    connection_id, _ = connect()
    deliver(connection_id, wa_text("I want to talk to a person please"))
    conversation_id = _conversation_id(run_in_tm)
    assert run_in_tm(lambda db: db.get(Conversation, conversation_id).owner) == "waiting"
    # The system line the visitor sees ("someone will answer…") went to WhatsApp too.
    system = run_in_tm(
        lambda db: db.scalar(sa.select(ConversationEvent).where(ConversationEvent.type == "system"))
    )
    sent = wait_for(lambda: graph.sends(), "the handoff notice")
    assert sent[0].body["text"]["body"] == system.body
    # The channel is the way back: nobody is asked for an email address there.
    assert "email" not in system.body

    token = _join(testapp, login, make_user, conversation_id)
    testapp.post(
        f"/inbox/{conversation_id}/reply",
        {"csrf_token": token, "body": "Hi Lena, Sam here. How can I help?"},
        status=303,
    )
    last = wait_for(
        lambda: [s for s in graph.sends() if "Sam here" in s.body.get("text", {}).get("body", "")],
        "the staff reply on WhatsApp",
    )[0]
    assert last.path == f"/v21.0/{PHONE_NUMBER_ID}/messages" and last.body["to"] == WA_ID

    # The inbox: a WhatsApp badge and the channel filter.
    listing = testapp.get("/inbox", {"channel": "whatsapp"})
    assert f'data-conversation-id="{conversation_id}"' in listing.text
    assert 'data-channel="whatsapp"' in listing.text
    assert (
        f'data-conversation-id="{conversation_id}"'
        not in testapp.get("/inbox", {"channel": "web"}).text
    )
    assert "Unknown channel" in testapp.get("/inbox", {"channel": "sms"}, status=400).text
    detail = testapp.get(f"/inbox/{conversation_id}")
    assert "WhatsApp" in detail.text and "Reply window" in detail.text
    assert "ev-status" in detail.text  # the delivery status beside the sent messages


def test_outside_the_24_hour_window_staff_must_send_a_template(
    connect, deliver, run_in_tm, graph, testapp, login, make_user, channel_messages
):
    connection_id, _ = connect()
    deliver(connection_id, wa_text("Hello"))
    wait_for(lambda: graph.sends(), "the assistant's reply")
    conversation_id = _conversation_id(run_in_tm)
    token = _join(testapp, login, make_user, conversation_id)

    def close_window(db):
        db.scalar(sa.select(ChannelContact)).last_inbound_at = hours_ago(25)

    run_in_tm(close_window)
    sends_before = len(graph.sends())
    refused = testapp.post(
        f"/inbox/{conversation_id}/reply",
        {"csrf_token": token, "body": "Are you still there?"},
        headers={"Accept": "application/json"},
        status=409,
    )
    assert "template" in refused.json["error"]["message"]
    staff_messages = run_in_tm(
        lambda db: db.scalar(
            sa.select(sa.func.count()).where(ConversationEvent.type == "staff_message")
        )
    )
    assert staff_messages == 0 and len(graph.sends()) == sends_before
    detail = testapp.get(f"/inbox/{conversation_id}")
    assert "Only an approved template" in detail.text and 'id="template-form"' in detail.text

    testapp.post(
        f"/inbox/{conversation_id}/template",
        {"csrf_token": token, "template_name": "Bad Name!", "template_language": "en_US"},
        status=422,
    )
    testapp.post(
        f"/inbox/{conversation_id}/template",
        {"csrf_token": token, "template_name": "order_update", "template_language": "en_US"},
        status=303,
    )
    send = wait_for(lambda: graph.sends()[sends_before:], "the template")[0]
    assert send.body["type"] == "template"
    assert send.body["template"] == {"name": "order_update", "language": {"code": "en_US"}}
    actions = run_in_tm(lambda db: [e.action for e in db.scalars(sa.select(AuditEntry))])
    assert "channel.template_send" in actions


def test_template_is_refused_on_other_channels_and_for_non_owners(
    connect, deliver, run_in_tm, testapp, login, make_user
):
    connection_id, _ = connect()
    deliver(connection_id, wa_text("Hello"))
    conversation_id = _conversation_id(run_in_tm)
    login(make_user("staff"))
    token = csrf_from(testapp.get(f"/inbox/{conversation_id}"))
    refused = testapp.post(
        f"/inbox/{conversation_id}/template",
        {"csrf_token": token, "template_name": "order_update", "template_language": "en_US"},
        status=409,
    )
    assert "join it first" in refused.text


def test_the_whatsapp_number_is_the_leads_verified_phone(connect, deliver, run_in_tm):
    connection_id, _ = connect()
    deliver(connection_id, wa_text("Hello, I am Lena"))

    def lead_of(db):
        conversation = db.scalar(sa.select(Conversation))
        visitor = db.get(Visitor, conversation.visitor_id)
        result = capture.capture(
            db,
            capture.LeadClaim(email="lena@example.com"),
            actor=Actor.cli(),
            site_id=conversation.site_id,
            conversation=conversation,
            visitor=visitor,
            source="chat",
        )
        return result.lead.phone, result.lead.email

    assert run_in_tm(lead_of) == ("+" + WA_ID, "lena@example.com")


def test_a_card_goes_out_as_its_text_fallback_and_a_card_without_one_stays(
    connect, deliver, run_in_tm, graph
):
    connection_id, _ = connect()
    deliver(connection_id, wa_text("Hello"))
    wait_for(lambda: graph.sends(), "the assistant's reply")
    wait_for(lambda: _settled(run_in_tm), "the reply's item")
    before = len(graph.sends())

    def cards(db):
        conversation = db.scalar(sa.select(Conversation))
        conversations.append_event(
            db, conversation, "card", "Widget only", data={"card": "confirm_contact"}
        )
        conversations.append_event(
            db,
            conversation,
            "card",
            "Pick a time below.",
            data={
                "card": "booking",
                conversations.CARD_FALLBACK: "Book here: https://example.com/book/k/cut",
            },
        )

    run_in_tm(cards)
    wait_for(lambda: len(graph.sends()) > before, "the card's fallback")
    bodies = [s.body["text"]["body"] for s in graph.sends()[before:]]
    assert bodies == ["Book here: https://example.com/book/k/cut"]

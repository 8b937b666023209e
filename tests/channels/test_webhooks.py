"""Meta's webhook: the verification handshake, the signature on every delivery, replays,
unknown event types, oversized bodies; inbound texts become visitor messages on the same
conversation model, and statuses never move backwards."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from asthron.channels.models import ChannelContact, ChannelInbound
from asthron.conversations.models import Conversation, ConversationEvent, Visitor
from tests.channels.conftest import (
    IG_ID,
    PAGE_ID,
    PHONE_NUMBER_ID,
    PSID,
    WA_ID,
    messaging,
    messenger_text,
    sign,
    wa_status,
    wa_text,
)
from tests.fixtures.waiting import wait_for


def _counts(run_in_tm) -> dict:
    def read(db):
        return {
            model.__tablename__: db.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (Visitor, Conversation, ConversationEvent, ChannelInbound, ChannelContact)
        }

    return run_in_tm(read)


def test_verification_echoes_the_challenge_only_for_our_token(testapp, connect):
    connection_id, verify = connect()
    url = f"/channels/meta/{connection_id}/webhook"
    ok = testapp.get(
        url,
        {"hub.mode": "subscribe", "hub.verify_token": verify, "hub.challenge": "1158201444"},
    )
    assert ok.status_int == 200 and ok.text == "1158201444"
    for params in (
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": verify, "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ):
        refused = testapp.get(url, params, status=403)
        assert "1158201444" not in refused.text
    # Another connection's token does not verify this one.
    other_id, other_verify = connect("messenger")
    testapp.get(
        url,
        {"hub.mode": "subscribe", "hub.verify_token": other_verify, "hub.challenge": "5"},
        status=403,
    )


def test_forged_or_missing_signature_is_401_and_stores_nothing(connect, deliver, run_in_tm, graph):
    connection_id, _ = connect()
    before = _counts(run_in_tm)
    body = json.dumps(wa_text("Hi")).encode()
    deliver(connection_id, None, raw=body, signature=sign(body, "another-app-secret"), status=401)
    deliver(connection_id, None, raw=body, signature="", status=401)
    deliver(connection_id, None, raw=body, signature="sha1=" + "0" * 40, status=401)
    # Signed, then altered: the signature is over the raw bytes.
    deliver(connection_id, None, raw=body.replace(b"Hi", b"Yo"), signature=sign(body), status=401)
    assert _counts(run_in_tm) == before
    assert graph.requests == []


def test_whatsapp_text_becomes_a_visitor_message_and_the_reply_goes_out(
    connect, deliver, run_in_tm, graph, channel_messages
):
    connection_id, _ = connect()
    response = deliver(connection_id, wa_text("Hello, are you open on Sundays?"))
    assert response.status_int == 200

    def state(db):
        conversation = db.scalar(sa.select(Conversation))
        visitor = db.get(Visitor, conversation.visitor_id)
        return conversation.channel, conversation.channel_thread_id, visitor.phone, visitor.name

    assert run_in_tm(state) == ("whatsapp", WA_ID, "+" + WA_ID, "Lena Vogel")
    sends = wait_for(lambda: graph.sends(), "the assistant's reply sent to WhatsApp")
    send = sends[0]
    assert send.path == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert send.headers["authorization"] == f"Bearer {graph.token}"
    assert send.body["messaging_product"] == "whatsapp" and send.body["to"] == WA_ID
    assert send.body["type"] == "text" and send.body["text"]["body"]
    rows = wait_for(lambda: [m for m in channel_messages() if m["status"] == "sent"], "sent")
    assert rows[0]["external_id"].startswith("wamid.")
    # The typing indicator (read receipt) named their message.
    typing = [r for r in graph.requests if (r.body or {}).get("status") == "read"]
    assert typing and typing[0].body["typing_indicator"] == {"type": "text"}

    stored = run_in_tm(
        lambda db: db.scalar(
            sa.select(ConversationEvent).where(ConversationEvent.type == "assistant_message")
        )
    )
    assert stored.body == send.body["text"]["body"]
    assert stored.data["channel_status"] == "sent"


def test_a_replayed_delivery_is_stored_once(connect, deliver, run_in_tm, graph):
    connection_id, _ = connect()
    payload = wa_text("Do you ship to Austria?")
    deliver(connection_id, payload, status=200)
    wait_for(lambda: graph.sends(), "the first reply")
    after_first = _counts(run_in_tm)
    deliver(connection_id, payload, status=200)
    deliver(connection_id, payload, status=200)
    assert _counts(run_in_tm) == after_first
    visitor_messages = run_in_tm(
        lambda db: db.scalar(
            sa.select(sa.func.count()).where(ConversationEvent.type == "visitor_message")
        )
    )
    assert visitor_messages == 1
    assert len(graph.sends()) == 1


def test_unknown_event_types_are_acknowledged_and_ignored(connect, deliver, run_in_tm, graph):
    connection_id, _ = connect()
    before = _counts(run_in_tm)
    unknown = [
        {"object": "user", "entry": [{"id": "1", "changes": [{"field": "feed"}]}]},
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "account_update", "value": {}}]}],
        },
        {"entry": "not a list"},
        [1, 2, 3],
        # A message meant for another phone number id than this connection's.
        json.loads(json.dumps(wa_text("Hi")).replace(PHONE_NUMBER_ID, "999999999999")),
        # A Messenger postback on a WhatsApp connection.
        messaging("page", PAGE_ID, [{"sender": {"id": PSID}, "postback": {"payload": "X"}}]),
    ]
    for payload in unknown:
        assert deliver(connection_id, payload).status_int == 200
    assert _counts(run_in_tm) == before
    assert graph.requests == []


def test_not_json_is_400(connect, deliver):
    connection_id, _ = connect()
    deliver(connection_id, None, raw=b"{not json", status=400)


@pytest.mark.app_settings(**{"channels.max_webhook_bytes": "4096"})
def test_an_oversized_delivery_is_413_and_stores_nothing(connect, deliver, run_in_tm):
    connection_id, _ = connect()
    before = _counts(run_in_tm)
    response = deliver(connection_id, wa_text("x" * 5000), status=413)
    assert "too large" in response.text
    assert _counts(run_in_tm) == before


def test_unknown_or_disabled_connection_is_404(deliver):
    deliver(999, wa_text("Hi"), status=404)


def test_statuses_only_move_forward(connect, deliver, graph, channel_messages):
    connection_id, _ = connect()
    deliver(connection_id, wa_text("Hi"))
    rows = wait_for(lambda: [m for m in channel_messages() if m["external_id"]], "a sent reply")
    wamid = rows[0]["external_id"]
    # Meta's receipts arrive out of order: read first, then the late "delivered" and "sent".
    for status in ("read", "delivered", "sent"):
        deliver(connection_id, wa_status(wamid, status), status=200)
    assert channel_messages()[0]["status"] == "read"
    # A failure reported after it was read changes nothing either.
    deliver(
        connection_id,
        wa_status(wamid, "failed", errors=[{"code": 131026, "title": "Message undeliverable"}]),
    )
    assert channel_messages()[0]["status"] == "read"


def test_a_failed_status_is_stored_with_its_error(connect, deliver, graph, channel_messages):
    connection_id, _ = connect()
    deliver(connection_id, wa_text("Hi"))
    rows = wait_for(lambda: [m for m in channel_messages() if m["external_id"]], "a sent reply")
    deliver(
        connection_id,
        wa_status(
            rows[0]["external_id"],
            "failed",
            errors=[{"code": 131026, "title": "Message undeliverable"}],
        ),
    )
    row = channel_messages()[0]
    assert row["status"] == "failed" and "131026" in row["error"]


def test_messenger_message_reply_and_receipts(connect, deliver, run_in_tm, graph, channel_messages):
    connection_id, _ = connect("messenger")
    deliver(connection_id, messenger_text("Hi there"), status=200)
    assert run_in_tm(lambda db: db.scalar(sa.select(Conversation.channel))) == "messenger"
    send = wait_for(lambda: graph.sends(), "the reply on Messenger")[0]
    assert send.path == f"/v21.0/{PAGE_ID}/messages"
    assert send.body["recipient"] == {"id": PSID} and send.body["messaging_type"] == "RESPONSE"
    assert send.body["message"]["text"]
    # Messenger showed "typing…" while the reply was prepared.
    assert any((r.body or {}).get("sender_action") == "typing_on" for r in graph.requests)
    mid = wait_for(lambda: [m for m in channel_messages() if m["external_id"]], "sent")[0][
        "external_id"
    ]
    now_ms = int(__import__("time").time() * 1000) + 1000
    deliver(
        connection_id,
        messaging(
            "page",
            PAGE_ID,
            [{"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "read": {"watermark": now_ms}}],
        ),
    )
    assert channel_messages()[0]["status"] == "read"
    deliver(
        connection_id,
        messaging(
            "page",
            PAGE_ID,
            [
                {
                    "sender": {"id": PSID},
                    "recipient": {"id": PAGE_ID},
                    "delivery": {"mids": [mid], "watermark": now_ms},
                }
            ],
        ),
    )
    assert channel_messages()[0]["status"] == "read"
    # Our own message echoed back is not a visitor message.
    echo = messaging(
        "page",
        PAGE_ID,
        [
            {
                "sender": {"id": PAGE_ID},
                "recipient": {"id": PSID},
                "message": {"mid": "m_echo", "is_echo": True, "text": "ours"},
            }
        ],
    )
    deliver(connection_id, echo, status=200)
    count = run_in_tm(
        lambda db: db.scalar(
            sa.select(sa.func.count()).where(ConversationEvent.type == "visitor_message")
        )
    )
    assert count == 1


def test_instagram_replies_through_the_page(connect, deliver, run_in_tm, graph):
    connection_id, _ = connect("instagram")
    payload = messaging(
        "instagram",
        IG_ID,
        [
            {
                "sender": {"id": "1234567890123456"},
                "recipient": {"id": IG_ID},
                "timestamp": 1762902671,
                "message": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx", "text": "Hallo"},
            }
        ],
    )
    deliver(connection_id, payload, status=200)
    assert run_in_tm(lambda db: db.scalar(sa.select(Conversation.channel))) == "instagram"
    send = wait_for(lambda: graph.sends(), "the reply on Instagram")[0]
    assert send.path == f"/v21.0/{PAGE_ID}/messages"
    assert send.body["recipient"] == {"id": "1234567890123456"}


def test_non_text_messages_are_shown_as_a_placeholder_not_dropped():
    from asthron.channels import meta

    image = wa_text("x")
    message = image["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message.update(type="image", image={"id": "1479537139650973", "mime_type": "image/jpeg"})
    [item] = meta.parse(image)
    assert isinstance(item, meta.InboundText) and item.text.startswith("[image:")
    attachment = messenger_text("")
    attachment["entry"][0]["messaging"][0]["message"] = {
        "mid": "m_att",
        "attachments": [{"type": "audio", "payload": {"url": "https://cdn.example/a.mp4"}}],
    }
    [item] = meta.parse(attachment)
    assert item.text.startswith("[audio:") and "cdn.example" not in item.text

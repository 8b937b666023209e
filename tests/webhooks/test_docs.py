"""docs/webhooks.md: a JSON Schema for every event type, which real payloads satisfy, and a
verification snippet that accepts Asthron's signatures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema

from asthron.db import utcnow
from asthron.domain_events import EVENT_KINDS
from asthron.webhooks import service, signing

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SCHEMA_RE = re.compile(r"### `([a-z.]+)`\n.*?```json\n(.*?)\n```", re.S)
SAMPLES = {
    "conversation.created": {"conversation_id": 1, "site_id": 2, "visitor_id": 3},
    "conversation.closed": {"conversation_id": 1, "site_id": 2},
    "handoff.requested": {
        "conversation_id": 1,
        "site_id": 2,
        "trigger": "visitor",
        "reason": "asked for a person",
        "someone_available": False,
    },
    "handoff.joined": {"conversation_id": 1, "site_id": 2, "user_id": 4},
    "handoff.returned": {"conversation_id": 1, "site_id": 2, "user_id": 4},
    "lead.created": {"lead_id": 5, "source": "chat", "conversation_id": None},
    "lead.qualified": {"lead_id": 5, "conversation_id": 1},
    "lead.updated": {"lead_id": 5, "change": "status", "from": "new", "to": "won"},
    "message.created": {
        "conversation_id": 1,
        "site_id": 2,
        "message_id": 7,
        "author": "assistant",
        "author_name": "Assistant",
        "text": "We open at 9.",
    },
    "booking.confirmed": {"booking_id": 6},
    "booking.rescheduled": {"booking_id": 6},
    "booking.held": {
        "booking_id": 6,
        "reference": "abc",
        "site_id": 2,
        "service_id": 7,
        "amount_due": 2000,
        "currency": "EUR",
        "description": "Haircut (deposit)",
        "pay_by": "2026-03-02T10:00:00+00:00",
        "return_url": "https://example.com/booked/abc",
        "customer_email": "ada@example.com",
        "conversation_id": None,
    },
    "booking.cancelled": {
        "booking_id": 6,
        "reference": "abc",
        "refund_percent": 50,
        "reason": "booking cancelled",
    },
    "payment.created": {
        "payment_id": 8,
        "payment_kind": "booking",
        "amount_cents": 2000,
        "currency": "eur",
        "booking_id": 6,
        "conversation_id": None,
    },
    "payment.succeeded": {
        "payment_id": 8,
        "payment_kind": "request",
        "amount_cents": 4990,
        "currency": "eur",
        "booking_id": None,
        "conversation_id": 1,
    },
    "payment.failed": {
        "payment_id": 8,
        "payment_kind": "booking",
        "booking_id": 6,
        "conversation_id": None,
    },
    "payment.expired": {
        "payment_id": 8,
        "payment_kind": "request",
        "booking_id": None,
        "conversation_id": 1,
    },
    "payment.refunded": {
        "payment_id": 8,
        "amount_cents": 1000,
        "currency": "eur",
        "refunded_cents": 1000,
        "booking_id": 6,
    },
}


def schemas() -> dict[str, dict]:
    return {kind: json.loads(text) for kind, text in SCHEMA_RE.findall(DOC.read_text())}


def test_every_event_type_has_a_schema_that_real_payloads_satisfy():
    documented = schemas()
    assert set(EVENT_KINDS) | {service.TEST_EVENT} == set(documented)
    assert set(SAMPLES) == set(EVENT_KINDS)
    for kind, data in SAMPLES.items():
        body = json.loads(service.message_body(kind, {"event_id": 9, **data}, utcnow()))
        jsonschema.validate(body, documented[kind])
    test_body = json.loads(service.message_body(service.TEST_EVENT, {"endpoint_id": 1}, utcnow()))
    jsonschema.validate(test_body, documented[service.TEST_EVENT])


def test_the_documented_snippet_verifies_our_signatures():
    code = re.search(r"## Verifying a delivery.*?```python\n(.*?)```", DOC.read_text(), re.S)
    namespace: dict = {}
    exec(code.group(1), namespace)  # noqa: S102 - our own documentation
    secret, body = signing.new_secret(), b'{"type":"lead.created"}'
    headers = signing.headers([signing.new_secret(), secret], "msg_1", body)
    namespace["verify"](secret, headers, body)
    try:
        namespace["verify"](secret, headers, body + b"x")
    except ValueError:
        pass
    else:
        raise AssertionError("a tampered body was accepted")

"""Every widget call a visitor token can repeat counts in that visitor's and address's rate
buckets: the lead form, lead cards, "talk to a person", the offline form, read markers,
consent and opening a conversation, not only messages."""

from __future__ import annotations

import pytest
import webtest

from tests.fixtures.visitors import Visitor

API = "/api/widget/v1"
IP_A, IP_B = "198.51.100.21", "198.51.100.22"


def _client(app, ip):
    return webtest.TestApp(app, extra_environ={"REMOTE_ADDR": ip})


def _calls(visitor, conversation_id):
    url = f"{API}/conversations/{conversation_id}"
    app, headers = visitor.app, visitor.headers
    return {
        "lead-form": lambda: app.post_json(f"{url}/lead-form", {}, headers=headers, status="*"),
        "handoff": lambda: app.post_json(f"{url}/handoff", {}, headers=headers, status="*"),
        "lead": lambda: app.post_json(
            f"{url}/lead", {"card_id": "x", "fields": {}}, headers=headers, status="*"
        ),
        "offline": lambda: app.post_json(
            f"{API}/offline-messages",
            {"name": "Dana", "email": "dana@example.com", "message": "hi"},
            headers=headers,
            status="*",
        ),
        "read": lambda: app.post_json(
            f"{url}/read", {"last_event_id": 0}, headers=headers, status="*"
        ),
        "consent": lambda: app.post_json(f"{API}/consent", {}, headers=headers, status="*"),
        "open": lambda: app.post_json(f"{API}/conversations", {}, headers=headers, status="*"),
    }


def _limited(response) -> bool:
    return response.status_int == 429 and response.json["error"]["code"] == "rate_limited"


# (call, how many more the visitor may make this minute with messages_per_minute = 2): state
# calls have three per message, and opening the conversation already took one of those.
ALLOWANCE = [
    ("lead-form", 2),
    ("handoff", 2),
    ("lead", 2),
    ("offline", 2),
    ("read", 5),
    ("consent", 5),
    ("open", 5),
]


@pytest.mark.app_settings(
    **{"widget.messages_per_minute": 2, "widget.messages_per_minute_per_ip": 100}
)
@pytest.mark.parametrize(("call", "allowed"), ALLOWANCE)
def test_each_call_counts_per_visitor(app, site, call, allowed):
    visitor = Visitor(_client(app, IP_A), site)
    conversation_id = visitor.open()["id"]
    make = _calls(visitor, conversation_id)[call]

    responses = [make() for _ in range(allowed + 1)]

    assert not any(_limited(r) for r in responses[:allowed]), [r.status for r in responses]
    assert _limited(responses[-1])
    assert int(responses[-1].headers["Retry-After"]) > 0
    # Another visitor has an allowance of its own.
    other = Visitor(_client(app, IP_A), site)
    assert not _limited(_calls(other, other.open()["id"])[call]())


@pytest.mark.app_settings(
    **{"widget.messages_per_minute": 100, "widget.messages_per_minute_per_ip": 3}
)
def test_the_calls_count_per_address_across_visitor_tokens(app, site):
    same_address = _client(app, IP_A)
    visitors = [Visitor(same_address, site) for _ in range(4)]
    conversations = [v.open()["id"] for v in visitors[:1]]

    # The lead form, "talk to a person" and messages share the address's message bucket.
    first = _calls(visitors[0], conversations[0])
    assert not _limited(first["lead-form"]())
    assert not _limited(visitors[0].send(conversations[0], "hello"))
    assert not _limited(first["handoff"]())
    fresh = visitors[1]
    assert _limited(_calls(fresh, 0)["offline"]())

    elsewhere = Visitor(_client(app, IP_B), site)
    assert not _limited(_calls(elsewhere, elsewhere.open()["id"])["lead-form"]())

"""The widget API over HTTP: input handling, tokens, IDOR, CORS, rate limits, offline messages
and consent. Every response is checked for the one error shape, and none may be a 500."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

import pytest
import sqlalchemy as sa
import webtest

from tests.fixtures.visitors import ORIGIN, Visitor, close_conversation

API = "/api/widget/v1"
ORIGIN_2 = "https://blog.example.net"
IP_A, IP_B, IP_C = "198.51.100.1", "198.51.100.2", "198.51.100.3"


def client(app, ip):
    return webtest.TestApp(app, extra_environ={"REMOTE_ADDR": ip})


def request(app, method, path, body=None, headers=None, raw=None):
    if raw is None and body is not None:
        raw = json.dumps(body).encode()
    response = app.request(
        path,
        method=method,
        body=raw,
        headers={"Content-Type": "application/json", **(headers or {})},
        expect_errors=True,
    )
    assert response.status_int < 500, response.body
    return response


def assert_error(response, status, code):
    assert response.status_int == status, response.body
    assert response.content_type == "application/json"
    assert response.json == {"error": {"code": code, "message": response.json["error"]["message"]}}
    assert isinstance(response.json["error"]["message"], str) and response.json["error"]["message"]


def rows(registry, sql, **params):
    with registry["db_engine"].connect() as connection:
        return connection.execute(sa.text(sql), params).all()


@pytest.fixture
def conversation(visitor):
    return visitor.open()


def body_endpoints(visitor, conversation):
    """Every endpoint that reads a JSON body, with a valid body for it."""
    conversation_url = f"{API}/conversations/{conversation['id']}"
    return [
        (f"{API}/sessions", {"site_key": visitor.site["key"]}, {"Origin": ORIGIN}),
        (f"{API}/conversations", {}, visitor.headers),
        (
            f"{conversation_url}/messages",
            {"body": "hi", "client_id": uuid.uuid4().hex},
            visitor.headers,
        ),
        (f"{conversation_url}/read", {"last_event_id": 0}, visitor.headers),
        (
            f"{API}/offline-messages",
            {"name": "Ada", "email": "ada@example.com", "message": "Hello"},
            visitor.headers,
        ),
    ]


# -- malformed input --------------------------------------------------------------------------

MALFORMED = [b"{", b"not json", b'{"a": 1,}', b"\xff\xfe{}", b"[" * 5000, b'{"a": "\\ud800"}']
NOT_OBJECTS = [b"[]", b'"text"', b"1", b"null", b"true"]


def test_malformed_or_non_object_json_is_400_everywhere(testapp, visitor, conversation, registry):
    for path, _body, headers in body_endpoints(visitor, conversation):
        for raw in MALFORMED + NOT_OBJECTS:
            response = request(testapp, "POST", path, raw=raw, headers=headers)
            assert_error(response, 400, "malformed_json")
    assert rows(registry, "SELECT id FROM conversation_events") == []
    assert len(rows(registry, "SELECT id FROM visitors")) == 1


def test_oversize_body_is_413_before_anything_is_stored(testapp, visitor, conversation, registry):
    padding = "p" * (17 * 1024)
    for path, body, headers in body_endpoints(visitor, conversation):
        response = request(testapp, "POST", path, {**body, "padding": padding}, headers)
        assert_error(response, 413, "payload_too_large")
    assert rows(registry, "SELECT id FROM conversation_events") == []
    assert len(rows(registry, "SELECT id FROM visitors")) == 1


WRONG_MESSAGE_FIELDS = [
    ("body", 5),
    ("body", None),
    ("body", ["hi"]),
    ("body", "   "),
    ("client_id", 12345678),
    ("client_id", "short"),
    ("client_id", "has spaces in it"),
    ("client_id", "x" * 65),
    ("client_id", None),
]


def test_wrong_types_are_422_or_a_miss(testapp, visitor, conversation, registry):
    messages = f"{API}/conversations/{conversation['id']}/messages"
    for field, value in WRONG_MESSAGE_FIELDS:
        body = {"body": "hello", "client_id": uuid.uuid4().hex, field: value}
        response = request(testapp, "POST", messages, body, visitor.headers)
        assert_error(response, 422, "invalid_input")
    assert rows(registry, "SELECT id FROM conversation_events") == []

    read = f"{API}/conversations/{conversation['id']}/read"
    for value in ("3", -1, 1.5, True, None):
        response = request(testapp, "POST", read, {"last_event_id": value}, visitor.headers)
        assert_error(response, 422, "invalid_input")

    for site_key in (5, None, ["x"], {"a": 1}, "short", "x" * 65):
        response = request(
            testapp, "POST", f"{API}/sessions", {"site_key": site_key}, {"Origin": ORIGIN}
        )
        assert_error(response, 404, "unknown_site")

    offline = f"{API}/offline-messages"
    for bad in ({"name": 1}, {"email": "not-an-email"}, {"email": 7}, {"message": ""}):
        body = {"name": "Ada", "email": "ada@example.com", "message": "Hi", **bad}
        assert_error(request(testapp, "POST", offline, body, visitor.headers), 422, "invalid_input")
    assert rows(registry, "SELECT id FROM conversation_events") == []


def test_text_that_no_database_stores_is_refused_not_a_500(testapp, visitor, conversation):
    messages = f"{API}/conversations/{conversation['id']}/messages"
    nul = request(
        testapp, "POST", messages, {"body": "a\x00b", "client_id": "abcdefgh"}, visitor.headers
    )
    assert_error(nul, 422, "invalid_input")
    page = request(
        testapp, "POST", f"{API}/conversations", {"page_url": "https://x/\x00"}, visitor.headers
    )
    assert_error(page, 422, "invalid_input")
    zone = request(
        testapp,
        "POST",
        f"{API}/sessions",
        {"site_key": visitor.site["key"], "timezone": "Europe/\x00"},
        {"Origin": ORIGIN},
    )
    assert_error(zone, 422, "invalid_input")


def test_bad_event_ids_in_queries_are_422(testapp, visitor, conversation):
    for value in ("abc", "-1", "1.5", "²", "1" * 19, "0x10", " 1"):
        for endpoint in ("events", "stream"):
            response = testapp.get(
                f"{API}/conversations/{conversation['id']}/{endpoint}",
                {"after": value},
                headers=visitor.headers,
                expect_errors=True,
            )
            assert_error(response, 422, "invalid_input")


def test_message_length_limit(testapp, visitor, conversation):
    messages = f"{API}/conversations/{conversation['id']}/messages"
    longest = request(
        testapp, "POST", messages, {"body": "a" * 4000, "client_id": "len-4000-ok"}, visitor.headers
    )
    assert longest.status_int == 201
    assert len(longest.json["body"]) == 4000
    too_long = request(
        testapp, "POST", messages, {"body": "a" * 4001, "client_id": "len-4001-no"}, visitor.headers
    )
    assert_error(too_long, 422, "too_long")


# -- sites and origins ------------------------------------------------------------------------


def test_unknown_site_is_404(testapp):
    response = request(
        testapp, "POST", f"{API}/sessions", {"site_key": "site_" + "a" * 24}, {"Origin": ORIGIN}
    )
    assert_error(response, 404, "unknown_site")
    config = testapp.get(
        f"{API}/config", {"site_key": "site_nothere1"}, headers={"Origin": ORIGIN}, status=404
    )
    assert_error(config, 404, "unknown_site")
    # A NUL or other stray character is a miss too, not a database error.
    config = testapp.get(
        f"{API}/config", {"site_key": "site_\x00abcdefg"}, headers={"Origin": ORIGIN}, status=404
    )
    assert_error(config, 404, "unknown_site")


def test_sessions_need_an_allowed_origin(testapp, site, registry):
    for origin in (
        None,
        "https://evil.example",
        "http://shop.example.com",
        "https://shop.example.com:8443",
        "null",
        "https://shop.example.com.evil.example",
        "https://user@shop.example.com",
    ):
        headers = {} if origin is None else {"Origin": origin}
        response = request(testapp, "POST", f"{API}/sessions", {"site_key": site["key"]}, headers)
        assert_error(response, 403, "origin_not_allowed")
        assert "Access-Control-Allow-Origin" not in response.headers
    assert rows(registry, "SELECT id FROM visitors") == []
    # The comparison is on the normalised origin: scheme and host case, the default port.
    response = request(
        testapp,
        "POST",
        f"{API}/sessions",
        {"site_key": site["key"]},
        {"Origin": "HTTPS://Shop.Example.COM:443"},
    )
    assert response.status_int == 201


# -- tokens -----------------------------------------------------------------------------------


def test_visitor_token_is_strong_hashed_and_never_echoed(testapp, make_site, registry):
    site = make_site()
    first = Visitor(testapp, site)
    second = Visitor(testapp, site)
    tokens = [first.token, second.token]
    assert first.session_response.status_int == 201
    assert len(set(tokens)) == 2
    for token in tokens:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        assert len(raw) * 8 >= 128

    # Only the SHA-256 is stored: no column of any visitor row holds the token.
    stored = rows(registry, "SELECT * FROM visitors ORDER BY id")
    assert len(stored) == 2
    for token, row in zip(tokens, stored, strict=True):
        values = [str(v) for v in row]
        assert not any(token in value for value in values)
        assert row._mapping["token_hash"] == hashlib.sha256(token.encode()).hexdigest()

    # No other response carries a token: not the visitor's own, not anyone else's.
    conversation = first.open()
    responses = [
        first.send(conversation["id"], "Hello"),
        first.events(conversation["id"]),
        testapp.get(f"{API}/config", headers=first.headers),
        testapp.get(f"{API}/config", {"site_key": site["key"]}, headers={"Origin": ORIGIN}),
        testapp.post(f"{API}/consent", headers=first.headers),
        testapp.post_json(
            f"{API}/conversations/{conversation['id']}/read",
            {"last_event_id": 1},
            headers=first.headers,
        ),
        testapp.post_json(
            f"{API}/offline-messages",
            {"name": "Bo", "email": "bo@example.com", "message": "Later"},
            headers=second.headers,
        ),
        testapp.post_json(f"{API}/conversations", {}, headers=second.headers),
    ]
    for response in responses:
        assert response.status_int in (200, 201)
        for token in tokens:
            assert token not in response.text
            assert token not in str(response.headers)
    # The session response shows the token once, with the site it is bound to.
    assert first.session_response.json["site_key"] == site["key"]


def test_missing_or_invalid_bearer_is_401_everywhere(testapp, visitor, conversation):
    conversation_url = f"{API}/conversations/{conversation['id']}"
    calls = [
        ("POST", f"{API}/consent", {}),
        ("POST", f"{API}/conversations", {}),
        ("POST", f"{conversation_url}/messages", {"body": "x", "client_id": "abcdefgh"}),
        ("GET", f"{conversation_url}/events", None),
        ("GET", f"{conversation_url}/stream", None),
        ("POST", f"{conversation_url}/read", {"last_event_id": 0}),
        ("POST", f"{conversation_url}/handoff", None),
        ("POST", f"{conversation_url}/lead-form", None),
        ("POST", f"{conversation_url}/lead", {"fields": {"email": "a@example.com"}}),
        (
            "POST",
            f"{API}/offline-messages",
            {"name": "A", "email": "a@example.com", "message": "m"},
        ),
    ]
    for authorization in (
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic abcdefghijklmnopqrstuvwxyz",
        "Token abc",
        "Bearer " + "x" * 43,
        "Bearer " + "x" * 500,
        "Bearer short",
        visitor.token,  # the token without its scheme
    ):
        headers = {"Origin": ORIGIN}
        if authorization is not None:
            headers["Authorization"] = authorization
        extra = [("GET", f"{API}/config", None)] if authorization else []
        for method, path, body in calls + extra:
            assert_error(request(testapp, method, path, body, headers), 401, "unauthenticated")


# -- idempotency and closed conversations -----------------------------------------------------


def test_same_client_id_twice_returns_the_same_event_and_stores_one_row(
    testapp, visitor, conversation, registry
):
    client_id = uuid.uuid4().hex
    first = visitor.send(conversation["id"], "Only once", client_id=client_id)
    second = visitor.send(conversation["id"], "Only once", client_id=client_id)
    changed = visitor.send(conversation["id"], "Different text", client_id=client_id)
    assert (first.status_int, second.status_int, changed.status_int) == (201, 200, 200)
    assert first.json == second.json == changed.json
    assert first.json["body"] == "Only once"
    stored = rows(registry, "SELECT id FROM conversation_events WHERE client_id = :c", c=client_id)
    assert [row.id for row in stored] == [first.json["id"]]


def test_closed_conversation_refuses_messages_and_a_new_one_opens(
    testapp, visitor, conversation, run_in_tm, registry
):
    close_conversation(run_in_tm, conversation["id"])
    response = visitor.send(conversation["id"], "Anyone?")
    assert_error(response, 409, "conversation_closed")
    assert rows(registry, "SELECT id FROM conversation_events") == []
    reopened = testapp.post_json(f"{API}/conversations", {}, headers=visitor.headers)
    assert reopened.status_int == 201
    assert reopened.json["id"] != conversation["id"]
    assert reopened.json["status"] == "open"
    # The old conversation's history is still the visitor's to read.
    old = visitor.events(conversation["id"])
    assert old.status_int == 200 and old.json["events"] == []


# -- IDOR: other visitors and other sites get 404 -------------------------------------------


def test_other_visitors_get_404_on_every_endpoint_of_a_conversation(testapp, make_site, registry):
    site_1, site_2 = make_site(name="One"), make_site(name="Two", origins=(ORIGIN_2,))
    owner = Visitor(testapp, site_1)
    same_site = Visitor(testapp, site_1)
    other_site = Visitor(testapp, site_2, ORIGIN_2)
    conversation = owner.open()
    sent = owner.send(conversation["id"], "Private: my address is 1 Main St")
    assert sent.status_int == 201
    url = f"{API}/conversations/{conversation['id']}"
    for intruder in (same_site, other_site):
        for method, path, body in [
            ("POST", f"{url}/messages", {"body": "hijack", "client_id": "intruder-1"}),
            ("GET", f"{url}/events", None),
            ("GET", f"{url}/events?after=0&wait=1", None),
            ("GET", f"{url}/stream", None),
            ("POST", f"{url}/read", {"last_event_id": sent.json["id"]}),
            ("POST", f"{url}/handoff", None),
            ("POST", f"{url}/lead-form", None),
            ("POST", f"{url}/lead", {"fields": {"email": "intruder@example.com"}}),
        ]:
            response = request(testapp, method, path, body, intruder.headers)
            assert_error(response, 404, "not_found")
            assert "1 Main St" not in response.text
    # The same for ids that do not exist or are not ids at all.
    for bad_id in ("999999", "0", "abc", "1e3", "99999999999999999999", "%C2%B2", "-1"):
        for method, suffix, body in [
            ("GET", "events", None),
            ("GET", "stream", None),
            ("POST", "messages", {"body": "x", "client_id": "abcdefgh"}),
            ("POST", "read", {"last_event_id": 0}),
            ("POST", "handoff", None),
            ("POST", "lead-form", None),
            ("POST", "lead", {"fields": {"email": "a@example.com"}}),
        ]:
            response = request(
                testapp, method, f"{API}/conversations/{bad_id}/{suffix}", body, owner.headers
            )
            assert_error(response, 404, "not_found")
    events = rows(
        registry,
        "SELECT conversation_id, body FROM conversation_events WHERE type = 'visitor_message'",
    )
    assert [tuple(e) for e in events] == [(conversation["id"], "Private: my address is 1 Main St")]
    assert len(rows(registry, "SELECT id FROM conversations")) == 1


def test_a_token_is_bound_to_its_site_origins(testapp, make_site):
    site_1, _site_2 = make_site(name="One"), make_site(name="Two", origins=(ORIGIN_2,))
    visitor = Visitor(testapp, site_1)
    conversation = visitor.open()
    headers = {**visitor.headers, "Origin": ORIGIN_2}
    url = f"{API}/conversations/{conversation['id']}"
    for method, path, body in [
        ("GET", f"{API}/config", None),
        ("POST", f"{API}/consent", {}),
        ("POST", f"{API}/conversations", {}),
        ("POST", f"{url}/messages", {"body": "x", "client_id": "abcdefgh"}),
        ("GET", f"{url}/events", None),
        ("GET", f"{url}/stream", None),
        ("POST", f"{url}/read", {"last_event_id": 0}),
        ("POST", f"{url}/handoff", None),
        ("POST", f"{url}/lead-form", None),
        ("POST", f"{url}/lead", {"fields": {"email": "a@example.com"}}),
        (
            "POST",
            f"{API}/offline-messages",
            {"name": "A", "email": "a@example.com", "message": "m"},
        ),
    ]:
        response = request(testapp, method, path, body, headers)
        assert_error(response, 403, "origin_not_allowed")
        assert "Access-Control-Allow-Origin" not in response.headers
    # A session for site 1 cannot be started from site 2's pages either.
    response = request(
        testapp, "POST", f"{API}/sessions", {"site_key": site_1["key"]}, {"Origin": ORIGIN_2}
    )
    assert_error(response, 403, "origin_not_allowed")


# -- CORS -------------------------------------------------------------------------------------


def test_cors_echoes_only_allowed_origins(testapp, visitor, conversation):
    response = testapp.get(f"{API}/config", headers=visitor.headers)
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in response.headers["Vary"]
    assert response.headers["Access-Control-Allow-Origin"] != "*"
    sent = visitor.send(conversation["id"], "cors")
    assert sent.headers["Access-Control-Allow-Origin"] == ORIGIN
    # Error responses a site's page may read still carry the echo; foreign origins never do.
    missing = request(testapp, "GET", f"{API}/conversations/999999/events", headers=visitor.headers)
    assert missing.headers["Access-Control-Allow-Origin"] == ORIGIN
    evil = request(
        testapp,
        "GET",
        f"{API}/config",
        headers={**visitor.headers, "Origin": "https://evil.example"},
    )
    assert "Access-Control-Allow-Origin" not in evil.headers
    # Without an Origin (a server-side client) there is nothing to echo.
    plain = testapp.get(
        f"{API}/config", headers={"Authorization": visitor.headers["Authorization"]}
    )
    assert "Access-Control-Allow-Origin" not in plain.headers


def test_preflight_answers_allowed_origins_only(testapp, site):
    for path in ("/sessions", "/conversations/1/messages", "/conversations/1/stream"):
        allowed = testapp.options(
            API + path,
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert allowed.status_int == 204
        assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
        methods = {m.strip() for m in allowed.headers["Access-Control-Allow-Methods"].split(",")}
        assert {"GET", "POST"} <= methods
        allowed_headers = {
            h.strip().lower() for h in allowed.headers["Access-Control-Allow-Headers"].split(",")
        }
        assert {"authorization", "content-type", "last-event-id"} <= allowed_headers
        for origin in ("https://evil.example", "null", "https://shop.example.com.evil.example"):
            refused = testapp.options(
                API + path,
                headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
                expect_errors=True,
            )
            assert refused.status_int < 500
            assert "Access-Control-Allow-Origin" not in refused.headers
            assert "Access-Control-Allow-Methods" not in refused.headers


# -- rate limits ------------------------------------------------------------------------------


def assert_rate_limited(response):
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.app_settings(**{"widget.messages_per_minute": 3})
def test_messages_per_minute_per_visitor(app, site, registry):
    visitor = Visitor(client(app, IP_A), site)
    neighbour = Visitor(client(app, IP_A), site)
    conversation = visitor.open()
    for n in range(3):
        assert visitor.send(conversation["id"], f"m{n}").status_int == 201
    limited = visitor.send(conversation["id"], "one too many")
    assert_rate_limited(limited)
    assert limited.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert (
        len(rows(registry, "SELECT id FROM conversation_events WHERE type = 'visitor_message'"))
        == 3
    )
    # The limit is the visitor's own: another visitor (same address) is not affected.
    other = neighbour.open()
    assert neighbour.send(other["id"], "me too").status_int == 201


@pytest.mark.app_settings(
    **{"widget.messages_per_minute": 10, "widget.messages_per_minute_per_ip": 4}
)
def test_messages_per_minute_per_ip(app, site):
    first = Visitor(client(app, IP_A), site)
    second = Visitor(client(app, IP_A), site)
    elsewhere = Visitor(client(app, IP_B), site)
    one, two, three = first.open(), second.open(), elsewhere.open()
    for n in range(3):
        assert first.send(one["id"], f"m{n}").status_int == 201
    assert second.send(two["id"], "fourth from this address").status_int == 201
    assert_rate_limited(second.send(two["id"], "fifth from this address"))
    assert_rate_limited(first.send(one["id"], "sixth"))
    assert elsewhere.send(three["id"], "another address").status_int == 201


@pytest.mark.app_settings(**{"widget.sessions_per_hour_per_ip": 2})
def test_sessions_per_ip(app, site, registry):
    same_ip = client(app, IP_A)
    for _ in range(2):
        Visitor(same_ip, site)
    response = request(
        same_ip, "POST", f"{API}/sessions", {"site_key": site["key"]}, {"Origin": ORIGIN}
    )
    assert_rate_limited(response)
    assert "visitor_token" not in response.text
    assert len(rows(registry, "SELECT id FROM visitors")) == 2
    assert Visitor(client(app, IP_B), site).session_response.status_int == 201


@pytest.mark.app_settings(
    **{"widget.sessions_per_hour_per_site": 2, "widget.sessions_per_hour_per_ip": 100}
)
def test_sessions_per_site(app, make_site):
    busy, quiet = make_site(name="Busy"), make_site(name="Quiet", origins=(ORIGIN_2,))
    Visitor(client(app, IP_A), busy)
    Visitor(client(app, IP_B), busy)
    response = request(
        client(app, IP_C), "POST", f"{API}/sessions", {"site_key": busy["key"]}, {"Origin": ORIGIN}
    )
    assert_rate_limited(response)
    assert Visitor(client(app, IP_C), quiet, ORIGIN_2).session_response.status_int == 201


# -- offline messages and consent -------------------------------------------------------------


def test_offline_message_waits_for_staff_in_the_inbox(
    testapp, app, visitor, make_user, login, registry
):
    response = testapp.post_json(
        f"{API}/offline-messages",
        {"name": "Grace Hopper", "email": "Grace@Example.com", "message": "Please call me back"},
        headers=visitor.headers,
    )
    assert response.status_int == 201
    assert response.json["conversation"]["owner"] == "waiting"
    assert response.json["event"]["type"] == "visitor_message"
    assert response.json["event"]["data"] == {"offline": True}  # the email stays staff-side
    assert "grace@example.com" not in response.text
    (stored,) = rows(registry, "SELECT name, email FROM visitors")
    assert tuple(stored) == ("Grace Hopper", "grace@example.com")

    staff = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.77"})
    login(make_user("staff"), app=staff)
    page = staff.get("/inbox")
    assert "Grace Hopper" in page.text
    assert "waiting" in page.text
    assert "Please call me back" in page.text
    detail = staff.get(f"/inbox/{response.json['conversation']['id']}")
    assert "Please call me back" in detail.text
    # Visitors never reach the inbox.
    anonymous = testapp.get("/inbox", headers=visitor.headers, expect_errors=True)
    assert anonymous.status_int in (302, 303, 401)


def test_consent_is_recorded_once_with_a_timestamp(testapp, make_site, registry):
    site = make_site(privacy_notice="We keep chats for 30 days.")
    visitor = Visitor(testapp, site)
    assert rows(registry, "SELECT consent_at FROM visitors")[0].consent_at is None
    first = testapp.post(f"{API}/consent", headers=visitor.headers)
    assert first.json["consent_at"].endswith("Z")
    (row,) = rows(registry, "SELECT consent_at, consent_notice FROM visitors")
    assert row.consent_at is not None
    assert row.consent_notice == "We keep chats for 30 days."
    again = testapp.post(f"{API}/consent", headers=visitor.headers)
    assert again.json == first.json

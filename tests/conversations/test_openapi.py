"""The OpenAPI document: valid OpenAPI 3.1, complete, and true of the real responses."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa
import webtest
from pyramid.interfaces import IRoutesMapper

from tests.conversations.openapi_check import ApiSpec
from tests.fixtures.visitors import ORIGIN, Visitor

API = "/api/widget/v1"
OPENAPI = f"{API}/openapi.json"
OTHER_ORIGIN = "https://other.example.org"


def test_document_is_valid_openapi_3_1(testapp):
    response = testapp.get(OPENAPI)
    assert response.content_type == "application/json"
    document = response.json
    assert document["openapi"] == "3.1.0"
    from openapi_spec_validator import validate

    validate(document)  # raises on an invalid document

    schemes = document["components"]["securitySchemes"]
    assert schemes["visitorToken"] == {
        **schemes["visitorToken"],
        "type": "http",
        "scheme": "bearer",
    }
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert set(error["properties"]["error"]["required"]) == {"code", "message"}
    # Every operation documents its errors with the one error schema.
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response_doc in operation["responses"].items():
                if int(status) >= 400:
                    schema = response_doc["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (path, method)


def test_every_widget_route_is_documented(app, testapp):
    document = testapp.get(OPENAPI).json
    mapper = app.registry.getUtility(IRoutesMapper)
    patterns = {
        route.name: route.pattern
        for route in mapper.get_routes()
        if route.name.startswith("widget_api.") and route.name != "widget_api.preflight"
    }
    assert len(patterns) >= 11
    assert set(document["paths"]) == set(patterns.values())
    stream = document["paths"][f"{API}/conversations/{{conversation_id}}/stream"]["get"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    events = document["paths"][f"{API}/conversations/{{conversation_id}}/events"]["get"]
    assert {p["name"] for p in events["parameters"]} >= {"after", "wait", "conversation_id"}
    # Endpoints that need the visitor token say so; the session and the document do not.
    assert document["security"] == [{"visitorToken": []}]
    assert document["paths"][f"{API}/sessions"]["post"]["security"] == []


def test_event_data_admits_only_what_visitors_may_see(testapp):
    from asthron.conversations.service import PUBLIC_DATA_KEYS

    spec = ApiSpec(testapp.get(OPENAPI).json)
    data = spec.document["components"]["schemas"]["Event"]["properties"]["data"]
    assert set(data["propertyNames"]["enum"]) == PUBLIC_DATA_KEYS
    event = {
        "id": 1,
        "conversation_id": 1,
        "type": "assistant_message",
        "author": "assistant",
        "author_name": "Assistant",
        "body": "Hi",
        "created_at": "2026-01-01T00:00:00Z",
        "client_id": None,
        "data": {"reply_id": "abc"},
    }
    spec.check_schema("Event", event)
    # Staff-side details (which model answered) must never fit the visitor's schema.
    with pytest.raises(AssertionError):
        spec.check_schema("Event", {**event, "data": {"reply_id": "abc", "responder": "x"}})
    with pytest.raises(AssertionError):
        spec.check_schema("Event", {**event, "type": "note"})


def test_every_live_stream_frame_is_documented(testapp):
    from asthron.conversations.streams import LIVE_KINDS

    document = testapp.get(OPENAPI).json
    schemas = document["components"]["schemas"]
    documented = {
        schema["properties"]["kind"]["const"]
        for name, schema in schemas.items()
        if name.startswith("Stream")
    }
    assert documented == set(LIVE_KINDS)
    stream = document["paths"][f"{API}/conversations/{{conversation_id}}/stream"]["get"]
    description = stream["responses"]["200"]["description"]
    assert all(f"event: {kind}" in description for kind in LIVE_KINDS)


def _client(app, ip):
    return webtest.TestApp(app, extra_environ={"REMOTE_ADDR": ip})


@pytest.mark.app_settings(**{"widget.messages_per_minute": 3, "widget.sessions_per_hour_per_ip": 3})
def test_real_responses_match_the_document(app, testapp, make_site, run_in_tm, registry):
    spec = ApiSpec(testapp.get(OPENAPI).json)
    spec.check_webtest(testapp.get(OPENAPI))
    site = make_site(origins=(ORIGIN,), privacy_notice="We keep chats for 30 days.")
    other_site = make_site(name="Other", origins=(OTHER_ORIGIN,))

    def call(method, path, body=None, headers=None, raw=None, client=None):
        client = client or testapp
        if raw is None and body is not None:
            raw = json.dumps(body).encode()
        response = client.request(
            path,
            method=method,
            body=raw,
            headers={"Content-Type": "application/json", **(headers or {})},
            expect_errors=True,
        )
        assert response.status_int < 500, response.body
        spec.check_webtest(response)
        return response

    # -- sessions (one client per address, so the per-IP limit is reached on purpose) -------
    sessions_client = _client(app, "192.0.2.50")
    created = call(
        "POST",
        f"{API}/sessions",
        {"site_key": site["key"], "timezone": "Europe/Paris", "page_url": ORIGIN + "/shop"},
        {"Origin": ORIGIN},
        client=sessions_client,
    )
    assert created.status_int == 201
    call("POST", f"{API}/sessions", raw=b"{nope", headers={"Origin": ORIGIN})
    call("POST", f"{API}/sessions", {"site_key": site["key"]})  # no Origin: 403
    call("POST", f"{API}/sessions", {"site_key": "site_unknown00"}, {"Origin": ORIGIN})
    call("POST", f"{API}/sessions", raw=b" " * (17 * 1024), headers={"Origin": ORIGIN})
    refused = call(  # a signed identity, but the site has no identity secret: 422
        "POST",
        f"{API}/sessions",
        {"site_key": site["key"], "identity": {"email": "a@example.com", "signature": "0" * 64}},
        {"Origin": ORIGIN},
        client=_client(app, "192.0.2.52"),
    )
    assert refused.json["error"]["code"] == "invalid_identity"
    for _ in range(3):
        last = call(
            "POST",
            f"{API}/sessions",
            {"site_key": site["key"]},
            {"Origin": ORIGIN},
            client=sessions_client,
        )
    assert last.status_int == 429

    visitor = Visitor(testapp, site)
    other = Visitor(_client(app, "192.0.2.51"), other_site, OTHER_ORIGIN)
    auth = visitor.headers
    wrong_origin = {**auth, "Origin": OTHER_ORIGIN}
    bad_token = {"Authorization": "Bearer " + "x" * 43, "Origin": ORIGIN}

    # -- config ---------------------------------------------------------------------------
    call("GET", f"{API}/config?site_key={site['key']}", headers={"Origin": ORIGIN})
    call("GET", f"{API}/config", headers=auth)
    call("GET", f"{API}/config", headers=bad_token)
    call("GET", f"{API}/config", headers=wrong_origin)
    call("GET", f"{API}/config?site_key=site_missing0", headers={"Origin": ORIGIN})
    call("GET", f"{API}/config?site_key=%ff%fe", headers={"Origin": ORIGIN})

    # -- consent --------------------------------------------------------------------------
    call("POST", f"{API}/consent", headers=auth)
    call("POST", f"{API}/consent", headers=bad_token)
    call("POST", f"{API}/consent", headers=wrong_origin)

    # -- conversations --------------------------------------------------------------------
    first = call("POST", f"{API}/conversations", {}, auth)
    assert first.status_int == 201
    assert call("POST", f"{API}/conversations", {}, auth).status_int == 200
    call("POST", f"{API}/conversations", raw=b"[1]", headers=auth)
    call("POST", f"{API}/conversations", {"page_url": {"href": ORIGIN}}, auth)  # 422
    call("POST", f"{API}/conversations", {}, {"Origin": ORIGIN})
    call("POST", f"{API}/conversations", {}, wrong_origin)
    call("POST", f"{API}/conversations", raw=b"{" + b" " * (17 * 1024) + b"}", headers=auth)
    conversation_id = first.json["id"]
    conversation = f"{API}/conversations/{conversation_id}"

    # -- messages -------------------------------------------------------------------------
    client_id = uuid.uuid4().hex
    sent = call("POST", f"{conversation}/messages", {"body": "Hi", "client_id": client_id}, auth)
    assert sent.status_int == 201
    again = call("POST", f"{conversation}/messages", {"body": "Hi", "client_id": client_id}, auth)
    assert again.status_int == 200
    call("POST", f"{conversation}/messages", raw=b"not json", headers=auth)
    call("POST", f"{conversation}/messages", {"body": "x", "client_id": "abcdefgh1"}, bad_token)
    call("POST", f"{conversation}/messages", {"body": "x", "client_id": "abcdefgh1"}, wrong_origin)
    call(
        "POST",
        f"{API}/conversations/{conversation_id + 1000}/messages",
        {"body": "x", "client_id": "abcdefgh1"},
        auth,
    )
    call("POST", f"{conversation}/messages", raw=b"{" + b" " * (17 * 1024) + b"}", headers=auth)
    too_long = call(
        "POST", f"{conversation}/messages", {"body": "y" * 4001, "client_id": "abcdefgh2"}, auth
    )
    assert too_long.json["error"]["code"] == "too_long"
    limited = call(
        "POST", f"{conversation}/messages", {"body": "z", "client_id": "abcdefgh3"}, auth
    )
    assert limited.status_int == 429

    # -- events ---------------------------------------------------------------------------
    listed = call("GET", f"{conversation}/events?after=0", headers=auth)
    assert listed.json["events"]
    call("GET", f"{conversation}/events?after=999999", headers=auth)
    call("GET", f"{conversation}/events?after=%ff", headers=auth)
    call("GET", f"{conversation}/events", headers=bad_token)
    call("GET", f"{conversation}/events", headers=wrong_origin)
    call("GET", f"{conversation}/events", headers=other.headers)
    call("GET", f"{conversation}/events?after=-1", headers=auth)

    # -- stream (errors only here; test_streams reads real streams against the schemas) ----
    call("GET", f"{conversation}/stream?after=%ff", headers=auth)
    call("GET", f"{conversation}/stream", headers=bad_token)
    call("GET", f"{conversation}/stream", headers=wrong_origin)
    call("GET", f"{conversation}/stream", headers=other.headers)
    call("GET", f"{conversation}/stream?after=x", headers=auth)
    counter = registry["stream_counter"]
    visitor_id = _visitor_id(run_in_tm, visitor.token)
    settings = registry["app_settings"]
    for _ in range(settings.widget_max_streams_per_visitor):
        assert counter.acquire(visitor_id, settings.widget_max_streams_per_visitor, 100)
    try:
        full = call("GET", f"{conversation}/stream", headers=auth)
        assert full.json["error"]["code"] == "too_many_streams"
    finally:
        for _ in range(settings.widget_max_streams_per_visitor):
            counter.release(visitor_id)

    # -- read -----------------------------------------------------------------------------
    call("POST", f"{conversation}/read", {"last_event_id": listed.json["last_id"]}, auth)
    call("POST", f"{conversation}/read", raw=b"nope", headers=auth)
    call("POST", f"{conversation}/read", {"last_event_id": 1}, bad_token)
    call("POST", f"{conversation}/read", {"last_event_id": 1}, wrong_origin)
    call("POST", f"{conversation}/read", {"last_event_id": 1}, other.headers)
    call("POST", f"{conversation}/read", raw=b"{" + b" " * (17 * 1024) + b"}", headers=auth)
    call("POST", f"{conversation}/read", {"last_event_id": "1"}, auth)

    # -- offline messages -----------------------------------------------------------------
    offline = {"name": "Ada", "email": "ada@example.com", "message": "Call me back"}
    later = Visitor(_client(app, "192.0.2.52"), site)
    created_offline = call("POST", f"{API}/offline-messages", offline, later.headers)
    assert created_offline.status_int == 201
    call("POST", f"{API}/offline-messages", raw=b"{", headers=later.headers)
    call("POST", f"{API}/offline-messages", offline, bad_token)
    call("POST", f"{API}/offline-messages", offline, {**later.headers, "Origin": OTHER_ORIGIN})
    call("POST", f"{API}/offline-messages", raw=b"{" + b" " * (17 * 1024) + b"}", headers=auth)
    call("POST", f"{API}/offline-messages", {**offline, "email": "nope"}, later.headers)
    for _ in range(4):
        last = call("POST", f"{API}/offline-messages", offline, later.headers)
    assert last.status_int == 429

    # -- lead form and lead ---------------------------------------------------------------
    # These count in the message buckets the calls above have used up (and shown as 429).
    app.registry["rate_limiter"].reset()
    offered = call("POST", f"{conversation}/lead-form", headers=auth)
    assert offered.json["event"]["type"] == "card"
    card_id = offered.json["event"]["data"]["card_id"]
    assert call("POST", f"{conversation}/lead-form", headers=auth).json == {"event": None}
    call("POST", f"{conversation}/lead-form", headers=bad_token)
    call("POST", f"{conversation}/lead-form", headers=wrong_origin)
    call("POST", f"{conversation}/lead-form", headers=other.headers)
    app.registry["rate_limiter"].reset()
    lead = {"card_id": card_id, "fields": {"name": "Ada", "email": "ada@example.com"}}
    call("POST", f"{conversation}/lead", raw=b"{", headers=auth)
    call("POST", f"{conversation}/lead", lead, bad_token)
    call("POST", f"{conversation}/lead", lead, wrong_origin)
    call("POST", f"{conversation}/lead", lead, other.headers)
    call("POST", f"{conversation}/lead", raw=b"{" + b" " * (17 * 1024) + b"}", headers=auth)
    invalid = call(
        "POST", f"{conversation}/lead", {"card_id": card_id, "fields": {"name": "Ada"}}, auth
    )
    assert invalid.status_int == 422 and "email" in invalid.json["error"].get("fields", {})
    saved = call("POST", f"{conversation}/lead", lead, auth)
    assert saved.status_int == 201, saved.json
    for _ in range(2):
        last = call("POST", f"{conversation}/lead", lead, auth)
    assert last.status_int == 429

    # -- handoff --------------------------------------------------------------------------
    app.registry["rate_limiter"].reset()
    call("POST", f"{conversation}/handoff", headers=bad_token)
    call("POST", f"{conversation}/handoff", headers=wrong_origin)
    call("POST", f"{conversation}/handoff", headers=other.headers)
    handed = call("POST", f"{conversation}/handoff", headers=auth)
    assert handed.status_int == 200 and handed.json["owner"] in ("waiting", "human")

    # -- the booking card -----------------------------------------------------------------
    _exercise_booking_card(app, call, run_in_tm, site, bad_token, other)

    # -- closed conversation --------------------------------------------------------------
    _close(run_in_tm, conversation_id)
    assert call("POST", f"{conversation}/handoff", headers=auth).status_int == 409
    closed = call(
        "POST", f"{conversation}/messages", {"body": "x", "client_id": "abcdefgh4"}, other.headers
    )
    assert closed.status_int == 404
    closed = call(
        "POST",
        f"{conversation}/messages",
        {"body": "x", "client_id": "abcdefgh4"},
        Visitor(_client(app, "192.0.2.53"), site).headers,
    )
    assert closed.status_int == 404
    # The owner of the conversation itself gets 409, once the rate limit has let go of it.
    app.registry["rate_limiter"].reset()
    closed = call("POST", f"{conversation}/messages", {"body": "x", "client_id": "abcd5678"}, auth)
    assert closed.json["error"]["code"] == "conversation_closed"

    # -- every repeatable call is rate limited, and a waiting long poll takes a slot --------
    flood = Visitor(_client(app, "192.0.2.60"), site)
    flood_conversation = f"{API}/conversations/" + str(
        call("POST", f"{API}/conversations", {}, flood.headers).json["id"]
    )
    for path in ("/lead-form", "/handoff", "/read"):
        body = {"last_event_id": 0} if path == "/read" else {}
        responses = [
            call("POST", flood_conversation + path, body, flood.headers) for _ in range(10)
        ]
        assert responses[-1].status_int == 429, path
    for path in (f"{API}/consent", f"{API}/conversations"):
        responses = [call("POST", path, {}, flood.headers) for _ in range(10)]
        assert responses[-1].status_int == 429, path
    flood_id = _visitor_id(run_in_tm, flood.token)
    for _ in range(settings.widget_max_streams_per_visitor):
        assert counter.acquire(flood_id, settings.widget_max_streams_per_visitor, 100)
    try:
        waiting = call(
            "GET", f"{flood_conversation}/events?after=999999&wait=1", headers=flood.headers
        )
        assert waiting.json["error"]["code"] == "too_many_streams"
    finally:
        for _ in range(settings.widget_max_streams_per_visitor):
            counter.release(flood_id)

    # Both directions: every status the document lists was seen, and (by check) nothing else.
    documented = {
        (method, path, status)
        for path, item in spec.document["paths"].items()
        for method, operation in item.items()
        for status in operation["responses"]
    }
    stream_ok = ("get", f"{API}/conversations/{{conversation_id}}/stream", "200")
    missing = documented - spec.checked - {stream_ok}
    assert not missing, f"documented but never exercised: {sorted(missing)}"


def _exercise_booking_card(app, call, run_in_tm, site, bad_token, other):
    """Every documented answer of the booking card's three calls."""
    from asthron.bookings.models import BookingResource, BookingService, BookingServiceResource
    from asthron.sites.models import Site

    def add_service(db):
        db.get(Site, site["id"]).business_hours = {
            day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        }
        service = BookingService(site_id=site["id"], slug="cut", name="Cut", min_notice_minutes=0)
        resource = BookingResource(site_id=site["id"], name="Sam")
        db.add_all([service, resource])
        db.flush()
        db.add(BookingServiceResource(service_id=service.id, resource_id=resource.id))

    run_in_tm(add_service)

    def step(*args, **kwargs):
        # Each call on its own: the rate limits are exercised at the end.
        app.registry["rate_limiter"].reset()
        return call(*args, **kwargs)

    booker = Visitor(_client(app, "192.0.2.54"), site)
    auth = booker.headers
    wrong_origin = {**auth, "Origin": OTHER_ORIGIN}
    conversation_id = step("POST", f"{API}/conversations", {}, auth).json["id"]
    base = f"{API}/conversations/{conversation_id}/booking"
    call(
        "POST",
        f"{API}/conversations/{conversation_id}/messages",
        {"body": "Can I book an appointment?", "client_id": "booking01"},
        auth,
    )
    events = call("GET", f"{API}/conversations/{conversation_id}/events", headers=auth).json
    card = next(e for e in events["events"] if e["data"].get("card") == "booking")
    card_id = card["data"]["card_id"]
    big = b"{" + b" " * (17 * 1024) + b"}"
    ask = {"card_id": card_id, "service": "cut"}
    for path in ("/slots", "/hold", "/confirm"):
        step("POST", base + path, raw=b"{", headers=auth)  # 400
        step("POST", base + path, ask, bad_token)  # 401
        step("POST", base + path, ask, wrong_origin)  # 403
        step("POST", base + path, raw=big, headers=auth)  # 413
    step("POST", base + "/slots", ask, other.headers)  # 404: not their conversation
    step("POST", base + "/slots", {**ask, "timezone": "Nowhere/Else"}, auth)  # 422
    slots = step("POST", base + "/slots", {**ask, "timezone": "Europe/Paris"}, auth)
    assert slots.status_int == 200
    start = slots.json["days"][0]["slots"][0]["start"]
    step("POST", base + "/hold", {**ask, "service": "none", "start": start}, auth)  # 404
    step("POST", base + "/hold", {**ask, "start": "2026-02-30T10:00:00Z"}, auth)  # 422
    past = step("POST", base + "/hold", {**ask, "start": "2020-01-01T10:00:00Z"}, auth)
    assert past.json["error"]["code"] == "slot_unavailable"
    held = step("POST", base + "/hold", {**ask, "start": start}, auth)
    assert held.status_int == 201
    details = {"card_id": card_id, "hold": held.json["hold"], "name": "Ada"}
    step("POST", base + "/confirm", {**details, "hold": "nope"}, auth)  # 404
    step("POST", base + "/confirm", {**details, "email": "not-an-email"}, auth)  # 422
    booked = step("POST", base + "/confirm", {**details, "email": "ada@example.com"}, auth)
    assert booked.status_int == 201, booked.json
    again = step("POST", base + "/confirm", {**details, "email": "ada@example.com"}, auth)
    assert again.status_int == 409
    for path, body in (("/slots", ask), ("/hold", {**ask, "start": start}), ("/confirm", details)):
        app.registry["rate_limiter"].reset()
        responses = [call("POST", base + path, body, auth) for _ in range(40)]
        assert responses[-1].status_int == 429, path


def _visitor_id(run_in_tm, token):
    from asthron.security.tokens import token_hash

    return run_in_tm(
        lambda db: db.execute(
            sa.text("SELECT id FROM visitors WHERE token_hash = :h"), {"h": token_hash(token)}
        ).scalar_one()
    )


def _close(run_in_tm, conversation_id):
    from tests.fixtures.visitors import close_conversation

    close_conversation(run_in_tm, conversation_id)

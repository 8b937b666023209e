"""Bookings → Calendars: the Google OAuth start and callback (state bound to the session,
PKCE, refusals), who may manage which calendar, the SSRF guard on CalDAV addresses."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
import webtest
from googleapiclient.http import HttpMockSequence

from asthron.audit.models import AuditEntry
from asthron.bookings import service as bookings
from asthron.bookings.models import BookingService, CalendarConnection, GoogleOAuthApp
from asthron.db import new_transaction
from tests.conftest import csrf_from

CALENDAR_LIST = {
    "items": [
        {"id": "stylist@example.com", "summary": "Work", "primary": True, "accessRole": "owner"},
        {"id": "holidays@group.example", "summary": "Holidays", "accessRole": "reader"},
    ]
}
FREE = {"calendars": {"stylist@example.com": {"busy": []}}}
OK = {"status": "200"}


def _resource_id(registry, service_id, user_id=None) -> int:
    with new_transaction(registry) as db:
        resource = bookings.resources_of(db, db.get(BookingService, service_id))[0]
        if user_id is not None:
            resource.user_id = user_id
        return resource.id


def _start(client, resource_id) -> tuple[str, dict]:
    page = client.get("/bookings/calendars")
    answer = client.post(
        f"/bookings/calendars/{resource_id}/google", {"csrf_token": csrf_from(page)}, status=302
    )
    location = answer.headers["Location"]
    return location, {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_google_oauth_flow(fake_google, testapp, app, registry, make_service, make_user, login):
    service_id = make_service()
    resource_id = _resource_id(registry, service_id)
    owner = make_user("owner")
    login(owner)
    page = testapp.get("/bookings/calendars")
    assert "Stylist 1" in page.text and "Connect Google Calendar" in page.text

    location, query = _start(testapp, resource_id)
    assert location.startswith(f"{fake_google.url}/auth?")
    assert query["client_id"] == "client-1.apps.example"
    assert query["redirect_uri"] == "http://localhost/bookings/calendars/google/callback"
    assert query["access_type"] == "offline" and query["prompt"] == "consent"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert set(query["scope"].split()) == {
        "https://www.googleapis.com/auth/calendar.freebusy",
        "https://www.googleapis.com/auth/calendar.events",
        "https://www.googleapis.com/auth/calendar.calendarlist.readonly",
    }
    callback = "/bookings/calendars/google/callback"

    # A state this session did not start: 400, nothing connected.
    testapp.get(callback, {"state": "forged", "code": "good-code"}, status=400)
    testapp.get(callback, {"code": "good-code"}, status=400)
    # The right state but no code: 400; the state is used up either way.
    answer = testapp.get(callback, {"state": query["state"]}, status=400)
    assert "no authorisation code" in answer.text
    testapp.get(callback, {"state": query["state"], "code": "good-code"}, status=400)

    # The person declined on Google's page.
    _, query = _start(testapp, resource_id)
    answer = testapp.get(callback, {"state": query["state"], "error": "access_denied"}, status=303)
    assert "notice=declined" in answer.headers["Location"]
    assert "not granted" in answer.follow().text

    # Another login session (another browser) cannot finish this session's flow.
    _, query = _start(testapp, resource_id)
    other = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.11"})
    login(owner, app=other)
    other.get(callback, {"state": query["state"], "code": "good-code"}, status=400)

    # The real thing: code + PKCE verifier exchanged at the (fake) token endpoint, the
    # calendar list and free/busy read through googleapiclient's mock.
    _, query = _start(testapp, resource_id)
    registry["google_calendar_http"] = HttpMockSequence(
        # 90 days ahead are read in two free/busy queries.
        [(OK, json.dumps(CALENDAR_LIST)), (OK, json.dumps(FREE)), (OK, json.dumps(FREE))]
    )
    testapp.get(callback, {"state": query["state"], "code": "good-code"}, status=303)
    verifier = fake_google.verifiers[-1]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert challenge.decode() == query["code_challenge"]
    with new_transaction(registry) as db:
        connection = db.scalar(sa.select(CalendarConnection))
        assert connection.provider == "google" and connection.resource_id == resource_id
        assert connection.busy_calendar_ids == ["stylist@example.com"]
        assert connection.write_calendar_id == "stylist@example.com"
        assert connection.readable, connection.last_error
        assert "refresh-1" not in connection.token_encrypted
        assert "booking_calendar.connect" in set(db.scalars(sa.select(AuditEntry.action)))
    page = testapp.get("/bookings/calendars")
    assert "Holidays" in page.text and "read only" in page.text

    # Pick both calendars as busy; bookings still go to the writable one.
    busy = {"calendars": {"stylist@example.com": {"busy": []}, "holidays@group.example": {}}}
    registry["google_calendar_http"] = HttpMockSequence([(OK, json.dumps(busy))] * 2)
    form = {
        "csrf_token": csrf_from(page),
        "busy_0": "1",
        "busy_1": "1",
        "write": "0",
        "write_bookings": "1",
    }
    testapp.post(f"/bookings/calendars/{resource_id}/choose", form, status=303)
    # A read-only calendar cannot receive bookings; an index outside the list is refused.
    testapp.post(f"/bookings/calendars/{resource_id}/choose", {**form, "write": "1"}, status=400)
    testapp.post(f"/bookings/calendars/{resource_id}/choose", {**form, "write": "7"}, status=400)
    with new_transaction(registry) as db:
        connection = db.scalar(sa.select(CalendarConnection))
        assert connection.busy_calendar_ids == ["stylist@example.com", "holidays@group.example"]
        actions = list(db.scalars(sa.select(AuditEntry.action)))
    assert "booking_calendar.choose" in actions

    testapp.post(
        f"/bookings/calendars/{resource_id}/disconnect", {"csrf_token": csrf_from(page)}, status=303
    )
    assert fake_google.revoked_at_google == ["refresh-1"]  # the grant is revoked at Google
    with new_transaction(registry) as db:
        assert db.scalar(sa.select(CalendarConnection)) is None
        assert "booking_calendar.disconnect" in set(db.scalars(sa.select(AuditEntry.action)))


def test_staff_manage_only_their_own_calendar(
    fake_google, testapp, registry, make_service, make_user, login
):
    service_id = make_service(staff=2)
    staff = make_user("staff")
    with new_transaction(registry) as db:
        mine, theirs = bookings.resources_of(db, db.get(BookingService, service_id))
        mine.user_id = staff["id"]
        mine_id, theirs_id = mine.id, theirs.id
    login(staff)
    page = testapp.get("/bookings/calendars")
    assert "Stylist 1" in page.text and "Stylist 2" not in page.text
    token = csrf_from(page)
    testapp.post(f"/bookings/calendars/{theirs_id}/google", {"csrf_token": token}, status=404)
    testapp.post(
        f"/bookings/calendars/{theirs_id}/caldav",
        {"csrf_token": token, "url": "https://calendar.example/", "username": "", "password": ""},
        status=404,
    )
    testapp.post(f"/bookings/calendars/{mine_id}/google", {"csrf_token": token}, status=302)
    # The Google OAuth client is the owner's to set.
    testapp.post(
        "/bookings/calendars/google-app",
        {"csrf_token": token, "client_id": "x", "client_secret": "y"},
        status=403,
    )


def test_the_owner_sets_the_google_client_and_its_secret_is_encrypted(
    testapp, registry, make_service, make_user, login
):
    make_service()
    login(make_user("owner"))
    page = testapp.get("/bookings/calendars")
    assert "None yet" in page.text
    form = {"csrf_token": csrf_from(page), "client_id": "abc.apps.example", "client_secret": ""}
    assert "is required" in testapp.post("/bookings/calendars/google-app", form, status=400).text
    form["client_secret"] = "s3cret-value"
    testapp.post("/bookings/calendars/google-app", form, status=303)
    with new_transaction(registry) as db:
        row = db.scalar(sa.select(GoogleOAuthApp))
        assert row.client_id == "abc.apps.example"
        assert "s3cret-value" not in row.client_secret_encrypted
        assert registry["secret_box"].decrypt(row.client_secret_encrypted) == "s3cret-value"
        entry = db.scalar(
            sa.select(AuditEntry).where(AuditEntry.action == "booking_calendar.google_app")
        )
        assert "s3cret" not in json.dumps(entry.summary)
    assert "abc.apps.example" in testapp.get("/bookings/calendars").text


def test_google_needs_a_client_first(testapp, registry, make_service, make_user, login):
    resource_id = _resource_id(registry, make_service())
    login(make_user("owner"))
    page = testapp.get("/bookings/calendars")
    answer = testapp.post(
        f"/bookings/calendars/{resource_id}/google", {"csrf_token": csrf_from(page)}, status=400
    )
    assert "not set up" in answer.text


@pytest.mark.app_settings(**{"outbound.allowed_private_hosts": ""})
def test_a_private_caldav_address_is_refused_without_the_operators_allowlist(
    testapp, registry, make_service, make_user, login
):
    resource_id = _resource_id(registry, make_service())
    login(make_user("owner"))
    page = testapp.get("/bookings/calendars")
    for url in ("http://10.1.2.3/dav/", "http://127.0.0.1:5232/owner/", "file:///etc/passwd"):
        form = {"csrf_token": csrf_from(page), "url": url, "username": "u", "password": "p"}
        answer = testapp.post(f"/bookings/calendars/{resource_id}/caldav", form, status=400)
        assert "allowed_private_hosts" in answer.text or "http://" in answer.text
        assert 'value="p"' not in answer.text  # the password is never shown back
    with new_transaction(registry) as db:
        assert db.scalar(sa.select(CalendarConnection)) is None


def test_a_caldav_server_cannot_redirect_us_somewhere_private():
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from asthron.bookings import calendars
    from asthron.security.ssrf import SSRFError

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _redirect(self):
            self.send_response(301)
            self.send_header("Location", "http://10.9.9.9/metadata/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_PROPFIND = do_REPORT = _redirect

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/dav/"
        with pytest.raises(SSRFError, match=r"10\.9\.9\.9"):
            calendars.discover_calendars(url, "u", "p", ["127.0.0.1"])
    finally:
        server.shutdown()
        server.server_close()


def test_a_broken_calendar_is_shown_to_its_person(
    testapp, registry, make_service, make_user, login
):
    from asthron.db import utcnow

    staff = make_user("staff")
    resource_id = _resource_id(registry, make_service(), user_id=staff["id"])
    with new_transaction(registry) as db:
        db.add(
            CalendarConnection(
                resource_id=resource_id,
                provider="google",
                username="stylist@example.com",
                calendars=[{"id": "primary", "summary": "Work", "writable": True}],
                busy_calendar_ids=["primary"],
                write_calendar_id="primary",
                broken_at=utcnow(),
                last_error="invalid_grant: Token has been expired or revoked.",
            )
        )
    login(staff)
    page = testapp.get("/bookings/calendars")
    assert "Broken since" in page.text and "connect it again" in page.text
    assert "Token has been expired or revoked" in page.text
    assert "No times are offered for Stylist 1" in page.text

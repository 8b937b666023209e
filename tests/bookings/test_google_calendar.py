"""Google Calendar: free/busy and events through googleapiclient's offline HTTP mocks; the
token refresh and a revoked grant against a loopback fake of Google's token endpoint."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import sqlalchemy as sa
from googleapiclient.discovery import build
from googleapiclient.http import HttpMockSequence

from asthron.bookings import calendars
from asthron.bookings import google_calendar as google
from asthron.bookings import service as bookings
from asthron.bookings.models import (
    Booking,
    BookingService,
    CalendarConnection,
    ExternalBusy,
)
from asthron.db import new_transaction, utcnow
from asthron.jobs.models import OutboxItem
from asthron.notify.service import EMAIL_KIND, unsealed
from tests.bookings.conftest import NOW

UTC = dt.UTC
OK = {"status": "200"}


def _api(responses):
    http = HttpMockSequence(responses)
    return build("calendar", "v3", http=http, static_discovery=True), http


def _booking(**values) -> Booking:
    defaults = {
        "reference": "Ref_-abc123XYZ",
        "status": "confirmed",
        "starts_at": dt.datetime(2026, 3, 2, 12, tzinfo=UTC),
        "ends_at": dt.datetime(2026, 3, 2, 12, 30, tzinfo=UTC),
        "customer_name": "Alice",
        "customer_email": "alice@example.com",
        "notes": "",
    }
    return Booking(**{**defaults, **values})


SERVICE = BookingService(name="Haircut")


def test_event_ids_are_base32hex_and_derived_from_the_booking():
    first = google.event_id(_booking())
    assert re.fullmatch(r"[a-v0-9]{5,1024}", first)
    assert google.event_id(_booking()) == first
    assert google.event_id(_booking(reference="other")) != first


def test_free_busy_is_read_and_a_calendar_google_cannot_read_fails_the_read():
    answer = {
        "calendars": {
            "primary": {
                "busy": [
                    {"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T10:00:00Z"},
                    {"start": "2026-03-02T14:00:00+01:00", "end": "2026-03-02T15:00:00+01:00"},
                ]
            },
            "team@example.com": {"busy": []},
        }
    }
    api, http = _api([(OK, json.dumps(answer))])
    start, end = dt.datetime(2026, 3, 2, tzinfo=UTC), dt.datetime(2026, 3, 3, tzinfo=UTC)
    found = google.busy_intervals(api, ["primary", "team@example.com"], start, end)
    assert found == [
        (dt.datetime(2026, 3, 2, 9, tzinfo=UTC), dt.datetime(2026, 3, 2, 10, tzinfo=UTC)),
        (dt.datetime(2026, 3, 2, 13, tzinfo=UTC), dt.datetime(2026, 3, 2, 14, tzinfo=UTC)),
    ]
    uri, method, body, _ = http.request_sequence[0]
    assert method == "POST" and uri.split("?")[0].endswith("/calendar/v3/freeBusy")
    assert json.loads(body)["items"] == [{"id": "primary"}, {"id": "team@example.com"}]

    # One calendar Google could not read: the whole read fails (never false free time).
    answer["calendars"]["team@example.com"] = {
        "errors": [{"domain": "calendar", "reason": "notFound"}]
    }
    api, _ = _api([(OK, json.dumps(answer))])
    with pytest.raises(google.GoogleCalendarError, match="notFound"):
        google.busy_intervals(api, ["primary", "team@example.com"], start, end)
    # A calendar missing from the answer, garbage, an error status: the same.
    for response in [
        (OK, json.dumps({"calendars": {"primary": {"busy": []}}})),
        (OK, "<html>not json</html>"),
        (OK, json.dumps({"calendars": {"primary": {"busy": [{"start": "soon"}]}}})),
        ({"status": "503"}, "{}"),
    ]:
        api, _ = _api([response])
        with pytest.raises(google.GoogleCalendarError):
            google.busy_intervals(api, ["primary", "team@example.com"], start, end)


def test_a_long_range_is_asked_in_parts():
    api, http = _api([(OK, json.dumps({"calendars": {"primary": {"busy": []}}}))] * 2)
    start = dt.datetime(2026, 3, 2, tzinfo=UTC)
    assert google.busy_intervals(api, ["primary"], start, start + dt.timedelta(days=90)) == []
    assert len(http.request_sequence) == 2


def test_insert_with_the_derived_id_and_a_409_means_it_is_already_there():
    booking = _booking()
    api, http = _api([(OK, json.dumps({"id": google.event_id(booking)}))])
    assert google.put_event(api, "primary", booking, SERVICE) == google.event_id(booking)
    uri, method, body, _ = http.request_sequence[0]
    assert method == "POST" and "/calendars/primary/events" in uri
    sent = json.loads(body)
    assert sent["id"] == google.event_id(booking)
    assert sent["start"] == {"dateTime": "2026-03-02T12:00:00+00:00"}
    assert sent["extendedProperties"]["private"]["asthron_booking"] == booking.reference

    # A retry after a lost answer: Google says 409, we patch the event that is there.
    conflict = json.dumps({"error": {"code": 409, "message": "The requested identifier exists."}})
    api, http = _api([({"status": "409"}, conflict), (OK, "{}")])
    google.put_event(api, "primary", booking, SERVICE)
    assert [r[1] for r in http.request_sequence] == ["POST", "PATCH"]
    assert http.request_sequence[1][0].split("?")[0].endswith(f"/events/{google.event_id(booking)}")


def test_a_moved_booking_is_patched_and_recreated_if_deleted_in_the_calendar():
    booking = _booking()
    booking.calendar_event_uid = google.event_id(booking)
    booking.starts_at = dt.datetime(2026, 3, 3, 9, tzinfo=UTC)
    api, http = _api([(OK, "{}")])
    google.put_event(api, "primary", booking, SERVICE)
    ((uri, method, body, _),) = http.request_sequence
    assert method == "PATCH" and json.loads(body)["start"]["dateTime"].startswith("2026-03-03T09")
    for gone in ("404", "410"):
        api, http = _api([({"status": gone}, "{}"), (OK, "{}")])
        google.put_event(api, "primary", booking, SERVICE)
        assert [r[1] for r in http.request_sequence] == ["PATCH", "POST"]
    api, _ = _api([({"status": "403"}, "{}")])
    with pytest.raises(google.GoogleCalendarError):
        google.put_event(api, "primary", booking, SERVICE)


def test_delete_treats_gone_as_done():
    for status in ("204", "404", "410"):
        api, http = _api([({"status": status}, "")])
        google.delete_event(api, "primary", "abc123")
        assert http.request_sequence[0][1] == "DELETE"
    api, _ = _api([({"status": "500"}, "{}")])
    with pytest.raises(google.GoogleCalendarError):
        google.delete_event(api, "primary", "abc123")


# -- with the database and the fake token endpoint -------------------------------------------


def _google_connection(
    registry, run_in_tm, service_id, *, refresh_token, user_id=None, expired=True
):
    box = registry["secret_box"]

    def create(db):
        service = db.get(BookingService, service_id)
        resource = bookings.resources_of(db, service)[0]
        resource.user_id = user_id
        connection = CalendarConnection(
            resource_id=resource.id,
            provider="google",
            username="stylist@example.com",
            calendars=[{"id": "primary", "summary": "Work", "primary": True, "writable": True}],
            busy_calendar_ids=["primary"],
            write_calendar_id="primary",
            connected_by_id=user_id,
            synced_at=utcnow(),
        )
        expiry = utcnow() - dt.timedelta(minutes=5) if expired else utcnow() + dt.timedelta(hours=1)

        class Stored:
            token = "access-0"
            scopes = google.SCOPES

        Stored.refresh_token = refresh_token
        Stored.expiry = expiry.replace(tzinfo=None)
        google.store_credentials(connection, box, Stored)
        db.add(connection)
        db.flush()
        return connection.id

    return run_in_tm(create)


def test_an_expired_token_is_refreshed_and_stored_encrypted(
    fake_google, registry, run_in_tm, make_service, db_url
):
    if not db_url.startswith("sqlite"):
        pytest.skip("the token side is the same on both databases")
    service_id = make_service()
    connection_id = _google_connection(registry, run_in_tm, service_id, refresh_token="refresh-1")
    box = registry["secret_box"]
    with new_transaction(registry) as db:
        connection = db.get(CalendarConnection, connection_id)
        client = google.oauth_client(db, registry["app_settings"], box)
        assert client.token_uri == fake_google.token_uri
        credentials = google.fresh_credentials(connection, box, client)
        assert credentials.token == "access-refreshed-1"
    assert fake_google.grants == ["refresh_token"]
    with new_transaction(registry) as db:
        stored = db.get(CalendarConnection, connection_id).token_encrypted
        assert "refresh-1" not in stored and "access-refreshed-1" not in stored
        assert json.loads(box.decrypt(stored))["token"] == "access-refreshed-1"
        # Valid now: no second refresh.
        google.fresh_credentials(db.get(CalendarConnection, connection_id), box, client)
    assert fake_google.refreshes == 1


def test_a_revoked_grant_breaks_the_connection_tells_the_person_and_offers_no_slots(
    fake_google, registry, run_in_tm, make_service, make_user, db_url
):
    service_id = make_service(min_notice_minutes=0)
    user = make_user("staff")
    connection_id = _google_connection(
        registry, run_in_tm, service_id, refresh_token="revoked-refresh", user_id=user["id"]
    )
    now = utcnow()
    with new_transaction(registry) as db:
        service = db.get(BookingService, service_id)
        before = bookings.offered_slots(db, service, now=now, limit=5)
    # Readable (synced, no error) but Google has revoked the grant: the next read finds out.
    with new_transaction(registry) as db:
        connection = db.get(CalendarConnection, connection_id)
        assert calendars.sync_busy(db, connection, registry["secret_box"]) is None
    with new_transaction(registry) as db:
        connection = db.get(CalendarConnection, connection_id)
        assert connection.broken_at is not None
        assert "invalid_grant" in connection.last_error
        service = db.get(BookingService, service_id)
        assert bookings.offered_slots(db, service, now=now) == []
        emails = [
            unsealed(i.payload, registry["secret_box"])
            for i in db.scalars(sa.select(OutboxItem).where(OutboxItem.kind == EMAIL_KIND))
        ]
    assert len(emails) == 1 and emails[0]["to"] == user["email"]
    assert "connected again" in emails[0]["subject"]
    assert "/bookings/calendars" in emails[0]["text"]
    # Reading again neither un-breaks it nor emails twice; booking is refused plainly.
    with new_transaction(registry) as db:
        calendars.sync_busy(db, db.get(CalendarConnection, connection_id), registry["secret_box"])
        service = db.get(BookingService, service_id)
        with pytest.raises(bookings.BookingError):
            bookings.book(db, service, before[0].start, bookings.Customer(name="A"), now=now)
        assert db.scalar(sa.select(sa.func.count()).select_from(OutboxItem)) == 1
        assert db.scalar(sa.select(sa.func.count()).select_from(Booking)) == 0
    assert before, "the resource had times before its calendar broke"


def test_google_busy_sync_with_mocked_api(fake_google, registry, run_in_tm, make_service, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("the calendar side is the same on both databases")
    service_id = make_service()
    connection_id = _google_connection(registry, run_in_tm, service_id, refresh_token="refresh-1")
    busy = {"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T10:00:00Z"}
    answer = {"calendars": {"primary": {"busy": [busy]}}}
    http = HttpMockSequence([(OK, json.dumps(answer))] * 2)
    with new_transaction(registry) as db:
        connection = db.get(CalendarConnection, connection_id)
        count = calendars.sync_busy(db, connection, now=NOW, days=30, http=http)
        assert count == 1
    with new_transaction(registry) as db:
        (row,) = db.scalars(sa.select(ExternalBusy))
        assert row.starts_at == dt.datetime(2026, 3, 2, 9, tzinfo=UTC)
        starts = {
            s.start for s in bookings.offered_slots(db, db.get(BookingService, service_id), now=NOW)
        }
    assert dt.datetime(2026, 3, 2, 9, tzinfo=UTC) not in starts
    assert dt.datetime(2026, 3, 2, 10, tzinfo=UTC) in starts
    # A per-calendar error on the next read: the resource offers nothing until a read works.
    error = {"calendars": {"primary": {"errors": [{"reason": "backendError"}]}}}
    with new_transaction(registry) as db:
        connection = db.get(CalendarConnection, connection_id)
        bad = HttpMockSequence([(OK, json.dumps(error))])
        assert calendars.sync_busy(db, connection, now=NOW, days=30, http=bad) is None
    with new_transaction(registry) as db:
        assert "backendError" in db.get(CalendarConnection, connection_id).last_error
        assert bookings.offered_slots(db, db.get(BookingService, service_id), now=NOW) == []


def test_booking_events_follow_the_booking_in_google(
    fake_google, registry, run_in_tm, make_service, db_url
):
    if not db_url.startswith("sqlite"):
        pytest.skip("the calendar side is the same on both databases")
    service_id = make_service()
    _google_connection(registry, run_in_tm, service_id, refresh_token="refresh-1", expired=False)
    with new_transaction(registry) as db:
        service = db.get(BookingService, service_id)
        resource = bookings.resources_of(db, service)[0]
        start = dt.datetime(2026, 3, 2, 12, tzinfo=UTC)
        booking = Booking(
            reference="google-ref-1",
            service_id=service.id,
            resource_id=resource.id,
            status="confirmed",
            starts_at=start,
            ends_at=start + dt.timedelta(minutes=30),
            blocks_from=start,
            blocks_until=start + dt.timedelta(minutes=30),
            local_date=start.date(),
            customer_name="Bob",
        )
        db.add(booking)
        db.flush()
        http = HttpMockSequence([(OK, "{}")])
        identifier = calendars.write_booking(db, booking, http=http)
        assert identifier == google.event_id(booking)
        assert booking.calendar_event_where == "primary"
        assert http.request_sequence[0][1] == "POST"
        # Moved: patched.
        booking.starts_at += dt.timedelta(hours=1)
        booking.ends_at += dt.timedelta(hours=1)
        http = HttpMockSequence([(OK, "{}")])
        calendars.write_booking(db, booking, http=http)
        assert http.request_sequence[0][1] == "PATCH"
        # Cancelled: deleted; already gone counts as done.
        booking.status = "cancelled"
        http = HttpMockSequence([({"status": "410"}, "")])
        assert calendars.write_booking(db, booking, http=http) is None
        assert http.request_sequence[0][1] == "DELETE"
        assert booking.calendar_event_uid is None
        # Nothing left to do: no request at all.
        assert calendars.write_booking(db, booking, http=HttpMockSequence([])) is None

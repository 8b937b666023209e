"""CalDAV: busy times from, and booking events into, a real Radicale server."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import re
import socket
import subprocess
import sys
import time
from zoneinfo import ZoneInfo

import caldav
import pytest
import sqlalchemy as sa

from asthron.audit.models import AuditEntry
from asthron.bookings import calendars
from asthron.bookings import service as bookings
from asthron.bookings.models import Booking, BookingService, CalendarConnection, ExternalBusy
from asthron.db import new_transaction
from asthron.jobs.models import OutboxItem
from asthron.sites.models import Site
from tests.bookings.conftest import NOW

BERLIN = ZoneInfo("Europe/Berlin")


def test_urllib3_is_still_the_real_package():
    """caldav 2+ would pull in niquests → urllib3-future, which installs itself as
    ``urllib3`` for every package; the pin below 2 keeps the real one."""
    import urllib3

    owners = importlib.metadata.packages_distributions()["urllib3"]
    assert owners == ["urllib3"], owners
    assert importlib.metadata.version("caldav").startswith("1.")
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version("urllib3-future")
    assert urllib3.__file__.endswith("site-packages/urllib3/__init__.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def radicale_url(tmp_path_factory):
    port = _free_port()
    storage = tmp_path_factory.mktemp("radicale")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "radicale",
            "--config",
            "",
            "--server-hosts",
            f"127.0.0.1:{port}",
            "--storage-filesystem-folder",
            str(storage / "collections"),
            "--auth-type",
            "none",
            "--logging-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("radicale did not start") from None
                time.sleep(0.1)
        # With no auth, Radicale makes no principal collection: make the owner's by hand.
        caldav.DAVClient(url=f"http://127.0.0.1:{port}/").mkcol(
            f"http://127.0.0.1:{port}/owner/", ""
        )
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


EVENTS = {
    # Monday 10:00–11:00 Berlin: busy.
    "plain": """BEGIN:VEVENT
UID:plain-1
DTSTAMP:20260201T000000Z
DTSTART;TZID=Europe/Berlin:20260302T100000
DTEND;TZID=Europe/Berlin:20260302T110000
SUMMARY:Dentist
END:VEVENT""",
    # Marked "free": ignored.
    "transparent": """BEGIN:VEVENT
UID:transparent-1
DTSTAMP:20260201T000000Z
DTSTART:20260302T130000Z
DTEND:20260302T140000Z
TRANSP:TRANSPARENT
SUMMARY:Reminder
END:VEVENT""",
    # Every Tuesday 14:00–15:00 UTC, three times.
    "weekly": """BEGIN:VEVENT
UID:weekly-1
DTSTAMP:20260201T000000Z
DTSTART:20260303T140000Z
DTEND:20260303T150000Z
RRULE:FREQ=WEEKLY;COUNT=3
SUMMARY:Team meeting
END:VEVENT""",
    # All of Thursday 5 March, in Berlin.
    "allday": """BEGIN:VEVENT
UID:allday-1
DTSTAMP:20260201T000000Z
DTSTART;VALUE=DATE:20260305
DTEND;VALUE=DATE:20260306
SUMMARY:Conference
END:VEVENT""",
    # One of our own booking events: local bookings already count.
    "ours": """BEGIN:VEVENT
UID:booking-abc@asthron
DTSTAMP:20260201T000000Z
DTSTART:20260302T150000Z
DTEND:20260302T160000Z
SUMMARY:Haircut
END:VEVENT""",
}


def _ical(event: str) -> str:
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n{event}\nEND:VCALENDAR\n"


@pytest.fixture
def calendar_url(radicale_url, request):
    client = caldav.DAVClient(url=f"{radicale_url}/owner/", username="owner", password="pw")
    name = f"work-{request.node.name[-40:]}".replace("[", "-").replace("]", "")
    # MKCALENDAR at a path of our own (with no auth there is no principal to discover).
    url = f"{radicale_url}/owner/{name}/"
    assert client.mkcalendar(url).status == 201
    calendar = client.calendar(url=url)
    for event in EVENTS.values():
        calendar.save_event(_ical(event))
    return str(calendar.url)


def test_busy_intervals_expand_recurrences_and_skip_free_time(calendar_url):
    client = caldav.DAVClient(url=calendar_url, username="owner", password="pw")
    found = calendars.busy_intervals(
        client.calendar(url=calendar_url),
        dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 31, tzinfo=dt.UTC),
        BERLIN,
    )
    utc = dt.UTC
    assert found == [
        (dt.datetime(2026, 3, 2, 9, tzinfo=utc), dt.datetime(2026, 3, 2, 10, tzinfo=utc)),
        (dt.datetime(2026, 3, 3, 14, tzinfo=utc), dt.datetime(2026, 3, 3, 15, tzinfo=utc)),
        (dt.datetime(2026, 3, 4, 23, tzinfo=utc), dt.datetime(2026, 3, 5, 23, tzinfo=utc)),
        (dt.datetime(2026, 3, 10, 14, tzinfo=utc), dt.datetime(2026, 3, 10, 15, tzinfo=utc)),
        (dt.datetime(2026, 3, 17, 14, tzinfo=utc), dt.datetime(2026, 3, 17, 15, tzinfo=utc)),
    ]


def _connect(registry, run_in_tm, service_id, calendar_url) -> int:
    def create(db):
        service = db.get(BookingService, service_id)
        resource = bookings.resources_of(db, service)[0]
        connection = CalendarConnection(
            resource_id=resource.id, calendar_url=calendar_url, username="owner"
        )
        calendars.set_password(connection, registry["secret_box"], "pw")
        db.add(connection)
        db.flush()
        # Until its first read a calendar's resource offers nothing (never false free time).
        assert calendars.sync_busy(db, connection, registry["secret_box"]) is not None
        return connection.id

    return run_in_tm(create)


def test_synced_busy_times_remove_slots_and_bookings_are_written(
    registry, run_in_tm, make_service, calendar_url, db_url
):
    if not db_url.startswith("sqlite"):
        pytest.skip("the calendar side is the same on both databases")
    service_id = make_service()
    connection_id = _connect(registry, run_in_tm, service_id, calendar_url)
    box = registry["secret_box"]
    with new_transaction(registry) as db:
        connection = db.get(CalendarConnection, connection_id)
        assert connection.password_encrypted and "pw" not in connection.password_encrypted
        assert calendars.sync_busy(db, connection, box, now=NOW, days=30) == 5
    with new_transaction(registry) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(ExternalBusy)) == 5
        service = db.get(BookingService, service_id)
        starts = {s.start for s in bookings.offered_slots(db, service, now=NOW)}
    monday = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    assert monday.replace(hour=9) not in starts  # the dentist
    assert monday.replace(hour=9, minute=30) not in starts
    assert monday.replace(hour=10) in starts
    assert monday.replace(hour=13) in starts  # transparent: free
    assert monday.replace(hour=15) in starts  # our own event: not external busy
    assert not any(s.date() == dt.date(2026, 3, 5) for s in starts)  # all day

    # A booking goes into the calendar, and writing it again updates the same event.
    with new_transaction(registry) as db:
        service = db.get(BookingService, service_id)
        customer = bookings.Customer(name="Alice", email="alice@example.com")
        booking = bookings.book(db, service, monday.replace(hour=12), customer, now=NOW)
        uid = calendars.write_booking(db, booking, box, now=NOW)
        booking.status = "pending"
        assert calendars.write_booking(db, booking, box, now=NOW) == uid
    calendar = caldav.DAVClient(url=calendar_url, username="owner", password="pw").calendar(
        url=calendar_url
    )
    event = calendar.event_by_uid(uid).icalendar_instance.walk("VEVENT")[0]
    assert event.decoded("DTSTART") == monday.replace(hour=12)
    assert str(event["STATUS"]) == "TENTATIVE"
    assert sum(1 for e in calendar.events() if uid in e.data) == 1


def test_a_booking_from_the_page_reaches_the_calendar_through_the_outbox(
    testapp, registry, run_in_tm, make_service, calendar_url, db_url
):
    if not db_url.startswith("sqlite"):
        pytest.skip("the calendar side is the same on both databases")
    service_id = make_service(min_notice_minutes=0)
    _connect(registry, run_in_tm, service_id, calendar_url)

    def open_every_day(db):
        site = db.get(Site, db.get(BookingService, service_id).site_id)
        site.business_hours = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu")}
        site.business_hours |= {day: [["00:00", "24:00"]] for day in ("fri", "sat", "sun")}
        return f"/book/{site.public_key}/haircut"

    url = run_in_tm(open_every_day)
    page = testapp.get(url)
    form = {
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1),
        "slot": re.findall(r'name="slot" value="([^"]+)"', page.text)[0],
        "name": "Bob",
        "email": "bob@example.com",
    }
    testapp.post(url, form, status=303)
    with new_transaction(registry) as db:
        booking = db.scalar(sa.select(Booking))
        item = db.scalar(sa.select(OutboxItem).where(OutboxItem.kind == "bookings.calendar_event"))
        assert item is not None and item.state == "done", item and (item.state, item.last_error)
        uid = booking.calendar_event_uid
    assert uid == f"booking-{booking.reference}@asthron"
    calendar = caldav.DAVClient(url=calendar_url).calendar(url=calendar_url)
    event = calendar.event_by_uid(uid).icalendar_instance.walk("VEVENT")[0]
    assert event.decoded("DTSTART") == booking.starts_at
    assert str(event["STATUS"]) == "CONFIRMED"


def _calendar(calendar_url):
    return caldav.DAVClient(url=calendar_url).calendar(url=calendar_url)


def _only(db, model):
    return db.scalar(sa.select(model))


def test_reschedule_and_cancel_follow_the_booking_with_etags(
    registry, run_in_tm, make_service, calendar_url, db_url
):
    if not db_url.startswith("sqlite"):
        pytest.skip("the calendar side is the same on both databases")
    service_id = make_service()
    _connect(registry, run_in_tm, service_id, calendar_url)
    monday = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    with new_transaction(registry) as db:
        service = db.get(BookingService, service_id)
        customer = bookings.Customer(name="Dora", email="dora@example.com")
        booking = bookings.book(db, service, monday.replace(hour=12), customer, now=NOW)
        uid = calendars.write_booking(db, booking, now=NOW)
        first_etag = booking.calendar_event_etag
        assert first_etag and booking.calendar_event_where.endswith(".ics")
        # Moved: the same event, at the new time, with a new ETag.
        booking.starts_at = monday.replace(hour=13)
        booking.ends_at = monday.replace(hour=13, minute=30)
        assert calendars.write_booking(db, booking, now=NOW) == uid
        assert booking.calendar_event_etag != first_etag
        booking_id = booking.id
    event = _calendar(calendar_url).event_by_uid(uid)
    assert event.icalendar_instance.walk("VEVENT")[0].decoded("DTSTART") == monday.replace(hour=13)
    assert sum(1 for e in _calendar(calendar_url).events() if uid in e.data) == 1

    # Someone edits the event in their calendar app: our ETag is stale (412), the booking's
    # time wins and the event is written over, still once.
    event.data = event.data.replace("SUMMARY:", "SUMMARY:Edited ")
    event.save()
    with new_transaction(registry) as db:
        booking = db.get(Booking, booking_id)
        booking.starts_at = monday.replace(hour=14)
        booking.ends_at = monday.replace(hour=14, minute=30)
        calendars.write_booking(db, booking, now=NOW)
    event = _calendar(calendar_url).event_by_uid(uid).icalendar_instance.walk("VEVENT")[0]
    assert event.decoded("DTSTART") == monday.replace(hour=14)
    assert "Edited" not in str(event["SUMMARY"])
    assert sum(1 for e in _calendar(calendar_url).events() if uid in e.data) == 1

    # Cancelled: deleted; and a second try (the event already gone) is done too.
    with new_transaction(registry) as db:
        booking = db.get(Booking, booking_id)
        booking.status = "cancelled"
        assert calendars.write_booking(db, booking, now=NOW) is None
        assert booking.calendar_event_uid is None and booking.calendar_event_etag is None
        booking.calendar_event_uid = uid  # as if the answer had been lost
        assert calendars.write_booking(db, booking, now=NOW) is None
    with pytest.raises(caldav.lib.error.NotFoundError):
        _calendar(calendar_url).event_by_uid(uid)


def test_a_cancelled_domain_event_removes_the_calendar_event_through_the_outbox(
    registry, run_in_tm, make_service, calendar_url, db_url
):
    if not db_url.startswith("sqlite"):
        pytest.skip("the calendar side is the same on both databases")
    from asthron import domain_events

    service_id = make_service()
    _connect(registry, run_in_tm, service_id, calendar_url)
    with new_transaction(registry) as db:
        service = db.get(BookingService, service_id)
        start = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)
        booking = bookings.book(db, service, start, bookings.Customer(name="Eve"), now=NOW)
        uid = calendars.write_booking(db, booking, now=NOW)
        booking_id = booking.id
    assert _calendar(calendar_url).event_by_uid(uid)
    with new_transaction(registry) as db:
        db.get(Booking, booking_id).status = "cancelled"
        domain_events.record(db, "booking.cancelled", booking_id=booking_id)
    with new_transaction(registry) as db:
        item = _only(db, OutboxItem)
        assert item.kind == "bookings.calendar_event" and item.state == "done", item.last_error
        assert db.get(Booking, booking_id).calendar_event_uid is None
    with pytest.raises(caldav.lib.error.NotFoundError):
        _calendar(calendar_url).event_by_uid(uid)


def test_the_calendar_is_read_again_before_a_booking_commits(
    registry, run_in_tm, make_service, calendar_url, db_url
):
    if not db_url.startswith("sqlite"):
        pytest.skip("the calendar side is the same on both databases")
    service_id = make_service()
    _connect(registry, run_in_tm, service_id, calendar_url)
    with new_transaction(registry) as db:
        connection = _only(db, CalendarConnection)
        calendars.sync_busy(db, connection, now=NOW, days=30)
    noon, one = (dt.datetime(2026, 3, 2, h, tzinfo=dt.UTC) for h in (11, 13))
    with new_transaction(registry) as db:
        service = db.get(BookingService, service_id)
        held = bookings.hold(db, service, one, now=NOW)
        reference = held.reference
    # After the sync (and the hold), the stylist puts two things into their calendar.
    _calendar(calendar_url).save_event(
        _ical(
            "BEGIN:VEVENT\nUID:late-1\nDTSTAMP:20260201T000000Z\nDTSTART:20260302T110000Z\n"
            "DTEND:20260302T120000Z\nSUMMARY:Lunch\nEND:VEVENT"
        )
    )
    _calendar(calendar_url).save_event(
        _ical(
            "BEGIN:VEVENT\nUID:late-2\nDTSTAMP:20260201T000000Z\nDTSTART:20260302T130000Z\n"
            "DTEND:20260302T133000Z\nSUMMARY:Call\nEND:VEVENT"
        )
    )
    with new_transaction(registry) as db:
        service = db.get(BookingService, service_id)
        # The cached busy times still offer noon…
        assert noon in {s.start for s in bookings.offered_slots(db, service, now=NOW)}
        # …but booking reads the calendar again and refuses it.
        with pytest.raises(bookings.SlotTaken):
            bookings.book(db, service, noon, bookings.Customer(name="Finn"), now=NOW)
    # Confirming the hold reads it again too: the call now sits in the held time.
    with new_transaction(registry) as db, pytest.raises(bookings.SlotTaken):
        bookings.confirm(db, reference, bookings.Customer(name="Gus"), now=NOW)
    with new_transaction(registry) as db:
        statuses = list(db.scalars(sa.select(Booking.status)))
    assert len(statuses) == 1 and statuses[0] in ("held", "expired")  # nothing booked


def test_a_calendar_answering_garbage_before_booking_is_a_clear_error(
    registry, run_in_tm, make_service, db_url
):
    if not db_url.startswith("sqlite"):
        pytest.skip("the calendar side is the same on both databases")
    from tests.fakes.google_oauth import FakeGoogleOAuth

    garbage = FakeGoogleOAuth().start()  # answers any CalDAV request with plain text
    try:
        service_id = make_service()

        def connect(db):
            service = db.get(BookingService, service_id)
            resource = bookings.resources_of(db, service)[0]
            db.add(
                CalendarConnection(
                    resource_id=resource.id,
                    calendar_url=f"{garbage.url}/cal/",
                    synced_at=NOW,  # its last read worked: the cache offers times
                )
            )

        run_in_tm(connect)
        with new_transaction(registry) as db:
            service = db.get(BookingService, service_id)
            start = bookings.offered_slots(db, service, now=NOW, limit=1)[0].start
            with pytest.raises(bookings.CalendarUnavailable, match="nothing was booked"):
                bookings.book(db, service, start, bookings.Customer(name="Hal"), now=NOW)
            assert db.scalar(sa.select(sa.func.count()).select_from(Booking)) == 0
    finally:
        garbage.stop()


def test_connect_test_and_disconnect_caldav_from_the_dashboard(
    testapp, registry, make_service, make_user, login, calendar_url, radicale_url, db_url
):
    if not db_url.startswith("sqlite"):
        pytest.skip("the calendar side is the same on both databases")
    from tests.conftest import csrf_from

    service_id = make_service()
    with new_transaction(registry) as db:
        resource_id = bookings.resources_of(db, db.get(BookingService, service_id))[0].id
    login(make_user("admin"))
    page = testapp.get("/bookings/calendars")
    form = {"csrf_token": csrf_from(page), "url": calendar_url, "username": "owner"}
    form["password"] = "app-password"
    testapp.post(f"/bookings/calendars/{resource_id}/caldav", form, status=303)
    with new_transaction(registry) as db:
        connection = _only(db, CalendarConnection)
        assert connection.provider == "caldav" and connection.readable, connection.last_error
        assert connection.calendar_url.rstrip("/") == calendar_url.rstrip("/")
        assert "app-password" not in connection.password_encrypted
        assert connection.synced_at is not None  # read at once
    page = testapp.get("/bookings/calendars")
    assert "Read at" in page.text
    testapp.post(
        f"/bookings/calendars/{resource_id}/test", {"csrf_token": csrf_from(page)}, status=303
    )
    # A calendar home lists its calendars to pick from.
    testapp.post(
        f"/bookings/calendars/{resource_id}/caldav",
        {**form, "url": f"{radicale_url}/owner/"},
        status=303,
    )
    with new_transaction(registry) as db:
        listed = [c["id"] for c in _only(db, CalendarConnection).calendars]
    assert any(u.rstrip("/") == calendar_url.rstrip("/") for u in listed)
    testapp.post(
        f"/bookings/calendars/{resource_id}/disconnect",
        {"csrf_token": csrf_from(page)},
        status=303,
    )
    with new_transaction(registry) as db:
        assert _only(db, CalendarConnection) is None
        assert db.scalar(sa.select(sa.func.count()).select_from(ExternalBusy)) == 0
        actions = list(db.scalars(sa.select(AuditEntry.action)))
    assert actions.count("booking_calendar.connect") == 2
    assert {"booking_calendar.test", "booking_calendar.disconnect"} <= set(actions)


def test_the_periodic_sync_keeps_each_calendars_error_and_skips_broken_ones(
    registry, run_in_tm, make_service, calendar_url, db_url
):
    if not db_url.startswith("sqlite"):
        pytest.skip("the calendar side is the same on both databases")
    from asthron.bookings import tasks
    from tests.fakes.google_oauth import FakeGoogleOAuth

    garbage = FakeGoogleOAuth().start()
    try:
        service_id = make_service(staff=3)

        def connect(db):
            good, bad, broken = bookings.resources_of(db, db.get(BookingService, service_id))
            db.add_all(
                [
                    CalendarConnection(resource_id=good.id, calendar_url=calendar_url),
                    CalendarConnection(resource_id=bad.id, calendar_url=f"{garbage.url}/cal/"),
                    CalendarConnection(
                        resource_id=broken.id, calendar_url=calendar_url, broken_at=NOW
                    ),
                ]
            )
            return good.id, bad.id, broken.id

        good, bad, broken = run_in_tm(connect)
        with new_transaction(registry) as db:
            tasks.sync_all(db)
        with new_transaction(registry) as db:
            rows = {c.resource_id: c for c in db.scalars(sa.select(CalendarConnection))}
            assert rows[good].readable and rows[good].synced_at is not None
            assert not rows[bad].readable and "could not be read" in rows[bad].last_error
            assert rows[broken].synced_at is None  # not tried: only reconnecting helps
    finally:
        garbage.stop()


def test_the_booking_page_says_plainly_when_the_calendar_cannot_be_checked(
    testapp, registry, run_in_tm, make_service, db_url
):
    if not db_url.startswith("sqlite"):
        pytest.skip("the calendar side is the same on both databases")
    from tests.fakes.google_oauth import FakeGoogleOAuth

    garbage = FakeGoogleOAuth().start()
    try:
        service_id = make_service(min_notice_minutes=0)

        def arrange(db):
            service = db.get(BookingService, service_id)
            site = db.get(Site, service.site_id)
            days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
            site.business_hours = {day: [["00:00", "24:00"]] for day in days}
            resource = bookings.resources_of(db, service)[0]
            db.add(
                CalendarConnection(
                    resource_id=resource.id,
                    calendar_url=f"{garbage.url}/cal/",
                    synced_at=bookings.utcnow(),  # the last read worked: times are shown
                )
            )
            return f"/book/{site.public_key}/haircut"

        url = run_in_tm(arrange)
        page = testapp.get(url)
        form = {
            "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1),
            "slot": re.findall(r'name="slot" value="([^"]+)"', page.text)[0],
            "name": "Ida",
            "email": "ida@example.com",
        }
        answer = testapp.post(url, form, status=400)
        assert "could not check the calendar" in answer.text
        with new_transaction(registry) as db:
            assert db.scalar(sa.select(sa.func.count()).select_from(Booking)) == 0
    finally:
        garbage.stop()

"""The customer's side: the confirmation email over real SMTP with its invitation, and the
links in it, which show pages on GET and act only on POST."""

from __future__ import annotations

import datetime as dt
import re

import icalendar
import sqlalchemy as sa

from asthron.bookings.models import Booking, BookingLink
from asthron.db import new_transaction
from tests.bookings.conftest import domain_events, emails
from tests.bookings.test_views import CSRF_RE, SLOT_RE, _page_url

LINK_RE = re.compile(r"https?://[^/\s]+(/booking/[A-Za-z0-9_-]{43})\b")


def _book_on_page(testapp, url, pick=1, email="alice@example.com") -> tuple[str, str]:
    """Book the ``pick``-th free time on the public page; (the slot, the booking reference)."""
    page = testapp.get(url)
    slot = SLOT_RE.findall(page.text)[pick]
    form = {
        "csrf_token": CSRF_RE.search(page.text).group(1),
        "slot": slot,
        "name": "Alice",
        "email": email,
        "phone": "",
        "notes": "",
    }
    done = testapp.post(url, form, status=303)
    return slot, done.headers["Location"].rsplit("/", 1)[1]


def _link(email_text: str) -> str:
    return LINK_RE.search(email_text).group(1)


def _booking(registry, reference) -> Booking:
    with new_transaction(registry) as db:
        return db.scalar(sa.select(Booking).where(Booking.reference == reference))


def _calendar_part(message):
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, "one invitation attached"
    part = parts[0]
    assert part.get_filename() in ("invite.ics", "cancel.ics")
    return part, icalendar.Calendar.from_ical(part.get_content())


def test_confirmation_email_over_smtp_with_an_invitation_and_a_cancel_link(
    testapp, registry, make_service, make_user, smtp_server, configure_smtp
):
    owner = make_user("owner")
    server = smtp_server()
    configure_smtp(server)
    url = _page_url(registry, make_service(min_notice_minutes=0))
    slot, reference = _book_on_page(testapp, url)

    # Sent at once (the outbox runs immediately in tests): the customer's and the owner's.
    by_recipient = {m["rcpt_tos"][0]: m["message"] for m in server.messages}
    assert set(by_recipient) == {"alice@example.com", owner["email"]}
    confirmation = by_recipient["alice@example.com"]
    assert confirmation["Subject"].startswith("Booked: Haircut")
    part, calendar = _calendar_part(confirmation)
    assert part.get_param("method") == "REQUEST"
    assert calendar["METHOD"] == "REQUEST"
    (event,) = calendar.walk("VEVENT")
    assert str(event["UID"]) == f"booking-{reference}@asthron"
    assert event["DTSTART"].dt == dt.datetime.fromisoformat(slot)
    assert event["DTEND"].dt == dt.datetime.fromisoformat(slot) + dt.timedelta(minutes=30)
    assert str(event["ORGANIZER"]) == "mailto:assistant@example.com"
    assert str(event["ATTENDEE"]) == "mailto:alice@example.com"
    assert event["SEQUENCE"] == 0
    body = confirmation.get_body(("plain",)).get_content()
    link = _link(body)
    with new_transaction(registry) as db:
        hashes = set(db.scalars(sa.select(BookingLink.token_hash)))
    assert link.rsplit("/", 1)[1] not in str(hashes), "only a hash of the token is stored"

    # GET shows the booking and a confirm page; nothing changes.
    assert "Your booking" in testapp.get(link).text
    confirm = testapp.get(link + "/cancel")
    assert "Cancel your booking?" in confirm.text
    assert _booking(registry, reference).status == "confirmed"

    # POST cancels: the customer gets the cancellation (METHOD:CANCEL), the owner is told.
    token = CSRF_RE.search(confirm.text).group(1)
    done = testapp.post(link + "/cancel", {"csrf_token": token}, status=303).follow()
    assert "cancelled" in done.text
    assert _booking(registry, reference).status == "cancelled"
    latest = {m["rcpt_tos"][0]: m["message"] for m in server.messages[2:]}
    _part, cancellation = _calendar_part(latest["alice@example.com"])
    assert cancellation["METHOD"] == "CANCEL"
    (cancelled_event,) = cancellation.walk("VEVENT")
    assert (str(cancelled_event["UID"]), cancelled_event["SEQUENCE"]) == (str(event["UID"]), 1)
    assert latest[owner["email"]]["Subject"].startswith("Cancelled: Haircut")
    kind, payload = domain_events(registry)[-1]
    assert (kind, payload["by"]) == ("booking.cancelled", "customer")

    # The used link: a clear page, 410, and a second POST changes nothing.
    gone = testapp.get(link, status=410)
    assert "no longer works" in gone.text
    testapp.post(link + "/cancel", {"csrf_token": token}, status=410)
    assert len(server.messages) == 4


def test_a_past_time_on_the_booking_page_is_refused_plainly(testapp, registry, make_service):
    url = _page_url(registry, make_service(min_notice_minutes=0))
    page = testapp.get(url)
    form = {
        "csrf_token": CSRF_RE.search(page.text).group(1),
        "slot": "2020-01-06T09:00:00+00:00",
        "name": "Alice",
        "email": "alice@example.com",
        "phone": "",
        "notes": "",
    }
    refused = testapp.post(url, form, status=400)
    assert "That time has passed" in refused.text
    assert emails(registry) == []


def test_unknown_and_malformed_links_are_404_and_change_nothing(testapp, registry, make_service):
    url = _page_url(registry, make_service(min_notice_minutes=0))
    _book_on_page(testapp, url)
    page = testapp.get("/booking/" + "x" * 43, status=404)
    assert "This link is not valid" in page.text
    testapp.get("/booking/short/reschedule", status=404)
    token = CSRF_RE.search(testapp.get(url).text).group(1)
    testapp.post("/booking/" + "y" * 43 + "/cancel", {"csrf_token": token}, status=404)
    with new_transaction(registry) as db:
        assert db.scalar(sa.select(Booking.status)) == "confirmed"


def test_the_customer_moves_their_booking(testapp, registry, make_service, make_user):
    owner = make_user("owner")
    url = _page_url(registry, make_service(min_notice_minutes=0))
    slot, reference = _book_on_page(testapp, url, pick=1)
    other_slot, _other = _book_on_page(testapp, url, pick=3, email="bob@example.com")
    link = _link(emails(registry, "alice@example.com")[0]["text"])

    page = testapp.get(link + "/reschedule")
    offered = SLOT_RE.findall(page.text)
    assert offered and slot not in offered and other_slot not in offered
    token = CSRF_RE.search(page.text).group(1)

    # A time someone else has: 409 with other times; the booking stays.
    taken = testapp.post(
        link + "/reschedule", {"csrf_token": token, "slot": other_slot}, status=409
    )
    assert "just been taken" in taken.text and SLOT_RE.findall(taken.text)
    # Garbage, and a time in the past: 400, said plainly.
    bad = testapp.post(link + "/reschedule", {"csrf_token": token, "slot": "soon"}, status=400)
    assert "Please pick a time." in bad.text
    past = testapp.post(
        link + "/reschedule",
        {"csrf_token": token, "slot": "2020-01-06T09:00:00+00:00"},
        status=400,
    )
    assert "That time has passed" in past.text
    assert _booking(registry, reference).starts_at == dt.datetime.fromisoformat(slot)

    new_slot = offered[-1]
    testapp.post(link + "/reschedule", {"csrf_token": token, "slot": new_slot}, status=303)
    booking = _booking(registry, reference)
    assert (booking.starts_at, booking.status) == (dt.datetime.fromisoformat(new_slot), "confirmed")
    moved = emails(registry, "alice@example.com")[-1]
    assert moved["subject"].startswith("Moved: Haircut")
    assert moved["attachments"][0]["params"] == {"method": "REQUEST"}
    assert emails(registry, owner["email"])[-1]["subject"].startswith("Moved: Haircut")
    # The link still works for the moved booking.
    assert "Your booking" in testapp.get(link).text

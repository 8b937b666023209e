"""The public booking page: pick a time, book it, see it; no JavaScript needed."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from asthron.audit.models import AuditEntry
from asthron.bookings import service as bookings
from asthron.bookings.models import Booking, BookingService
from asthron.conversations.models import Conversation, Visitor
from asthron.db import new_transaction, utcnow
from asthron.sites.models import Site
from tests.conftest import csrf_from

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
SLOT_RE = re.compile(r'name="slot" value="([^"]+)"')


def _page_url(registry, service_id) -> str:
    with new_transaction(registry) as db:
        service = db.get(BookingService, service_id)
        site = db.get(Site, service.site_id)
        # Every day open, so the page has times whatever day the test runs.
        site.business_hours = {
            day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        }
        return f"/book/{site.public_key}/{service.slug}"


def test_book_a_time_without_javascript(testapp, registry, make_service):
    url = _page_url(registry, make_service(min_notice_minutes=0))
    page = testapp.get(url)
    slots = SLOT_RE.findall(page.text)
    assert slots, "the page offers times"
    form = {
        "csrf_token": CSRF_RE.search(page.text).group(1),
        "slot": slots[1],
        "name": "Alice",
        "email": "Alice@Example.com",
        "phone": "+49 30 1234567",
        "notes": "",
    }
    done = testapp.post(url, form, status=303).follow()
    assert "You are booked" in done.text
    with new_transaction(registry) as db:
        booking = db.scalar(sa.select(Booking))
        assert booking.customer_email == "alice@example.com"
        assert booking.customer_phone == "+49301234567"
        assert booking.starts_at == dt.datetime.fromisoformat(slots[1])

    # The same time again: 409, said plainly, with the next free times to pick from.
    taken = testapp.post(url, form, status=409)
    assert "just been taken" in taken.text
    assert slots[1] not in SLOT_RE.findall(taken.text)
    assert SLOT_RE.findall(taken.text)


def test_form_errors_are_a_400_and_unknown_pages_404(testapp, registry, make_service):
    url = _page_url(registry, make_service())
    page = testapp.get(url)
    form = {
        "csrf_token": CSRF_RE.search(page.text).group(1),
        "slot": "",
        "name": "",
        "email": "x",
        "phone": "12",
    }
    response = testapp.post(url, form, status=400)
    assert "Please pick a time." in response.text
    assert "country code" in response.text
    testapp.get(url + "-nope", status=404)
    testapp.get("/booked/unknown", status=404)


def test_the_assistant_may_offer_free_times(registry, make_service):
    service_id = make_service(min_notice_minutes=0)
    url = _page_url(registry, service_id)
    hooks = registry["message_hooks"]
    with new_transaction(registry) as db:
        service = db.get(BookingService, service_id)
        visitor = Visitor(site_id=service.site_id, token_hash="0" * 64)
        db.add(visitor)
        db.flush()
        conversation = Conversation(site_id=service.site_id, visitor_id=visitor.id)
        db.add(conversation)
        db.flush()
        contributions = hooks.prompt_contributions(db, conversation.id)
        first = bookings.offered_slots(db, service, now=utcnow(), limit=1)[0]
    instruction = next(c.instruction for c in contributions if "free times" in c.instruction)
    assert "Haircut (30 min)" in instruction
    assert url in instruction
    # The times are the business's (Berlin) wall clock.
    berlin = first.start.astimezone(ZoneInfo("Europe/Berlin"))
    assert berlin.strftime("%a %d %b %H:%M") in instruction


def test_staff_approve_and_cancel_bookings(testapp, registry, make_service, make_user, login):
    service_id = make_service(requires_approval=True, min_notice_minutes=0)
    _page_url(registry, service_id)
    with new_transaction(registry) as db:
        service = db.get(BookingService, service_id)
        start = bookings.offered_slots(db, service, limit=1)[0].start
        customer = bookings.Customer(name="Carol", email="carol@example.com")
        booking_id = bookings.book(db, service, start, customer).id
    login(make_user("staff"))
    page = testapp.get("/bookings")
    assert "Carol" in page.text and "awaiting approval" in page.text
    token = csrf_from(page)
    approve = f"/bookings/{booking_id}/approve"
    testapp.post(approve, {"csrf_token": token}, status=303)
    refused = testapp.post(approve, {"csrf_token": token}, status=400)
    assert "A booking that is confirmed cannot be approved." in refused.text
    testapp.post(f"/bookings/{booking_id}/cancel", {"csrf_token": token}, status=303)
    with new_transaction(registry) as db:
        assert db.get(Booking, booking_id).status == "cancelled"
        actions = set(db.scalars(sa.select(AuditEntry.action)))
        assert {"booking.approve", "booking.cancel"} <= actions
        # Cancelled: the time is free again.
        service = db.get(BookingService, service_id)
        assert start in {s.start for s in bookings.offered_slots(db, service)}

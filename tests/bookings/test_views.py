"""The public booking page: pick a time, book it, see it; no JavaScript needed."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from asthron.bookings import service as bookings
from asthron.bookings.models import Booking, BookingService
from asthron.conversations.models import Conversation, Visitor
from asthron.db import new_transaction, utcnow
from asthron.sites.models import Site

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
        "phone": "",
        "notes": "",
    }
    done = testapp.post(url, form, status=303).follow()
    assert "You are booked" in done.text
    with new_transaction(registry) as db:
        booking = db.scalar(sa.select(Booking))
        assert booking.customer_email == "alice@example.com"
        assert booking.starts_at == dt.datetime.fromisoformat(slots[1])

    # The same time again: 409, said plainly, with the next free times to pick from.
    taken = testapp.post(url, form, status=409)
    assert "just been taken" in taken.text
    assert slots[1] not in SLOT_RE.findall(taken.text)
    assert SLOT_RE.findall(taken.text)


def test_form_errors_are_a_400_and_unknown_pages_404(testapp, registry, make_service):
    url = _page_url(registry, make_service())
    page = testapp.get(url)
    form = {"csrf_token": CSRF_RE.search(page.text).group(1), "slot": "", "name": "", "email": "x"}
    response = testapp.post(url, form, status=400)
    assert "Please pick a time." in response.text
    testapp.get(url + "-nope", status=404)
    testapp.get("/bookings/unknown", status=404)


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

"""Booking inside the chat, in Chromium: a visitor in another time zone asks for an
appointment, picks a day and a time on the card, gives their details and sees the booking
confirmed; a time that went meanwhile is said plainly and fresh times are offered."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.browser.conftest import PRIVACY_NOTICE
from tests.conftest import REQUIRE_SERVICES

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture explains the skip
    if REQUIRE_SERVICES:
        raise
    pytest.skip("Playwright is not installed (pip install -e '.[dev]')", allow_module_level=True)

VISITOR_ZONE = "Asia/Kolkata"
# Chromium still names the zone by its older alias.
ZONE_NAME = r"Asia/(Kolkata|Calcutta)"
ALWAYS = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def _bookable(run_in_tm, site_id: int) -> None:
    from asthron.bookings.models import BookingResource, BookingService, BookingServiceResource
    from asthron.sites.models import Site

    def setup(db):
        site = db.get(Site, site_id)
        site.timezone, site.business_hours = "Europe/Berlin", ALWAYS
        service = BookingService(
            site_id=site_id,
            slug="haircut",
            name="Haircut",
            duration_minutes=60,
            interval_minutes=60,
            min_notice_minutes=0,
        )
        resource = BookingResource(site_id=site_id, name="Sam")
        db.add_all([service, resource])
        db.flush()
        db.add(BookingServiceResource(service_id=service.id, resource_id=resource.id))

    run_in_tm(setup)


def _tomorrow_afternoon(run_in_tm):
    """The free times the card offers for "tomorrow afternoon" on the visitor's clock."""
    from asthron.bookings import service as bookings
    from asthron.bookings.models import BookingService

    tz = ZoneInfo(VISITOR_ZONE)
    tomorrow = dt.datetime.now(tz).date() + dt.timedelta(days=1)
    noon = dt.datetime.combine(tomorrow, dt.time(12), tz)

    def read(db):
        service = db.scalar(sa.select(BookingService))
        return bookings.offered_slots(db, service, start=noon, end=noon + dt.timedelta(hours=5))

    return run_in_tm(read)


def test_book_a_time_in_the_chat_end_to_end(host_site, make_site, open_page, run_in_tm):
    site = make_site(host_site.origin)
    _bookable(run_in_tm, site["id"])
    page = open_page(host_site.page("/", site["key"]), timezone_id=VISITOR_ZONE)
    p = page.page
    p.locator(".launcher").click()
    expect(p.locator(".consent")).to_contain_text(PRIVACY_NOTICE)
    p.get_by_role("button", name="Got it").click()
    box = p.get_by_role("textbox", name="Message")
    box.fill("Can I come in tomorrow afternoon for a haircut?")
    box.press("Enter")

    card = p.locator(".card")
    expect(card).to_contain_text("Would you like to book an appointment?")
    expect(card).to_contain_text(re.compile(f"Times in {ZONE_NAME}"))
    offered = _tomorrow_afternoon(run_in_tm)
    assert len(offered) >= 2
    tz = ZoneInfo(VISITOR_ZONE)
    labels = [o.start.astimezone(tz).strftime("%H:%M") for o in offered]
    times = card.get_by_role("group", name="Times").get_by_role("button")
    expect(times).to_have_text(labels)  # only tomorrow afternoon, on the visitor's clock
    expect(card.get_by_role("group", name="Days").get_by_role("button")).to_have_count(1)

    # Someone else books the first time while the visitor looks at it.
    def book_first(db):
        from asthron.bookings import service as bookings
        from asthron.bookings.models import BookingService

        service = db.scalar(sa.select(BookingService))
        bookings.book(db, service, offered[0].start, bookings.Customer(name="Other"))

    run_in_tm(book_first)
    times.first.click()
    expect(card.get_by_role("alert").first).to_contain_text("just been taken")
    expect(times).to_have_text(labels[1:])  # fresh times, without the one that went

    times.first.click()
    name = card.get_by_label("Name")
    expect(name).to_be_focused()
    name.fill("Ada Lovelace")
    card.get_by_role("button", name="Book").click()
    # Neither an email nor a phone: said in the card, nothing posted.
    expect(card.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    card.get_by_label("Email").fill("ada@example.com")
    card.get_by_role("button", name="Book").click()

    expect(card).to_contain_text("✓ Booked: Haircut")
    when = offered[1].start.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    expect(p.locator(".sys").last).to_have_text(
        re.compile(rf"^Booked: Haircut on {when} \({ZONE_NAME}\)\. See you then!$")
    )

    def stored(db):
        from asthron.bookings.models import Booking

        return [
            (b.customer_name, b.customer_email, b.status, b.starts_at)
            for b in db.scalars(sa.select(Booking).where(Booking.customer_name == "Ada Lovelace"))
        ]

    assert run_in_tm(stored) == [("Ada Lovelace", "ada@example.com", "confirmed", offered[1].start)]
    # After a reload the card shows what was booked, not the times again.
    p.reload()
    p.locator(".launcher").click()
    expect(p.locator(".card")).to_contain_text("✓ Booked:")
    expect(p.locator(".card").get_by_role("button")).to_have_count(0)
    # The browser logs the refused hold (409) as a failed load; nothing else went wrong.
    unexpected = [e for e in page.errors if "status of 409" not in e]
    assert len(page.errors) == 1 and not unexpected, page.errors

"""Payments in Chromium: a paid service booked on its page, paid on the (fake) hosted Checkout
page, the booking confirmed; and a payment request in the widget whose card turns paid live.

The fake Stripe (tests/fakes/stripe_server.py) serves the API to the real SDK and a hosted
page whose Pay button completes the session and sends the signed webhook to the app.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading

import pytest

from tests.browser.conftest import PRIVACY_NOTICE
from tests.conftest import REQUIRE_SERVICES
from tests.fakes.stripe_server import GOOD_KEY, FakeStripe

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture explains the skip
    if REQUIRE_SERVICES:
        raise
    pytest.skip("Playwright is not installed (pip install -e '.[dev]')", allow_module_level=True)

WEBHOOK_SECRET = "whsec_browsertestsecret01"
ALL_WEEK = {day: [["00:00", "23:59"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
def app_port():
    # The app's address must be known before it is built: its public URL goes in the links.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fake_stripe(app_port):
    fake = FakeStripe(
        webhook_url=f"http://127.0.0.1:{app_port}/hooks/stripe", webhook_secret=WEBHOOK_SECRET
    ).start()
    yield fake
    fake.stop()


@pytest.fixture
def ini_settings(ini_settings, fake_stripe, app_port):
    return {
        **ini_settings,
        "asthron.public_url": f"http://127.0.0.1:{app_port}",
        "asthron.stripe.api_base": fake_stripe.url,
        "asthron.stripe.secret_key": GOOD_KEY,
        "asthron.stripe.webhook_secret": WEBHOOK_SECRET,
    }


@pytest.fixture
def server(app, app_port):
    """As tests/browser/conftest.py's, on the port the public URL names."""
    import waitress

    srv = waitress.create_server(app, host="127.0.0.1", port=app_port, threads=16)
    stopping = threading.Event()

    def serve():
        while not stopping.is_set():
            srv.asyncore.loop(timeout=0.1, map=srv._map, count=1)

    thread = threading.Thread(target=serve, name="waitress", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{app_port}"
    stopping.set()
    thread.join(5)
    for channel in list(srv._map.values()):
        if channel is not srv and hasattr(channel, "requests"):
            channel.handle_close()
    srv.close()
    srv.task_dispatcher.shutdown(timeout=3)


def test_book_a_paid_service_pay_and_it_is_confirmed(server, open_page, run_in_tm, fake_stripe):
    from asthron.bookings.models import (
        Booking,
        BookingResource,
        BookingService,
        BookingServiceResource,
    )
    from asthron.sites.models import Site

    def arrange(db):
        site = Site(
            name="Salon",
            public_key=f"pk-{dt.datetime.now().timestamp()}",
            timezone="UTC",
            business_hours=ALL_WEEK,
            holidays=[],
        )
        db.add(site)
        db.flush()
        service = BookingService(
            site_id=site.id, slug="cut", name="Cut", price_cents=4000, deposit_cents=1500
        )
        resource = BookingResource(site_id=site.id, name="Stylist")
        db.add_all([service, resource])
        db.flush()
        db.add(BookingServiceResource(service_id=service.id, resource_id=resource.id))
        return site.public_key

    key = run_in_tm(arrange)
    page = open_page(f"{server}/book/{key}/cut", widget=False)
    p = page.page
    p.locator("input[name=slot]").first.check()
    p.get_by_label("Your name").fill("Ada Lovelace")
    p.get_by_label("Email").fill("ada@example.com")
    p.get_by_role("button", name="Book").click()
    pay = p.get_by_role("button", name="Pay 15.00 EUR")
    expect(pay).to_be_visible()
    pay.click()
    # Stripe's hosted page (the fake's).
    p.get_by_role("button", name="Pay with test card").click()
    expect(p.get_by_text("Paid. Thank you!")).to_be_visible()
    p.get_by_role("link", name="Back to your booking").click()
    expect(p.get_by_role("heading", name="You are booked")).to_be_visible()
    status = run_in_tm(lambda db: db.query(Booking).one().status)
    assert status == "confirmed"
    # The pages' own scripts raised nothing (the fake's missing favicon is not our page's).
    assert [e for e in page.errors if not e.startswith("Failed to load resource")] == []


def test_a_payment_request_card_opens_checkout_and_turns_paid(
    server, host_site, make_site, open_page, run_in_tm, fake_stripe
):
    from asthron.audit.service import Actor
    from asthron.conversations.models import Conversation
    from asthron.payments import service

    site = make_site(host_site.origin)
    page = open_page(host_site.page("/", site["key"]))
    p = page.page
    p.locator(".launcher").click()
    expect(p.locator(".consent")).to_contain_text(PRIVACY_NOTICE)
    p.get_by_role("button", name="Got it").click()
    p.get_by_role("button", name="Talk to a person").click()  # opens the conversation
    expect(p.locator(".sys").first).to_be_visible()

    def ask(db):
        conversation = db.query(Conversation).one()
        service.request_payment(db, Actor.cli(), conversation, 4990, "EUR", "Invoice 1042")

    run_in_tm(ask)
    card = p.locator(".card", has_text="Invoice 1042: 49.90 EUR")
    link = card.get_by_role("link", name="Pay 49.90 EUR")
    expect(link).to_be_visible()
    assert link.get_attribute("target") == "_blank"
    with p.context.expect_page() as opened:
        link.click()
    checkout = opened.value
    checkout.get_by_role("button", name="Pay 49.90 EUR").click()
    checkout.get_by_role("button", name="Pay with test card").click()
    expect(checkout.get_by_text("Paid. Thank you!")).to_be_visible()
    # Live in the widget: the card says paid, the link is gone, the chat says so.
    expect(card.get_by_role("status")).to_have_text("✓ Paid")
    expect(link).to_be_hidden()
    expect(p.get_by_text("Payment of 49.90 EUR received. Thank you!")).to_be_visible()
    assert page.errors == []

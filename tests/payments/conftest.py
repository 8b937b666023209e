"""Payments fixtures: the loopback fake of the Stripe API (the real SDK is pointed at it with
``asthron.stripe.api_base``), a paid service, a conversation, and signed webhooks."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from asthron.bookings.models import BookingResource, BookingService, BookingServiceResource
from asthron.payments.models import Payment
from asthron.sites.models import Site
from tests.fakes.stripe_server import GOOD_KEY, FakeStripe, sign

WEBHOOK_SECRET = "whsec_testsigningsecret0001"
WEEKDAYS = {day: [["00:00", "23:59"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
def fake_stripe():
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture
def ini_settings(ini_settings, fake_stripe):
    # setdefault: a test's @pytest.mark.app_settings(...) wins (e.g. keys left to the dashboard).
    settings = dict(ini_settings)
    settings.setdefault("asthron.stripe.api_base", fake_stripe.url)
    settings.setdefault("asthron.stripe.secret_key", GOOD_KEY)
    settings.setdefault("asthron.stripe.webhook_secret", WEBHOOK_SECRET)
    return settings


@pytest.fixture
def paid_service(run_in_tm):
    """A service with a 20.00 EUR deposit, bookable any time from an hour from now."""

    def make(**options):
        def create(db):
            site = Site(
                name="Salon",
                public_key=f"pk-{dt.datetime.now().timestamp()}",
                timezone="UTC",
                business_hours=WEEKDAYS,
                holidays=[],
            )
            db.add(site)
            db.flush()
            service = BookingService(
                site_id=site.id,
                slug="haircut",
                name="Haircut",
                price_cents=options.pop("price_cents", 5000),
                deposit_cents=options.pop("deposit_cents", 2000),
                currency="EUR",
                **options,
            )
            db.add(service)
            db.flush()
            resource = BookingResource(site_id=site.id, name="Stylist")
            db.add(resource)
            db.flush()
            db.add(BookingServiceResource(service_id=service.id, resource_id=resource.id))
            return site.public_key, service.id

        return run_in_tm(create)

    return make


@pytest.fixture
def conversation(run_in_tm):
    from asthron.conversations.models import Conversation, Visitor
    from asthron.security.tokens import new_token, token_hash

    def create(db):
        site = Site(name="Shop", public_key=f"pk-{dt.datetime.now().timestamp()}")
        db.add(site)
        db.flush()
        visitor = Visitor(site_id=site.id, token_hash=token_hash(new_token()))
        db.add(visitor)
        db.flush()
        chat = Conversation(site_id=site.id, visitor_id=visitor.id, open_slot=1)
        db.add(chat)
        db.flush()
        return chat.id

    return run_in_tm(create)


@pytest.fixture
def post_webhook(testapp):
    """POST a Stripe event body to /hooks/stripe, signed as Stripe signs it."""

    def post(body: bytes, *, secret=WEBHOOK_SECRET, timestamp=None, status=200, signature=None):
        header = signature if signature is not None else sign(body, secret, timestamp)
        return testapp.post(
            "/hooks/stripe",
            body,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
            status=status,
        )

    return post


@pytest.fixture
def payment_row(run_in_tm):
    def read(payment_id):
        return run_in_tm(lambda db: _detached(db, payment_id))

    return read


def _detached(db, payment_id):
    payment = db.get(Payment, payment_id)
    db.expunge(payment)
    return payment


def only_payment(run_in_tm) -> Payment:
    def read(db):
        payment = db.scalars(sa.select(Payment)).one()
        db.expunge(payment)
        return payment

    return run_in_tm(read)

"""Bookings fixtures: a site with weekday hours, staff members and a service they serve."""

from __future__ import annotations

import datetime as dt

import pytest

from asthron.bookings.models import BookingResource, BookingService, BookingServiceResource
from asthron.sites.models import Site

WEEKDAYS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
# Monday 2026-03-02, 07:00 UTC (08:00 in Berlin).
NOW = dt.datetime(2026, 3, 2, 7, 0, tzinfo=dt.UTC)


@pytest.fixture
def make_service(run_in_tm):
    def make(staff=1, timezone="Europe/Berlin", **options):
        def create(db):
            site = Site(
                name="Salon",
                public_key=f"pk-{dt.datetime.now().timestamp()}",
                timezone=timezone,
                business_hours=WEEKDAYS,
                holidays=[],
            )
            db.add(site)
            db.flush()
            service = BookingService(
                site_id=site.id,
                slug="haircut",
                name="Haircut",
                duration_minutes=options.pop("duration_minutes", 30),
                interval_minutes=options.pop("interval_minutes", 30),
                min_notice_minutes=options.pop("min_notice_minutes", 60),
                **options,
            )
            db.add(service)
            db.flush()
            for index in range(staff):
                resource = BookingResource(site_id=site.id, name=f"Stylist {index + 1}")
                db.add(resource)
                db.flush()
                db.add(BookingServiceResource(service_id=service.id, resource_id=resource.id))
            return service.id

        return run_in_tm(create)

    return make


@pytest.fixture
def fake_google(ini_settings, monkeypatch):
    """A loopback fake of Google's token endpoint, and the app's OAuth client pointed at it.
    Request it before ``app``/``registry`` (it changes the settings the app is built from)."""
    from tests.fakes.google_oauth import FakeGoogleOAuth

    fake = FakeGoogleOAuth().start()
    ini_settings["asthron.google_client_id"] = "client-1.apps.example"
    ini_settings["asthron.google_client_secret"] = "client-secret-1"
    ini_settings["asthron.google_token_uri"] = fake.token_uri
    ini_settings["asthron.google_auth_uri"] = f"{fake.url}/auth"
    ini_settings["asthron.google_revoke_uri"] = f"{fake.url}/revoke"
    # oauthlib refuses plain http unless told: the fake listens on loopback without TLS.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    yield fake
    fake.stop()

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

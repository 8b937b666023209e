"""Booking setup in the dashboard: services, staff, the weekly grid, dates, holidays."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from asthron.audit.models import AuditEntry
from asthron.bookings.models import BookingResource, BookingService, BookingServiceResource
from asthron.db import new_transaction
from asthron.sites.models import Site
from tests.conftest import csrf_from

SETUP = "/bookings/setup"


@pytest.fixture
def owner(testapp, make_user, login, make_site, registry):
    login(make_user("owner"))
    site = make_site()
    with new_transaction(registry) as db:
        db.get(Site, site["id"]).business_hours = {"mon": [["09:00", "17:00"]]}
    return {"site": site, "token": csrf_from(testapp.get(SETUP))}


def _actions(registry) -> list[str]:
    with new_transaction(registry) as db:
        return list(db.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))


def _resource(testapp, owner, name="Sam") -> int:
    response = testapp.post(
        f"{SETUP}/resources/new",
        {
            "csrf_token": owner["token"],
            "site_id": str(owner["site"]["id"]),
            "name": name,
            "kind": "staff",
            "user_id": "",
            "active": "1",
        },
        status=303,
    )
    return int(response.location.rstrip("/").split("/")[-1].split("?")[0])


def test_staff_members_hours_dates_and_holidays(testapp, registry, owner):
    resource_id = _resource(testapp, owner)
    url = f"{SETUP}/resources/{resource_id}"
    page = testapp.get(url)
    # The grid starts from the site's business hours, and says it follows them.
    assert 'name="mon_1_start" value="09:00"' in page.text
    assert 'name="use_site_hours" value="1" checked' in page.text

    hours = {"csrf_token": owner["token"], "use_site_hours": ""}
    hours.update(mon_1_start="09:00", mon_1_end="12:00", mon_2_start="13:00", mon_2_end="17:30")
    hours.update(fri_1_start="22:00", fri_1_end="02:00")
    testapp.post(url + "/hours", hours, status=303)
    testapp.post(
        url + "/overrides",
        {"csrf_token": owner["token"], "date": "2026-12-24", "start_1": "09:00", "end_1": "12:00"},
        status=303,
    )
    testapp.post(
        url + "/overrides",
        {"csrf_token": owner["token"], "date": "2026-12-31", "closed": "1"},
        status=303,
    )
    testapp.post(
        url + "/holidays",
        {"csrf_token": owner["token"], "holidays": "2026-12-26\n2026-12-25, 2026-12-25"},
        status=303,
    )
    with new_transaction(registry) as db:
        resource = db.get(BookingResource, resource_id)
        assert resource.working_hours == {
            "mon": [["09:00", "12:00"], ["13:00", "17:30"]],
            "fri": [["22:00", "02:00"]],
        }
        assert resource.overrides == {"2026-12-24": [["09:00", "12:00"]], "2026-12-31": []}
        assert resource.holidays == ["2026-12-25", "2026-12-26"]
    testapp.post(
        url + "/overrides/remove", {"csrf_token": owner["token"], "date": "2026-12-31"}, status=303
    )
    # Back to the site's hours and holidays.
    testapp.post(url + "/hours", {"csrf_token": owner["token"], "use_site_hours": "1"}, status=303)
    testapp.post(
        url + "/holidays", {"csrf_token": owner["token"], "use_site_holidays": "1"}, status=303
    )
    with new_transaction(registry) as db:
        resource = db.get(BookingResource, resource_id)
        assert list(resource.overrides) == ["2026-12-24"]
        assert resource.working_hours is None and resource.holidays is None
    assert {
        "booking_resource.create",
        "booking_resource.hours",
        "booking_resource.override_set",
        "booking_resource.override_remove",
        "booking_resource.holidays",
    } <= set(_actions(registry))


def test_bad_hours_are_form_errors_and_nothing_is_lost(testapp, registry, owner):
    resource_id = _resource(testapp, owner)
    url = f"{SETUP}/resources/{resource_id}"
    testapp.post(
        url + "/hours",
        {"csrf_token": owner["token"], "tue_1_start": "10:00", "tue_1_end": "11:00"},
        status=303,
    )
    before = _actions(registry)
    cases = [
        (
            {
                "mon_1_start": "09:00",
                "mon_1_end": "12:00",
                "mon_2_start": "11:00",
                "mon_2_end": "13:00",
            },
            "overlaps",
        ),
        ({"wed_1_start": "25:00", "wed_1_end": "26:00"}, "time like 09:30"),
        ({"thu_1_start": "09:00"}, "both a start and an end"),
        ({"sat_1_start": "<script>", "sat_1_end": "x"}, "time like 09:30"),
    ]
    for fields, message in cases:
        response = testapp.post(
            url + "/hours", {"csrf_token": owner["token"], **fields}, status=400
        )
        assert message in response.text
        # What was typed comes back (escaped), so nothing has to be typed again.
        for name, value in fields.items():
            shown = value.replace("<", "&lt;").replace(">", "&gt;")
            assert f'name="{name}" value="{shown}"' in response.text
        assert "<script>" not in response.text
    # Sent twice: a form error too, not a 500.
    twice = testapp.post(
        url + "/hours",
        [("csrf_token", owner["token"]), ("mon_1_start", "09:00"), ("mon_1_start", "10:00")],
        status=400,
    )
    assert "more than once" in twice.text
    bad_date = testapp.post(
        url + "/overrides", {"csrf_token": owner["token"], "date": "2026-02-30"}, status=400
    )
    assert "a date like" in bad_date.text
    no_hours = testapp.post(
        url + "/overrides", {"csrf_token": owner["token"], "date": "2026-12-24"}, status=400
    )
    assert "Closed all day" in no_hours.text
    bad_holiday = testapp.post(
        url + "/holidays",
        {"csrf_token": owner["token"], "holidays": "2026-12-25\nsoon"},
        status=400,
    )
    assert "“soon” is not a date" in bad_holiday.text
    with new_transaction(registry) as db:
        resource = db.get(BookingResource, resource_id)
        assert resource.working_hours == {"tue": [["10:00", "11:00"]]}
        assert resource.overrides == {} and resource.holidays is None
    assert _actions(registry) == before


def test_services_with_all_their_rules_and_who_serves_them(testapp, registry, owner):
    sam = _resource(testapp, owner, "Sam")
    chair = _resource(testapp, owner, "Chair 2")
    form = {
        "csrf_token": owner["token"],
        "site_id": str(owner["site"]["id"]),
        "name": "Coupe & brushing",
        "slug": "",
        "description": "Wash, cut\nand dry.",
        "duration_minutes": "45",
        "interval_minutes": "15",
        "buffer_before_minutes": "5",
        "buffer_after_minutes": "10",
        "min_notice_minutes": "120",
        "window_days": "30",
        "daily_limit": "4",
        "weekly_limit": "12",
        "price": "35.50",
        "deposit": "10",
        "currency": "chf",
        "requires_approval": "1",
        "active": "1",
    }
    created = testapp.post(
        f"{SETUP}/services/new",
        [*form.items(), ("resources", str(sam)), ("resources", str(chair))],
        status=303,
    )
    service_id = int(created.location.split("?")[0].rstrip("/").split("/")[-1])
    with new_transaction(registry) as db:
        service = db.get(BookingService, service_id)
        assert (service.slug, service.duration_minutes, service.interval_minutes) == (
            "coupe-brushing",
            45,
            15,
        )
        assert (service.buffer_before_minutes, service.buffer_after_minutes) == (5, 10)
        assert (service.min_notice_minutes, service.window_days) == (120, 30)
        assert (service.daily_limit, service.weekly_limit) == (4, 12)
        assert (service.price_cents, service.deposit_cents, service.currency) == (3550, 1000, "CHF")
        assert service.requires_approval and service.active
        served = set(
            db.scalars(
                sa.select(BookingServiceResource.resource_id).where(
                    BookingServiceResource.service_id == service_id
                )
            )
        )
        assert served == {sam, chair}
    # Edit: one stylist only, no limits, inactive (unticked boxes are sent as nothing).
    edit = {k: v for k, v in form.items() if k not in ("site_id", "requires_approval", "active")}
    edit.update(daily_limit="", weekly_limit="", interval_minutes="", slug="coupe")
    testapp.post(
        f"{SETUP}/services/{service_id}", [*edit.items(), ("resources", str(sam))], status=303
    )
    with new_transaction(registry) as db:
        service = db.get(BookingService, service_id)
        assert service.slug == "coupe" and service.interval_minutes == 45
        assert service.daily_limit is None and service.weekly_limit is None
        assert not service.active and not service.requires_approval
        assert (
            db.scalar(
                sa.select(sa.func.count()).where(BookingServiceResource.service_id == service_id)
            )
            == 1
        )
    page = testapp.get(f"{SETUP}/services/{service_id}")
    assert 'value="35.50"' in page.text
    assert {"booking_service.create", "booking_service.update"} <= set(_actions(registry))


def test_bad_and_hostile_service_input_is_a_form_error(testapp, registry, make_site, owner):
    other_site = make_site(name="Other")
    with new_transaction(registry) as db:
        foreign = BookingResource(site_id=other_site["id"], name="Elsewhere")
        db.add(foreign)
        db.flush()
        foreign_id = foreign.id
    form = {
        "csrf_token": owner["token"],
        "site_id": str(owner["site"]["id"]),
        "name": "<script>alert(1)</script>",
        "duration_minutes": "abc",
        "daily_limit": "5",
        "weekly_limit": "2",
        "price": "10",
        "deposit": "20",
        "currency": "euro",
    }
    response = testapp.post(
        f"{SETUP}/services/new", [*form.items(), ("resources", str(foreign_id))], status=400
    )
    for message in (
        "The duration is 5 to 1,440 minutes.",
        "The deposit cannot be more than the price.",
        "three-letter code",
        "Choose staff members or resources of this site.",
    ):
        assert message in response.text, message
    # Typed values come back, escaped.
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in response.text
    assert "<script>alert" not in response.text
    limits = dict(form, duration_minutes="30", deposit="", currency="EUR")
    response = testapp.post(f"{SETUP}/services/new", limits, status=400)
    assert "weekly limit cannot be below the daily limit" in response.text
    # A resource id that is not a number, a control character, a site that does not exist.
    response = testapp.post(
        f"{SETUP}/services/new",
        [
            *dict(form, name="Cut\x07", site_id="999999", duration_minutes="30").items(),
            ("resources", "1 OR 1=1"),
        ],
        status=400,
    )
    assert "control characters" in response.text
    assert "Choose a site." in response.text
    with new_transaction(registry) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(BookingService)) == 0
    # Two services may not share an address name on one site.
    ok = dict(form, name="Cut", duration_minutes="30", deposit="", currency="EUR", weekly_limit="")
    testapp.post(f"{SETUP}/services/new", ok, status=303)
    again = testapp.post(f"{SETUP}/services/new", ok, status=400)
    assert "Another service of this site has that address name." in again.text


def test_staff_may_not_set_bookings_up(testapp, make_user, login):
    login(make_user("staff"))
    testapp.get(SETUP, status=403)
    testapp.get(f"{SETUP}/services/new", status=403)

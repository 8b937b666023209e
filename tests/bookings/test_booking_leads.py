"""Whoever books becomes (or is matched to) a lead through the booking events, and the lead's
timeline then shows the booking; leads and bookings never import each other."""

from __future__ import annotations

import sqlalchemy as sa

from asthron.db import new_transaction
from asthron.leads.models import Lead, LeadActivity
from tests.bookings.test_dashboard import _book, _future_slots, _open_every_day


def test_a_booking_makes_a_lead_and_matches_it_the_next_time(
    testapp, registry, make_service, make_user, login
):
    service_id = make_service(min_notice_minutes=0)
    _open_every_day(registry, service_id)
    first, second = _future_slots(registry, service_id, 2)
    _book(registry, service_id, first, name="Dana Diaz", email="dana@example.com")
    _book(registry, service_id, second, name="Dana", email="dana@example.com")
    with new_transaction(registry) as db:
        leads = list(db.scalars(sa.select(Lead)))
        assert [(lead.name, lead.email) for lead in leads] == [("Dana Diaz", "dana@example.com")]
        captured = db.scalars(
            sa.select(LeadActivity.body).where(LeadActivity.lead_id == leads[0].id)
        ).all()
        assert any("booking" in body for body in captured)
        lead_id = leads[0].id
    login(make_user("staff"))
    timeline = testapp.get(f"/leads/{lead_id}").text
    assert timeline.count("Haircut, ") == 2


def test_a_booking_without_contact_details_makes_no_lead(registry, make_service):
    service_id = make_service(min_notice_minutes=0)
    _open_every_day(registry, service_id)
    [start] = _future_slots(registry, service_id, 1)
    _book(registry, service_id, start, name="Walk-in", email=None)
    with new_transaction(registry) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Lead)) == 0

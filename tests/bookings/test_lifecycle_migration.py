"""Migration 0019 changes the bookings' status CHECK constraint, which SQLite does by copying
the table: the copy must keep what points at a booking (a payment's booking_id, which the
drop of the old table would otherwise set to NULL), both ways."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from sqlalchemy.orm import Session

from asthron.bookings.models import Booking, BookingResource, BookingService
from asthron.cli.db import alembic_config
from asthron.db import make_engine
from asthron.payments.models import Payment
from asthron.settings import AppSettings
from asthron.sites.models import Site

ROOT = Path(__file__).parents[2]
START = dt.datetime(2027, 3, 2, 9, tzinfo=dt.UTC)


def test_the_status_change_keeps_payments_linked_to_their_bookings(tmp_path):
    url = f"sqlite:///{tmp_path / 'bookings.sqlite'}"
    config = alembic_config(
        AppSettings(
            database_url=url,
            huey_url="sqlite:///unused",
            secrets_file=Path("unused"),
            migrations_dir=ROOT / "migrations",
        )
    )
    command.upgrade(config, "head")
    engine = make_engine(url)
    try:
        with Session(engine) as db, db.begin():
            site = Site(name="Salon", public_key="pk-migration", timezone="UTC")
            db.add(site)
            db.flush()
            service = BookingService(site_id=site.id, slug="cut", name="Cut", currency="EUR")
            resource = BookingResource(site_id=site.id, name="Sam")
            db.add_all([service, resource])
            db.flush()
            booking = Booking(
                reference="ref-1",
                service_id=service.id,
                resource_id=resource.id,
                status="confirmed",
                starts_at=START,
                ends_at=START + dt.timedelta(minutes=30),
                blocks_from=START,
                blocks_until=START + dt.timedelta(minutes=30),
                local_date=START.date(),
                customer_name="Ana",
            )
            db.add(booking)
            db.flush()
            db.add(
                Payment(
                    reference="pay-1",
                    kind="booking",
                    status="paid",
                    amount_cents=2000,
                    currency="eur",
                    booking_id=booking.id,
                    expires_at=START,
                )
            )

        def linked():
            with engine.connect() as connection:
                return (
                    connection.execute(sa.text("SELECT booking_id FROM payments")).scalars().all()
                )

        assert linked() == [1]
        command.downgrade(config, "0018")
        assert linked() == [1]
        command.upgrade(config, "head")
        assert linked() == [1]
        with engine.connect() as connection:
            statuses = connection.execute(sa.text("SELECT status FROM bookings")).scalars().all()
        assert statuses == ["confirmed"]
    finally:
        engine.dispose()

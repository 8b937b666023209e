"""Telling the business a payment came in: an alert routed by the email routing rules
(Integrations → Email → Routing, event "A payment is received"). There is no default
recipient: Stripe emails the account owner already; the rules say who else hears of it."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from asthron import domain_events
from asthron.alerts.service import Alert, send_alert
from asthron.db import registry_of
from asthron.payments.models import Payment
from asthron.payments.service import ZERO_DECIMAL, format_amount


def _main_units(cents: int, currency: str) -> str:
    if currency.lower() in ZERO_DECIMAL:
        return str(cents)
    return str(Decimal(cents) / 100)


def payment_received(db: Session, event: domain_events.DomainEvent) -> None:
    payment = db.get(Payment, event.payload["payment_id"])
    if payment is None:
        return
    amount = format_amount(payment.amount_cents, payment.currency)
    link = f"{registry_of(db)['app_settings'].public_url}/payments/{payment.id}"
    send_alert(
        db,
        Alert(
            event="payment.received",
            site_id=payment.site_id,
            facts={
                "amount": _main_units(payment.amount_cents, payment.currency),
                "currency": payment.currency.upper(),
            },
            email="payment_received",
            values={"payment": payment, "amount": amount, "link": link},
            line=f"{amount} — {payment.description or payment.kind}",
            link=link,
        ),
    )


def subscribe(config) -> None:
    config.add_domain_event_subscriber("payment.succeeded", payment_received)
    config.add_email_template(
        "payment_received",
        "To the routing rules' recipients when a payment comes in",
        {
            "amount": "30.00 EUR",
            "payment": {"description": "Colour (deposit)", "customer_email": "ana@example.com"},
            "link": "https://example.com/payments/12",
        },
    )

"""A payment that comes in is an alert the email routing rules route (no default recipient)."""

from __future__ import annotations

import sqlalchemy as sa

from asthron.alerts import service as alerts
from asthron.audit.service import Actor
from asthron.jobs.models import OutboxItem
from asthron.notify.service import EMAIL_KIND, unsealed
from tests.payments.conftest import only_payment
from tests.payments.test_checkout import book_paid_service, start_checkout


def test_a_payment_is_emailed_to_the_rules_recipients(
    testapp, run_in_tm, registry, paid_service, fake_stripe, post_webhook
):
    site_key, _ = paid_service()
    run_in_tm(
        lambda db: alerts.create_rule(
            db,
            Actor.cli(),
            alerts.RuleInput(
                event="payment.received",
                site_id=None,
                conditions=[{"field": "amount", "op": "at_least", "value": "15"}],
                user_ids=[],
                emails=["accounts@example.com"],
                delivery="immediate",
            ),
        )
    )
    book_paid_service(testapp, site_key)
    payment = only_payment(run_in_tm)
    start_checkout(testapp, payment.reference)
    session = fake_stripe.complete(only_payment(run_in_tm).checkout_session_id)
    post_webhook(fake_stripe.event("checkout.session.completed", session))

    box = registry["secret_box"]
    sent = run_in_tm(
        lambda db: [
            unsealed(o.payload, box)
            for o in db.scalars(sa.select(OutboxItem).where(OutboxItem.kind == EMAIL_KIND))
        ]
    )
    received = [e for e in sent if "payment received" in e["subject"]]
    assert [e["to"] for e in received] == ["accounts@example.com"]
    assert "20.00 EUR" in received[0]["subject"]
    assert f"/payments/{payment.id}" in received[0]["text"]

"""Background work: acting on Stripe's events and making refunds (outbox: must not be lost,
retried with the same Idempotency-Key), and a periodic check for sessions whose webhook never
came."""

from __future__ import annotations

import logging

import stripe
from huey import crontab
from sqlalchemy.orm import Session

from asthron.jobs.queue import app_task
from asthron.jobs.service import JobContext, PermanentJobError, outbox_handler
from asthron.payments import service, stripe_api
from asthron.payments.models import Payment, PaymentRefund, StripeEvent

log = logging.getLogger(__name__)


@outbox_handler(service.EVENT_KIND)
def act_on_stripe_event(ctx: JobContext, payload: dict) -> None:
    row = ctx.db.get(StripeEvent, payload["stripe_event_row_id"])
    if row is None:
        return
    try:
        service.process_event(ctx.db, row)
    except stripe_api.PaymentsNotConfigured as error:
        raise PermanentJobError(str(error)) from error


@outbox_handler(service.REFUND_KIND)
def make_refund(ctx: JobContext, payload: dict) -> None:
    refund = ctx.db.get(PaymentRefund, payload["refund_id"])
    if refund is None:
        return
    try:
        service.perform_refund(ctx.db, refund)
    except stripe_api.PaymentsNotConfigured as error:
        raise PermanentJobError(str(error)) from error


@app_task(periodic=crontab(minute="*/5"))
def reconcile_payments(db: Session) -> None:
    """Offers that ran out unstarted expire; open sessions past their end are read from
    Stripe (their webhook may have been lost)."""
    for payment_id in service.open_past_expiry(db):
        try:
            with db.begin_nested():
                service.refresh_from_stripe(db, db.get(Payment, payment_id))
        except (stripe.StripeError, stripe_api.PaymentsNotConfigured):
            log.warning("payment %s could not be checked with Stripe", payment_id, exc_info=True)
    service.expire_overdue(db)

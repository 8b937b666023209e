"""Payments: made from a held booking or a staff member's request, paid through a Stripe
Checkout Session made server-side, kept in step with Stripe's current state, and refunded.

Amounts and currencies always come from our database (the booking's service, the staff
member's request), never from the customer's browser. A payment changes state only forward
(created → open → paid → refunded; open → expired | failed), so events that arrive twice or out
of order change nothing they should not: each one is answered by reading the Checkout Session
as Stripe has it now.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
import stripe
import zope.sqlalchemy
from sqlalchemy.orm import Session

from asthron import audit, domain_events
from asthron.audit.service import Actor
from asthron.db import registry_of, utcnow
from asthron.jobs.service import add_outbox_item
from asthron.payments import stripe_api
from asthron.payments.models import Payment, PaymentRefund, StripeEvent

# Stripe: a Checkout Session expires between 30 minutes and 24 hours after it is made.
SESSION_MIN_LIFETIME = dt.timedelta(minutes=30, seconds=30)
REQUEST_LIFETIME = dt.timedelta(hours=23)
REFUND_KIND = "payments.refund"
# Currencies with no minor unit: Stripe takes whole units for them.
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv"}
    | {"xaf", "xof", "xpf"}
)
# The currencies staff may ask for (a payment made from a booking uses its service's).
CURRENCIES = frozenset(
    {"eur", "usd", "gbp", "chf", "sek", "nok", "dkk", "pln", "czk", "huf", "ron", "bgn"}
    | {"cad", "aud", "nzd", "jpy", "sgd", "hkd", "mxn", "brl", "inr", "zar"}
)


class PaymentError(Exception):
    """A payment action that cannot be done; the message is fit to show."""

    code = "payment_error"


class PaymentNotFound(PaymentError):
    code = "payment_not_found"


class RefundError(PaymentError):
    code = "refund_refused"


def format_amount(cents: int, currency: str) -> str:
    currency = currency.lower()
    if currency in ZERO_DECIMAL:
        return f"{cents} {currency.upper()}"
    return f"{cents // 100}.{cents % 100:02d} {currency.upper()}"


def parse_amount(text: str, currency: str) -> int:
    """ "12.50" in ``currency`` → 1250 (minor units). Raises ValueError with a message."""
    text = (text or "").strip().replace(",", ".")
    whole, _, fraction = text.partition(".")
    decimals = 0 if currency.lower() in ZERO_DECIMAL else 2
    if not whole.isdigit() or (fraction and not fraction.isdigit()) or len(fraction) > decimals:
        places = "no decimals" if decimals == 0 else "at most two decimals"
        raise ValueError(f"Enter an amount like 12.50 ({places} for {currency.upper()}).")
    cents = int(whole) * 10**decimals + (int(fraction.ljust(decimals, "0")) if decimals else 0)
    if cents <= 0:
        raise ValueError("The amount must be more than zero.")
    if cents > 99_999_999:
        raise ValueError("The amount is larger than Stripe accepts.")
    return cents


def _new_reference() -> str:
    return secrets.token_urlsafe(16)


def _record(db: Session, kind: str, payment: Payment, **extra) -> None:
    domain_events.record(
        db,
        kind,
        payment_id=payment.id,
        payment_kind=payment.kind,
        booking_id=payment.booking_id,
        conversation_id=payment.conversation_id,
        **extra,
    )


# -- making payments ---------------------------------------------------------------------------


def payment_for_held_booking(db: Session, event: domain_events.DomainEvent) -> None:
    """``booking.held`` with an amount due: the payment the customer makes to keep it."""
    data = event.payload
    amount = int(data.get("amount_due") or 0)
    if amount <= 0:
        return
    payment = Payment(
        reference=_new_reference(),
        kind="booking",
        status="created",
        amount_cents=amount,
        currency=str(data["currency"]).lower(),
        description=str(data.get("description") or "")[:300],
        site_id=data.get("site_id"),
        booking_id=data["booking_id"],
        booking_reference=data["reference"],
        return_url=data.get("return_url"),
        conversation_id=data.get("conversation_id"),
        customer_email=data.get("customer_email"),
        expires_at=dt.datetime.fromisoformat(data["pay_by"]),
        created_at=utcnow(),
    )
    db.add(payment)
    db.flush()
    _record(db, "payment.created", payment, amount_cents=amount, currency=payment.currency)


def request_payment(
    db: Session,
    actor: Actor,
    conversation,
    amount_cents: int,
    currency: str,
    description: str,
) -> Payment:
    """A staff member asks the visitor of ``conversation`` to pay; audited. The chat shows a
    card that opens Checkout (``chat.payment_card``)."""
    currency = currency.lower()
    if currency not in CURRENCIES:
        raise PaymentError("Choose one of the listed currencies.")
    now = utcnow()
    payment = Payment(
        reference=_new_reference(),
        kind="request",
        status="created",
        amount_cents=amount_cents,
        currency=currency,
        description=description[:300],
        site_id=conversation.site_id,
        conversation_id=conversation.id,
        expires_at=now + REQUEST_LIFETIME,
        created_by_user_id=actor.user_id,
        created_at=now,
    )
    db.add(payment)
    db.flush()
    audit.record(
        db,
        actor,
        "payment.request",
        "payment",
        payment.id,
        {"amount": format_amount(amount_cents, currency), "conversation_id": conversation.id},
    )
    _record(db, "payment.created", payment, amount_cents=amount_cents, currency=currency)
    return payment


def by_reference(db: Session, reference: str) -> Payment:
    payment = db.scalar(sa.select(Payment).where(Payment.reference == reference))
    if payment is None:
        raise PaymentNotFound("No such payment.")
    return payment


def for_booking(db: Session, booking_reference: str) -> Payment:
    payment = db.scalar(sa.select(Payment).where(Payment.booking_reference == booking_reference))
    if payment is None:
        raise PaymentNotFound("No such payment.")
    return payment


def _lock(db: Session, payment: Payment) -> None:
    """Serialise everything that changes one payment (two pay clicks, two webhooks)."""
    if db.get_bind().dialect.name == "sqlite":
        db.execute(
            sa.update(Payment)
            .where(Payment.id == payment.id)
            .values(status=Payment.status)
            .execution_options(synchronize_session=False)
        )
    else:
        db.execute(sa.select(Payment.id).where(Payment.id == payment.id).with_for_update())
    db.refresh(payment)


def checkout_url(db: Session, payment: Payment, pay_page_url: str) -> str:
    """The Checkout page for ``payment``: its open session, or a new one made now. One
    payment has one session: the Idempotency-Key (the payment's reference) with parameters
    that depend only on the payment makes Stripe answer two clicks, or a retried create, with
    the same session. No lock is held while Stripe is asked (on SQLite it would stop every
    writer); the row lock is taken to store the answer."""
    now = utcnow()
    if payment.status == "open" and payment.checkout_url:
        return payment.checkout_url
    if payment.status != "created":
        raise PaymentError(_closed_message(payment))
    if payment.expires_at - now < SESSION_MIN_LIFETIME:
        raise PaymentError("This payment can no longer be started; it has run out of time.")
    params = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": payment.currency,
                    "unit_amount": payment.amount_cents,
                    "product_data": {"name": payment.description or "Payment"},
                },
            }
        ],
        "success_url": f"{pay_page_url}?checkout=success",
        "cancel_url": f"{pay_page_url}?checkout=cancelled",
        "expires_at": int(payment.expires_at.timestamp()),
        "client_reference_id": payment.reference,
        "metadata": {"payment_reference": payment.reference},
        "payment_intent_data": {"metadata": {"payment_reference": payment.reference}},
    }
    if payment.customer_email:
        params["customer_email"] = payment.customer_email
    try:
        session = stripe_api.client(db).v1.checkout.sessions.create(
            params, {"idempotency_key": f"checkout-{payment.reference}"}
        )
    except stripe.StripeError as error:
        payment.last_error = stripe_api.explain(error)[:500]
        raise PaymentError(
            "The payment could not be started. Please try again in a moment."
        ) from error
    _lock(db, payment)
    if payment.status == "open" and payment.checkout_url:
        return payment.checkout_url  # another click stored the same session first
    if payment.status != "created":
        raise PaymentError(_closed_message(payment))
    payment.checkout_session_id = session.id
    payment.checkout_url = session.url
    payment.status = "open"
    payment.updated_at = now
    return session.url


def _closed_message(payment: Payment) -> str:
    return {
        "paid": "This has been paid. Thank you!",
        "refunded": "This payment was refunded.",
        "expired": "This payment has expired.",
        "failed": "This payment failed.",
    }.get(payment.status, "This payment cannot be made now.")


# -- Stripe's state --------------------------------------------------------------------------


def apply_session(db: Session, payment: Payment, session) -> str | None:
    """Bring ``payment`` in line with the Checkout Session as Stripe has it now; returns the
    new status when it changed. Never moves backwards: a paid payment stays paid whatever
    stale event arrives after."""
    _lock(db, payment)
    now = utcnow()
    if payment.status in ("paid", "refunded", "expired", "failed"):
        return None
    new = None
    if session.status == "complete" and session.payment_status in ("paid", "no_payment_required"):
        new = "paid"
    elif session.status == "expired":
        new = "expired"
    if new is None or new == payment.status:
        return None
    payment.status = new
    payment.updated_at = now
    payment.checkout_session_id = payment.checkout_session_id or session.id
    if new == "paid":
        payment.paid_at = now
        payment.payment_intent_id = _id_of(getattr(session, "payment_intent", None))
        _record(
            db,
            "payment.succeeded",
            payment,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
        )
    else:
        _record(db, f"payment.{new}", payment)
    return new


def mark_failed(db: Session, payment: Payment) -> bool:
    """An asynchronous payment method (a bank debit) failed after Checkout completed."""
    _lock(db, payment)
    if payment.status not in ("created", "open"):
        return False
    payment.status = "failed"
    payment.updated_at = utcnow()
    _record(db, "payment.failed", payment)
    return True


def _id_of(value) -> str | None:
    """An expandable field: the id, or the expanded object's id."""
    if value is None or isinstance(value, str):
        return value
    return value.id


def expire_overdue(db: Session, now: dt.datetime | None = None) -> int:
    """Payments whose offer ran out before a session was even made."""
    now = now or utcnow()
    overdue = list(
        db.scalars(sa.select(Payment).where(Payment.status == "created", Payment.expires_at <= now))
    )
    for payment in overdue:
        payment.status = "expired"
        payment.updated_at = now
        _record(db, "payment.expired", payment)
    return len(overdue)


def open_past_expiry(db: Session, now: dt.datetime | None = None) -> list[int]:
    """Open payments whose session should have closed (a webhook that never came)."""
    now = now or utcnow()
    return list(
        db.scalars(sa.select(Payment.id).where(Payment.status == "open", Payment.expires_at <= now))
    )


def refresh_from_stripe(db: Session, payment: Payment) -> str | None:
    """Read the payment's session from Stripe and apply it."""
    if not payment.checkout_session_id:
        return None
    session = stripe_api.client(db).v1.checkout.sessions.retrieve(payment.checkout_session_id)
    return apply_session(db, payment, session)


# -- webhook intake --------------------------------------------------------------------------

SESSION_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    }
)
EVENT_KIND = "payments.stripe_event"


class BadSignature(PaymentError):
    code = "bad_signature"


def receive_event(db: Session, payload: bytes, signature: str | None) -> tuple[str, StripeEvent]:
    """Verify and store one webhook; the outbox acts on it after commit. Returns ("stored" |
    "duplicate" | "ignored", row). A bad signature raises ``BadSignature`` and stores nothing."""
    secret = stripe_api.webhook_secret(db)
    if not secret:
        raise BadSignature("No webhook signing secret is set.")
    tolerance = stripe_api.options_of(db).webhook_tolerance
    try:
        stripe.Webhook.construct_event(payload, signature or "", secret, tolerance)
        event = json.loads(payload)
        obj = event.get("data", {}).get("object", {})
        row = StripeEvent(
            stripe_event_id=str(event["id"])[:255],
            type=str(event["type"])[:100],
            object_id=str(obj.get("id") or "")[:255],
            received_at=utcnow(),
        )
    except (stripe.SignatureVerificationError, ValueError, KeyError, AttributeError) as error:
        raise BadSignature("The Stripe signature does not verify.") from error
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except sa.exc.IntegrityError:
        # Stripe delivers at least once: the same event again is already in hand.
        existing = db.scalar(
            sa.select(StripeEvent).where(StripeEvent.stripe_event_id == row.stripe_event_id)
        )
        return "duplicate", existing
    if row.type not in SESSION_EVENTS:
        row.outcome = "ignored"
        row.note = "a type we do not act on"
        row.processed_at = utcnow()
        return "ignored", row
    add_outbox_item(db, EVENT_KIND, {"stripe_event_row_id": row.id})
    zope.sqlalchemy.mark_changed(db)
    return "stored", row


def process_event(db: Session, row: StripeEvent) -> None:
    """Act on a stored event by reading its session's current state from Stripe."""
    if row.outcome != "received":
        return
    payment = db.scalar(sa.select(Payment).where(Payment.checkout_session_id == row.object_id))
    now = utcnow()
    if payment is None:
        row.outcome, row.note, row.processed_at = "ignored", "no payment of ours", now
        return
    # Asked before anything is written: no lock is held while Stripe answers.
    session = stripe_api.client(db).v1.checkout.sessions.retrieve(row.object_id)
    row.payment_id = payment.id
    if row.type == "checkout.session.async_payment_failed" and session.payment_status != "paid":
        changed = "failed" if mark_failed(db, payment) else None
    else:
        changed = apply_session(db, payment, session)
    row.outcome, row.processed_at = "processed", now
    row.note = f"payment {changed}" if changed else f"no change (payment {payment.status})"


# -- refunds -----------------------------------------------------------------------------------


def refundable_cents(db: Session, payment: Payment) -> int:
    """What may still be refunded: the charge less refunds done or under way."""
    pending = db.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(PaymentRefund.amount_cents), 0)).where(
            PaymentRefund.payment_id == payment.id, PaymentRefund.status == "pending"
        )
    )
    return payment.amount_cents - payment.refunded_cents - int(pending or 0)


def refund(
    db: Session,
    actor: Actor,
    payment: Payment,
    amount_cents: int,
    currency: str,
    reason: str,
) -> PaymentRefund:
    """Refund part or all of a paid payment; audited. The refund is made by the outbox with
    an Idempotency-Key of its own, so a retry can never refund twice."""
    _lock(db, payment)
    if payment.status not in ("paid",):
        raise RefundError(f"Only a paid payment can be refunded (this one is {payment.status}).")
    if currency.lower() != payment.currency:
        raise RefundError(
            f"The refund must be in the payment's currency ({payment.currency.upper()}), "
            f"not {currency.upper()}."
        )
    if amount_cents <= 0:
        raise RefundError("The refund must be more than zero.")
    left = refundable_cents(db, payment)
    if amount_cents > left:
        raise RefundError(
            f"The refund ({format_amount(amount_cents, payment.currency)}) is larger than what "
            f"is left to refund ({format_amount(max(left, 0), payment.currency)})."
        )
    row = PaymentRefund(
        payment_id=payment.id,
        amount_cents=amount_cents,
        currency=payment.currency,
        reason=reason[:200],
        idempotency_key=f"refund-{secrets.token_hex(16)}",
        created_by=actor.label[:200],
        created_at=utcnow(),
    )
    db.add(row)
    db.flush()
    audit.record(
        db,
        actor,
        "payment.refund",
        "payment",
        payment.id,
        {"amount": format_amount(amount_cents, payment.currency), "reason": reason[:200]},
    )
    add_outbox_item(db, REFUND_KIND, {"refund_id": row.id})
    return row


def refund_cancelled_booking(db: Session, event: domain_events.DomainEvent) -> None:
    """``booking.cancelled``: refund the share the service's policy gives back."""
    booking_id = event.payload.get("booking_id")
    percent = int(event.payload.get("refund_percent") or 0)
    payment = db.scalar(sa.select(Payment).where(Payment.booking_id == booking_id))
    if payment is None:
        return
    if payment.status in ("created", "open"):
        # Not paid yet: the offer ends now, so it can no longer be paid.
        payment.status = "expired"
        payment.updated_at = utcnow()
        _record(db, "payment.expired", payment)
        return
    if payment.status != "paid" or percent <= 0:
        return
    amount = min(payment.amount_cents * percent // 100, refundable_cents(db, payment))
    if amount > 0:
        reason = f"{event.payload.get('reason') or 'booking cancelled'} ({percent}% by policy)"
        refund(db, Actor.system(), payment, amount, payment.currency, reason)


def perform_refund(db: Session, refund_row: PaymentRefund) -> None:
    """The outbox's side: ask Stripe, with the refund's own Idempotency-Key. Network errors,
    429 and 5xx raise, and the outbox tries again with the same key; a refusal is final."""
    if refund_row.status != "pending":
        return
    payment = db.get(Payment, refund_row.payment_id)
    params = {
        "amount": refund_row.amount_cents,
        "metadata": {"payment_reference": payment.reference},
    }
    if payment.payment_intent_id:
        params["payment_intent"] = payment.payment_intent_id
    try:
        result = stripe_api.client(db).v1.refunds.create(
            params, {"idempotency_key": refund_row.idempotency_key}
        )
    except (stripe.InvalidRequestError, stripe.CardError, stripe.PermissionError) as error:
        refund_row.status = "failed"
        refund_row.error = stripe_api.explain(error)[:500]
        refund_row.finished_at = utcnow()
        return
    refund_row.stripe_refund_id = result.id
    refund_row.finished_at = utcnow()
    if result.status == "failed":
        refund_row.status = "failed"
        refund_row.error = "Stripe could not make the refund."
        return
    refund_row.status = "succeeded"
    _lock(db, payment)
    payment.refunded_cents = min(payment.amount_cents, payment.refunded_cents + result.amount)
    if payment.refunded_cents >= payment.amount_cents:
        payment.status = "refunded"
    payment.updated_at = utcnow()
    _record_refunded(db, payment, result.amount)


def _record_refunded(db: Session, payment: Payment, amount: int) -> None:
    domain_events.record(
        db,
        "payment.refunded",
        payment_id=payment.id,
        amount_cents=amount,
        currency=payment.currency,
        refunded_cents=payment.refunded_cents,
        booking_id=payment.booking_id,
    )


# -- reading -----------------------------------------------------------------------------------

STATUS_FILTERS = ("", *("created", "open", "paid", "expired", "failed", "refunded"))
KIND_FILTERS = ("", "booking", "request")


@dataclass(frozen=True)
class PaymentQuery:
    status: str = ""
    kind: str = ""
    since: dt.date | None = None
    until: dt.date | None = None


def _filtered(query: PaymentQuery):
    statement = sa.select(Payment)
    if query.status:
        statement = statement.where(Payment.status == query.status)
    if query.kind:
        statement = statement.where(Payment.kind == query.kind)
    if query.since:
        start = dt.datetime.combine(query.since, dt.time(), dt.UTC)
        statement = statement.where(Payment.created_at >= start)
    if query.until:
        end = dt.datetime.combine(query.until + dt.timedelta(days=1), dt.time(), dt.UTC)
        statement = statement.where(Payment.created_at < end)
    return statement


def search(db: Session, query: PaymentQuery, limit: int = 200) -> list[Payment]:
    statement = _filtered(query).order_by(Payment.created_at.desc(), Payment.id.desc())
    return list(db.scalars(statement.limit(limit)))


def iter_payments(db: Session, query: PaymentQuery, batch: int = 500):
    last_id = 0
    while True:
        rows = list(
            db.scalars(
                _filtered(query).where(Payment.id > last_id).order_by(Payment.id).limit(batch)
            )
        )
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id


def events_of(db: Session, payment: Payment) -> list:
    """What happened to a payment: its domain events and the Stripe events about it."""
    recorded = db.scalars(
        sa.select(domain_events.DomainEvent)
        .where(
            domain_events.DomainEvent.subject_type == "payment",
            domain_events.DomainEvent.subject_id == str(payment.id),
        )
        .order_by(domain_events.DomainEvent.id)
    )
    received = db.scalars(
        sa.select(StripeEvent).where(StripeEvent.payment_id == payment.id).order_by(StripeEvent.id)
    )
    lines = [(e.created_at, e.kind, "") for e in recorded]
    lines += [(e.received_at, f"stripe: {e.type}", f"{e.outcome}: {e.note}") for e in received]
    return sorted(lines, key=lambda line: line[0])


def refunds_of(db: Session, payment: Payment) -> list[PaymentRefund]:
    return list(
        db.scalars(
            sa.select(PaymentRefund)
            .where(PaymentRefund.payment_id == payment.id)
            .order_by(PaymentRefund.id)
        )
    )


@dataclass(frozen=True)
class MonthTotal:
    month: str  # 2026-12
    currency: str
    payments: int
    paid_cents: int
    refunded_cents: int

    @property
    def net(self) -> str:
        return format_amount(self.paid_cents - self.refunded_cents, self.currency)


def monthly_totals(db: Session, months: int = 12) -> list[MonthTotal]:
    """Paid money per month (of payment) and currency, with what was refunded of it."""
    since = (utcnow() - dt.timedelta(days=31 * months)).replace(day=1)
    rows = db.execute(
        sa.select(Payment.paid_at, Payment.currency, Payment.amount_cents, Payment.refunded_cents)
        .where(Payment.paid_at.is_not(None), Payment.paid_at >= since)
        .order_by(Payment.paid_at)
    )
    totals: dict[tuple[str, str], list[int]] = {}
    for paid_at, currency, amount, refunded in rows:
        key = (paid_at.strftime("%Y-%m"), currency)
        entry = totals.setdefault(key, [0, 0, 0])
        entry[0] += 1
        entry[1] += amount
        entry[2] += refunded
    return [
        MonthTotal(month, currency, *values)
        for (month, currency), values in sorted(totals.items(), reverse=True)
    ]


def public_url(db: Session) -> str:
    return registry_of(db)["app_settings"].public_url

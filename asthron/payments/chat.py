"""Payments in the chat: the card that opens Checkout, its state live on both sides, and the
payments of a conversation beside it in the inbox."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import domain_events
from asthron.conversations import service as conversations
from asthron.conversations.hooks import SidePanel, TimelineEntry, TimelineSubject, UsageSection
from asthron.conversations.models import Conversation
from asthron.payments import stripe_api
from asthron.payments.models import Payment
from asthron.payments.service import format_amount, monthly_totals, public_url

STATE_TEXT = {
    "paid": "Payment of {amount} received. Thank you!",
    "expired": "The payment request for {amount} has expired.",
    "failed": "The payment of {amount} failed.",
    "refunded": "{amount} was refunded.",
}


def pay_url(db: Session, payment: Payment) -> str:
    return f"{public_url(db)}/pay/{payment.reference}"


def _conversation(db: Session, payment: Payment) -> Conversation | None:
    if payment.conversation_id is None:
        return None
    return db.get(Conversation, payment.conversation_id)


def payment_card(db: Session, event: domain_events.DomainEvent) -> None:
    """``payment.created`` in a conversation: a card the visitor opens Checkout from."""
    payment = db.get(Payment, event.payload["payment_id"])
    conversation = _conversation(db, payment)
    if conversation is None:
        return
    amount = format_amount(payment.amount_cents, payment.currency)
    conversations.append_event(
        db,
        conversation,
        "card",
        f"{payment.description or 'Payment'}: {amount}",
        author_name="Payments",
        data={
            "card": "payment",
            # A channel without cards (WhatsApp…) gets the pay page's link.
            conversations.CARD_FALLBACK: f"{payment.description or 'Payment'}: {amount}\n"
            f"{pay_url(db, payment)}",
            "payment": {
                "card_id": payment.reference,
                "url": pay_url(db, payment),
                "amount": amount,
                "status": "open",
            },
        },
    )


def payment_state(db: Session, event: domain_events.DomainEvent) -> None:
    """A payment's new state, told in its conversation; the widget updates its card."""
    payment = db.get(Payment, event.payload["payment_id"])
    conversation = _conversation(db, payment)
    if conversation is None:
        return
    state = event.kind.split(".", 1)[1]
    state = "paid" if state == "succeeded" else state
    cents = event.payload.get("amount_cents") if state == "refunded" else payment.amount_cents
    amount = format_amount(int(cents or 0), payment.currency)
    conversations.append_event(
        db,
        conversation,
        "system",
        STATE_TEXT[state].format(amount=amount),
        data={"payment": {"card_id": payment.reference, "status": state}},
    )


def payments_panel(db: Session, conversation_id: int) -> SidePanel | None:
    """The conversation's payments beside it, and where staff ask for one."""
    payments = list(
        db.scalars(
            sa.select(Payment)
            .where(Payment.conversation_id == conversation_id)
            .order_by(Payment.id.desc())
            .limit(10)
        )
    )
    if not payments and not stripe_api.secret_key(db):
        return None  # Stripe is not connected: nothing to show or ask for
    facts = [
        (
            p.description or "Payment",
            f"{format_amount(p.amount_cents, p.currency)}: {p.status}",
        )
        for p in payments
    ]
    return SidePanel(
        title="Payments",
        facts=facts,
        link=("Ask for a payment", f"/payments/request/{conversation_id}"),
    )


TIMELINE_PAYMENTS = 20


def payments_timeline(db: Session, subject: TimelineSubject) -> list[TimelineEntry]:
    """A lead's payments: asked for in their conversations, or paid with their email."""
    matches = []
    if subject.conversation_ids:
        matches.append(Payment.conversation_id.in_(subject.conversation_ids))
    if subject.email:
        matches.append(Payment.customer_email == subject.email)
    if not matches:
        return []
    rows = db.scalars(
        sa.select(Payment)
        .where(sa.or_(*matches))
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(TIMELINE_PAYMENTS)
    )
    return [
        TimelineEntry(
            payment.paid_at or payment.created_at,
            "payment",
            f"{payment.description or 'Payment'}: "
            f"{format_amount(payment.amount_cents, payment.currency)}, {payment.status}"
            + (
                f" ({format_amount(payment.refunded_cents, payment.currency)} refunded)"
                if payment.refunded_cents
                else ""
            )
            + ".",
            "customer",
            payment.conversation_id,
        )
        for payment in rows
    ]


def usage_totals(db: Session, permitted) -> UsageSection | None:
    """The usage page's "Payments received" table: the last 12 months, per currency."""
    if not permitted("payments.manage"):
        return None
    return UsageSection(
        title="Payments received",
        columns=("Month", "Currency", "Payments", "Paid", "Refunded", "Net"),
        rows=[
            (
                total.month,
                total.currency.upper(),
                str(total.payments),
                format_amount(total.paid_cents, total.currency),
                format_amount(total.refunded_cents, total.currency),
                total.net,
            )
            for total in monthly_totals(db)
        ],
        empty="No payments received in the last 12 months.",
        link=("All payments", "/payments"),
    )


def subscribe(config) -> None:
    config.add_message_hook("usage_sections", usage_totals)
    config.add_message_hook("timeline_entries", payments_timeline)
    config.add_domain_event_subscriber("payment.created", payment_card)
    for kind in ("payment.succeeded", "payment.expired", "payment.failed", "payment.refunded"):
        config.add_domain_event_subscriber(kind, payment_state)
    config.add_message_hook("side_panels", payments_panel)

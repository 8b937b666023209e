"""Payments: the Stripe connection, payments (booking deposits and payment requests), the
Stripe events received for them, and refunds."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from asthron.db import Base, UTCDateTime, utcnow
from asthron.personal_data import not_personal, personal_data

PAYMENT_KINDS = ("booking", "request")
# created: no Checkout Session yet; open: a session is waiting for the customer; paid;
# expired (the session or the offer ran out); failed (an asynchronous method failed);
# refunded (in full; partial refunds leave it paid with refunded_cents > 0).
PAYMENT_STATUSES = ("created", "open", "paid", "expired", "failed", "refunded")
FINAL_STATUSES = ("paid", "expired", "failed", "refunded")
REFUND_STATUSES = ("pending", "succeeded", "failed")


class PaymentSettings(Base):
    """The one Stripe account the install is connected to (a single row, id 1)."""

    __tablename__ = "payment_settings"
    __table_args__ = (
        not_personal("the business's own Stripe keys, encrypted with the secret box"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    secret_key_encrypted: Mapped[str | None] = mapped_column(sa.Text)  # SecretBox (Fernet)
    webhook_secret_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    last_check_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_check_result: Mapped[str] = mapped_column(sa.String(500), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('created', 'open', 'paid', 'expired', 'failed', 'refunded')",
            name="status",
        ),
        sa.CheckConstraint("kind IN ('booking', 'request')", name="kind"),
        sa.CheckConstraint(
            "amount_cents > 0 AND refunded_cents >= 0 AND refunded_cents <= amount_cents",
            name="amounts",
        ),
        # A booking is paid for once: a second payment for it cannot even be stored.
        sa.UniqueConstraint("booking_id"),
        sa.Index("ix_payments_status_created_at", "status", "created_at"),
        personal_data(
            entity="payment",
            erase="anonymise",
            identifiers={"customer_email": "email"},
            links={"conversation_id": "conversation", "booking_id": "booking"},
            mentions=("description",),
            anonymise={"customer_email": None, "description": ""},
            note="amounts stay for the business's accounts; the person's details are removed",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # A random reference the customer's pay page carries (never the sequential id).
    reference: Mapped[str] = mapped_column(sa.String(32), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), default="created")
    amount_cents: Mapped[int] = mapped_column()
    currency: Mapped[str] = mapped_column(sa.String(3))  # lower case, as Stripe has it
    refunded_cents: Mapped[int] = mapped_column(default=0)
    description: Mapped[str] = mapped_column(sa.String(300), default="")
    site_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sites.id", ondelete="SET NULL"), index=True
    )
    booking_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("bookings.id", ondelete="SET NULL")
    )
    booking_reference: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    # Where the customer goes after Checkout (the booking's page), if not the pay page.
    return_url: Mapped[str | None] = mapped_column(sa.String(2000))
    conversation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )
    customer_email: Mapped[str | None] = mapped_column(sa.String(320))
    checkout_session_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(sa.String(2000))
    payment_intent_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    # The offer ends then: the Checkout Session expires at that time.
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    last_error: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class StripeEvent(Base):
    """An event Stripe sent to /hooks/stripe. The unique event id makes a repeat a no-op."""

    __tablename__ = "payment_stripe_events"
    __table_args__ = (
        not_personal("Stripe event ids, types and object ids; no customer details are kept"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_event_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    type: Mapped[str] = mapped_column(sa.String(100))
    object_id: Mapped[str] = mapped_column(sa.String(255), default="")
    payment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("payments.id", ondelete="SET NULL"), index=True
    )
    # received → processed | ignored (a type we do not act on, or no payment of ours)
    outcome: Mapped[str] = mapped_column(sa.String(16), default="received")
    note: Mapped[str] = mapped_column(sa.String(300), default="")
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PaymentRefund(Base):
    __tablename__ = "payment_refunds"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
        sa.CheckConstraint("amount_cents > 0", name="positive"),
        not_personal("amounts and Stripe ids of a payment's refunds"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("payments.id", ondelete="CASCADE"), index=True
    )
    amount_cents: Mapped[int] = mapped_column()
    currency: Mapped[str] = mapped_column(sa.String(3))
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    # Sent as Stripe's Idempotency-Key on every attempt: a retry never refunds twice.
    idempotency_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    stripe_refund_id: Mapped[str | None] = mapped_column(sa.String(255))
    error: Mapped[str] = mapped_column(sa.String(500), default="")
    created_by: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

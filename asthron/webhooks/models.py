"""Outbound webhook endpoints, the deliveries made to them and each attempt's log."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from asthron.db import Base, UTCDateTime, utcnow
from asthron.personal_data import not_personal, personal_data

DELIVERY_STATES = ("pending", "delivered", "failed")


class WebhookEndpoint(Base):
    """A URL of the business's own systems that wants some domain events."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (not_personal("the business's own integration settings"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(sa.String(2000))
    description: Mapped[str | None] = mapped_column(sa.String(200))
    # The event types it wants (a subset of asthron.domain_events.EVENT_KINDS).
    events: Mapped[list] = mapped_column(sa.JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    # "whsec_…", Fernet-encrypted. During a rotation the previous secret signs too, until
    # previous_secret_expires_at.
    secret_encrypted: Mapped[str] = mapped_column(sa.Text)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    previous_secret_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Why it was switched off by the system (410 Gone, failing for days), shown on the page.
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(300))
    # The first failed attempt since the last success; None while it works.
    failing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """One message to one endpoint. Its ``message_id`` is the ``webhook-id`` header, the same
    on every attempt and on a manual redelivery."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.CheckConstraint("state IN ('pending', 'delivered', 'failed')", name="state"),
        sa.Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
        # The body carries ids (conversation, lead, user) and a handoff's reason.
        personal_data(mentions=("body",), retention="events"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    message_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    event_type: Mapped[str] = mapped_column(sa.String(64))
    domain_event_id: Mapped[int | None]
    is_test: Mapped[bool] = mapped_column(default=False)
    # The exact JSON sent on every attempt.
    body: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Held while an attempt is in flight, so two workers never send it at once.
    leased_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    """The log of one HTTP attempt: what was sent and an excerpt of what came back."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        sa.Index("ix_webhook_attempts_delivery_id", "delivery_id"),
        personal_data(mentions=("request_excerpt", "response_excerpt"), retention="events"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    number: Mapped[int]
    url: Mapped[str] = mapped_column(sa.String(2000))
    request_excerpt: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[int | None]
    response_excerpt: Mapped[str | None] = mapped_column(sa.Text)
    error: Mapped[str | None] = mapped_column(sa.Text)
    outcome: Mapped[str] = mapped_column(sa.String(16))  # delivered, retry, failed
    duration_ms: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

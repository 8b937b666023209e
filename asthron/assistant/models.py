"""The assistant's business profile, provider configuration, price table and usage log."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from asthron.db import Base, UTCDateTime, utcnow
from asthron.personal_data import not_personal, personal_data

PROVIDER_KINDS = ("openai", "ollama", "anthropic")
PROVIDER_SLOTS = ("primary", "secondary")


class AssistantProfile(Base):
    """One row: what the business is and how the assistant should behave."""

    __tablename__ = "assistant_profile"
    __table_args__ = (
        sa.CheckConstraint("id = 1", name="single_row"),
        not_personal("the business's own profile"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    business_name: Mapped[str] = mapped_column(sa.String(120), default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    services: Mapped[str] = mapped_column(sa.Text, default="")
    contact: Mapped[str] = mapped_column(sa.Text, default="")
    policies: Mapped[str] = mapped_column(sa.Text, default="")
    tone: Mapped[str] = mapped_column(sa.String(300), default="friendly, concise and helpful")
    do_rules: Mapped[str] = mapped_column(sa.Text, default="")
    dont_rules: Mapped[str] = mapped_column(sa.Text, default="")
    reply_max_chars: Mapped[int] = mapped_column(default=1200)
    turn_cap: Mapped[int] = mapped_column(default=40)
    monthly_budget: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2))
    # The month ("2026-11") for which the 80 % warning went out, so it goes out once.
    budget_warned_month: Mapped[str | None] = mapped_column(sa.String(7))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ProviderConfig(Base):
    """A configured AI provider in the failover chain (the built-in one needs no row)."""

    __tablename__ = "provider_configs"
    __table_args__ = (
        sa.UniqueConstraint("slot"),
        sa.CheckConstraint("slot IN ('primary', 'secondary')", name="slot"),
        sa.CheckConstraint("kind IN ('openai', 'ollama', 'anthropic')", name="kind"),
        not_personal("AI provider settings"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slot: Mapped[str] = mapped_column(sa.String(16))
    kind: Mapped[str] = mapped_column(sa.String(16))
    base_url: Mapped[str] = mapped_column(sa.String(500), default="")
    model: Mapped[str] = mapped_column(sa.String(200), default="")
    api_key_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    temperature: Mapped[float] = mapped_column(default=0.3)
    max_tokens: Mapped[int] = mapped_column(default=600)
    connect_timeout: Mapped[float] = mapped_column(default=5.0)
    first_token_timeout: Mapped[float] = mapped_column(default=20.0)
    total_timeout: Mapped[float] = mapped_column(default=90.0)
    keep_alive: Mapped[str | None] = mapped_column(sa.String(20))
    # The provider's embedding model for dense retrieval ("nomic-embed-text"); empty: none.
    embedding_model: Mapped[str] = mapped_column(sa.String(200), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ModelPrice(Base):
    """Estimated cost per million tokens, editable by the owner."""

    __tablename__ = "model_prices"
    __table_args__ = (sa.UniqueConstraint("provider", "model"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(16))
    model: Mapped[str] = mapped_column(sa.String(200))
    input_per_million: Mapped[Decimal] = mapped_column(sa.Numeric(12, 4), default=0)
    output_per_million: Mapped[Decimal] = mapped_column(sa.Numeric(12, 4), default=0)


class UsageRecord(Base):
    """One model call: who, what for, how many tokens, how fast, how much, and whether it worked."""

    __tablename__ = "usage_records"
    __table_args__ = (
        sa.Index("ix_usage_records_created_at_provider", "created_at", "provider"),
        personal_data(
            erase="anonymise",
            links={"conversation_id": "conversation"},
            anonymise={"conversation_id": None},
            retention="usage",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    provider: Mapped[str] = mapped_column(sa.String(16))
    model: Mapped[str] = mapped_column(sa.String(200), default="")
    purpose: Mapped[str] = mapped_column(sa.String(32))
    input_tokens: Mapped[int] = mapped_column(default=0)
    output_tokens: Mapped[int] = mapped_column(default=0)
    latency_ms: Mapped[int] = mapped_column(default=0)
    first_token_ms: Mapped[int | None]
    cost: Mapped[Decimal] = mapped_column(sa.Numeric(12, 6), default=0)
    success: Mapped[bool] = mapped_column(default=True)
    error_kind: Mapped[str | None] = mapped_column(sa.String(32))
    conversation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )

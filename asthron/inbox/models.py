"""Staff presence and the admin-configured handoff rules."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from asthron.db import Base, UTCDateTime, utcnow
from asthron.personal_data import personal_data


class HandoffRules(Base):
    """One row: when the assistant hands a chat to a person on its own."""

    __tablename__ = "handoff_rules"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    keywords: Mapped[list] = mapped_column(sa.JSON, default=list)  # ["refund", "complaint"]
    unanswered_in_a_row: Mapped[int] = mapped_column(default=2)  # 0 disables
    on_provider_failure: Mapped[bool] = mapped_column(default=True)
    on_lead_qualified: Mapped[bool] = mapped_column(default=False)
    assistant_decides: Mapped[bool] = mapped_column(default=True)
    waiting_alert_minutes: Mapped[int] = mapped_column(default=5)  # 0 disables the email
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ConversationSummary(Base):
    """The AI summary written at handoff, so the person joining need not scroll."""

    __tablename__ = "conversation_summaries"
    __table_args__ = (personal_data(links={"conversation_id": "conversation"}),)

    conversation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    text: Mapped[str] = mapped_column(sa.Text)
    provider: Mapped[str] = mapped_column(sa.String(16))
    up_to_event_id: Mapped[int]
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

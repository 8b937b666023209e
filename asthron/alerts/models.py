"""Email routing rules (who is told about what) and the digest items waiting to be sent."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from asthron.db import Base, UTCDateTime, utcnow
from asthron.personal_data import not_personal, personal_data


class AlertRule(Base):
    """One routing rule: for ``event`` on ``site_id`` (every site when None), when all
    ``conditions`` hold, email these members and addresses, at once or in a digest."""

    __tablename__ = "alert_rules"
    __table_args__ = (
        sa.CheckConstraint("delivery IN ('immediate', 'hourly', 'daily')", name="delivery"),
        not_personal("the business's routing settings; recipients are its own staff addresses"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(sa.String(40))
    # [{"field": "custom.budget", "op": "at_least", "value": "1000"}], all must hold.
    conditions: Mapped[list] = mapped_column(sa.JSON, default=list)
    user_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    emails: Mapped[list] = mapped_column(sa.JSON, default=list)
    delivery: Mapped[str] = mapped_column(sa.String(16), default="immediate")
    description: Mapped[str] = mapped_column(sa.String(200), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AlertDigestItem(Base):
    """One line of a digest email, sent with the recipient's other lines once ``due_at``
    passes. ``sent_at`` is set in the transaction that queues the email, so a line is never
    sent twice."""

    __tablename__ = "alert_digest_items"
    __table_args__ = (
        sa.Index("ix_alert_digest_items_due", "sent_at", "due_at"),
        # The line names the lead or visitor it is about.
        personal_data(mentions=("line",), retention="events"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(sa.ForeignKey("alert_rules.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(sa.String(320))
    delivery: Mapped[str] = mapped_column(sa.String(16))
    event: Mapped[str] = mapped_column(sa.String(40))
    line: Mapped[str] = mapped_column(sa.String(500))
    link: Mapped[str] = mapped_column(sa.String(2000), default="")
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

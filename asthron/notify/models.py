"""Outbound email settings (one row). The SMTP password is stored Fernet-encrypted."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from asthron.db import Base, UTCDateTime, utcnow
from asthron.personal_data import not_personal

SMTP_SECURITY = ("none", "starttls", "tls")


class SmtpSettings(Base):
    __tablename__ = "smtp_settings"
    __table_args__ = (
        sa.CheckConstraint("security IN ('none', 'starttls', 'tls')", name="security"),
        sa.CheckConstraint("id = 1", name="single_row"),
        not_personal("the business's mail server settings"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    host: Mapped[str] = mapped_column(sa.String(255))
    port: Mapped[int] = mapped_column(default=587)
    security: Mapped[str] = mapped_column(sa.String(16), default="starttls")
    username: Mapped[str | None] = mapped_column(sa.String(255))
    password_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    from_address: Mapped[str] = mapped_column(sa.String(320))
    from_name: Mapped[str | None] = mapped_column(sa.String(120))
    timeout_seconds: Mapped[int] = mapped_column(default=15)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class EmailTemplate(Base):
    """The owner's wording of one email, used instead of ``templates/email/<name>.*``.
    Rendered in a sandbox (notify/templates.py): it is text the dashboard accepts."""

    __tablename__ = "email_templates"
    __table_args__ = (not_personal("the business's own wording of its emails"),)

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(250))
    text: Mapped[str] = mapped_column(sa.Text)
    html: Mapped[str | None] = mapped_column(sa.Text)
    updated_by_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

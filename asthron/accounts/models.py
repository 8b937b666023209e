"""Users, their server-side sessions, invitations and login throttling records."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from asthron.db import Base, UTCDateTime, utcnow
from asthron.personal_data import personal_data

ROLES = ("owner", "admin", "staff")
# How the dashboard looks for a user: as their system prefers, or always light or dark.
THEMES = ("auto", "light", "dark")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint("role IN ('owner', 'admin', 'staff')", name="role"),
        sa.CheckConstraint("theme IN ('auto', 'light', 'dark')", name="theme"),
        # The email is stored lower-cased, so this unique index is case-insensitive.
        sa.UniqueConstraint("email"),
        personal_data(
            erase="keep",
            identifiers={"email": "email"},
            note="staff accounts: deactivated on the Team page",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320))
    display_name: Mapped[str] = mapped_column(sa.String(120))
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    theme: Mapped[str] = mapped_column(sa.String(8), default="auto")

    sessions: Mapped[list[UserSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


class UserSession(Base):
    """A server-side login session. Only the SHA-256 of the cookie token is stored."""

    __tablename__ = "user_sessions"
    __table_args__ = (
        personal_data(
            erase="keep",
            retention="sessions",
            retention_column="last_seen_at",
            note="staff sessions",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip_address: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(sa.String(40))

    user: Mapped[User] = relationship(back_populates="sessions")


class Invitation(Base):
    __tablename__ = "invitations"
    __table_args__ = (
        sa.CheckConstraint("role IN ('owner', 'admin', 'staff')", name="role"),
        personal_data(identifiers={"email": "email"}, retention="sessions"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    email: Mapped[str] = mapped_column(sa.String(320), index=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    invited_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The outbox row of the invitation email, so the team page can say whether it went out
    # (no foreign key: the outbox's finished rows are purged on their own schedule).
    email_outbox_id: Mapped[int | None]


class LoginFailure(Base):
    """One failed login, counted per account key and per IP inside a sliding window.

    The account key is a hash of the typed email, whether or not such a user exists, so the
    throttle behaves the same for real and unknown emails.
    """

    __tablename__ = "login_failures"
    __table_args__ = (
        sa.Index("ix_login_failures_account_key_created_at", "account_key", "created_at"),
        sa.Index("ix_login_failures_ip_address_created_at", "ip_address", "created_at"),
        personal_data(
            erase="keep",
            retention="security",
            note="an address and a hash of the typed email, kept briefly for throttling",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_key: Mapped[str] = mapped_column(sa.String(64))
    ip_address: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffPresence(Base):
    """Online or away. The dashboard heartbeats while open; idle tabs turn away on their own,
    and a person can set away by hand."""

    __tablename__ = "staff_presence"
    __table_args__ = (sa.CheckConstraint("status IN ('online', 'away')", name="status"),)

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(sa.String(8), default="online")
    manual: Mapped[bool] = mapped_column(default=False)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sound: Mapped[bool] = mapped_column(default=True)

"""Bookings: services, who serves them (staff and resources), their hours, the bookings, and
the external calendars whose busy times count."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from asthron.db import Base, UTCDateTime, utcnow
from asthron.personal_data import not_personal, personal_data

RESOURCE_KINDS = ("staff", "resource")
# held: a visitor is filling in the form (until hold_expires_at); pending: waits for approval;
# confirmed; cancelled / expired / rejected no longer block anything.
BOOKING_STATUSES = ("held", "pending", "confirmed", "cancelled", "expired", "rejected")
BLOCKING_STATUSES = ("held", "pending", "confirmed")
# On PostgreSQL the migration adds this exclusion constraint by hand (btree_gist): no two
# blocking bookings of one resource overlap, buffers included. The models do not declare it
# (SQLite has no such thing); asthron.cli.db.include_object_for skips it in comparisons.
NO_OVERLAP_CONSTRAINT = "ex_bookings_no_overlap"


class BookingResource(Base):
    """A staff member or a resource (a room, a chair) that serves bookings."""

    __tablename__ = "booking_resources"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('staff', 'resource')", name="kind"),
        not_personal("the business's own staff and rooms, as it names them for booking"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16), default="staff")
    name: Mapped[str] = mapped_column(sa.String(120))
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # None: the site's business hours, holidays and time zone.
    working_hours: Mapped[dict | None] = mapped_column(sa.JSON)  # {"mon": [["09:00", "17:00"]]}
    overrides: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # {"2026-12-24": [...]}
    holidays: Mapped[list | None] = mapped_column(sa.JSON)  # ["2026-12-25"]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class BookingService(Base):
    """Something a visitor can book, with the rules its slots follow."""

    __tablename__ = "booking_services"
    __table_args__ = (
        sa.UniqueConstraint("site_id", "slug"),
        sa.CheckConstraint("duration_minutes > 0 AND interval_minutes > 0", name="positive"),
        not_personal("the business's services and their rules"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(sa.String(80))
    name: Mapped[str] = mapped_column(sa.String(120))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    duration_minutes: Mapped[int] = mapped_column(default=30)
    interval_minutes: Mapped[int] = mapped_column(default=30)
    buffer_before_minutes: Mapped[int] = mapped_column(default=0)
    buffer_after_minutes: Mapped[int] = mapped_column(default=0)
    min_notice_minutes: Mapped[int] = mapped_column(default=60)
    window_days: Mapped[int] = mapped_column(default=60)
    daily_limit: Mapped[int | None] = mapped_column()  # per staff member or resource
    # Per staff member or resource and week (Monday to Sunday in the site's time zone).
    weekly_limit: Mapped[int | None] = mapped_column()
    price_cents: Mapped[int | None] = mapped_column()
    deposit_cents: Mapped[int | None] = mapped_column()
    currency: Mapped[str] = mapped_column(sa.String(3), default="EUR")
    requires_approval: Mapped[bool] = mapped_column(default=False)
    # What a cancellation refunds of a paid booking (bookings/payment_events.py):
    # {"full_hours": 48, "partial_hours": 24, "partial_percent": 50}; None: in full.
    refund_policy: Mapped[dict | None] = mapped_column(sa.JSON)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class BookingServiceResource(Base):
    """Which staff members and resources serve a service."""

    __tablename__ = "booking_service_resources"
    __table_args__ = (not_personal("links services to the staff who serve them"),)

    service_id: Mapped[int] = mapped_column(
        sa.ForeignKey("booking_services.id", ondelete="CASCADE"), primary_key=True
    )
    resource_id: Mapped[int] = mapped_column(
        sa.ForeignKey("booking_resources.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('held', 'pending', 'confirmed', 'cancelled', 'expired', 'rejected')",
            name="status",
        ),
        sa.CheckConstraint("blocks_from < blocks_until", name="range"),
        sa.Index("ix_bookings_resource_id_blocks_from", "resource_id", "blocks_from"),
        personal_data(
            entity="booking",
            identifiers={"customer_email": "email", "customer_phone": "phone"},
            links={"visitor_id": "visitor", "conversation_id": "conversation"},
            mentions=("notes",),
            note="a booking is the customer's appointment; erased with them",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # A random reference the customer's links carry (never the sequential id).
    reference: Mapped[str] = mapped_column(sa.String(32), unique=True)
    service_id: Mapped[int] = mapped_column(
        sa.ForeignKey("booking_services.id", ondelete="CASCADE"), index=True
    )
    resource_id: Mapped[int] = mapped_column(
        sa.ForeignKey("booking_resources.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(sa.String(16), default="held")
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The booking with its buffers: what no other booking of the resource may overlap.
    blocks_from: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    blocks_until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The local date it starts on, for the service's daily limit.
    local_date: Mapped[dt.date] = mapped_column(sa.Date)
    hold_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    customer_name: Mapped[str] = mapped_column(sa.String(120), default="")
    customer_email: Mapped[str | None] = mapped_column(sa.String(320))
    customer_phone: Mapped[str | None] = mapped_column(sa.String(20))
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    visitor_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("visitors.id", ondelete="SET NULL"), index=True
    )
    conversation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )
    # The event written to the resource's calendar, once written: its UID (CalDAV) or event
    # id (Google), where it is (the CalDAV event URL, or the Google calendar id) and the
    # CalDAV ETag it was written with.
    calendar_event_uid: Mapped[str | None] = mapped_column(sa.String(200))
    calendar_event_where: Mapped[str | None] = mapped_column(sa.String(2000))
    calendar_event_etag: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


CALENDAR_PROVIDERS = ("caldav", "google")


class CalendarConnection(Base):
    """An external calendar account of a resource: whose busy times count, and where its
    bookings go. CalDAV: one calendar URL with a username and (encrypted) app password.
    Google: OAuth tokens (encrypted), the calendars whose busy times count and the one that
    receives bookings. ``broken_at`` is set when we can no longer read it (a revoked grant):
    the resource is then offered no slots until someone reconnects it."""

    __tablename__ = "booking_calendars"
    __table_args__ = (
        sa.UniqueConstraint("resource_id"),
        sa.CheckConstraint("provider IN ('caldav', 'google')", name="provider"),
        not_personal("the business's own calendar account; passwords and tokens are encrypted"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        sa.ForeignKey("booking_resources.id", ondelete="CASCADE")
    )
    provider: Mapped[str] = mapped_column(sa.String(16), default="caldav")
    # CalDAV: the calendar collection's URL. Google: empty.
    calendar_url: Mapped[str] = mapped_column(sa.String(2000), default="")
    # CalDAV: the login. Google: the account's address, as shown.
    username: Mapped[str] = mapped_column(sa.String(200), default="")
    password_encrypted: Mapped[str | None] = mapped_column(sa.Text)  # SecretBox (Fernet)
    # Google: the authorized-user token JSON (refresh token included), SecretBox-encrypted.
    token_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    # Google: the account's calendars [{"id", "summary", "primary", "writable"}], which of them
    # count as busy, and the one that receives bookings.
    calendars: Mapped[list] = mapped_column(sa.JSON, default=list)
    busy_calendar_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    write_calendar_id: Mapped[str] = mapped_column(sa.String(1000), default="")
    write_bookings: Mapped[bool] = mapped_column(default=True)
    connected_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    synced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(sa.String(500), default="")
    broken_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def readable(self) -> bool:
        """Whether its stored busy times can be trusted: read successfully, last time too.
        An unreadable calendar makes its resource fully busy (never false free time)."""
        return self.broken_at is None and self.synced_at is not None and not self.last_error


class GoogleOAuthApp(Base):
    """The Google OAuth client typed in the dashboard (else the .ini's is used): one row."""

    __tablename__ = "booking_google_app"
    __table_args__ = (not_personal("the business's OAuth client; the secret is encrypted"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(300))
    client_secret_encrypted: Mapped[str] = mapped_column(sa.Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class GoogleOAuthState(Base):
    """A started Google authorisation: its state is bound to the login session that started
    it, and carries the PKCE verifier; used once, within minutes."""

    __tablename__ = "booking_google_oauth_states"
    __table_args__ = (not_personal("a short-lived random value and the PKCE verifier, encrypted"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_session_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_sessions.id", ondelete="CASCADE"), index=True
    )
    resource_id: Mapped[int] = mapped_column(
        sa.ForeignKey("booking_resources.id", ondelete="CASCADE")
    )
    code_verifier_encrypted: Mapped[str] = mapped_column(sa.Text)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ExternalBusy(Base):
    """A busy interval read from a resource's external calendar (replaced on every sync)."""

    __tablename__ = "booking_external_busy"
    __table_args__ = (
        sa.Index("ix_booking_external_busy_resource_id_starts_at", "resource_id", "starts_at"),
        not_personal("only the start and end of the business's own calendar events"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        sa.ForeignKey("booking_resources.id", ondelete="CASCADE")
    )
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

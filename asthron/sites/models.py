"""Websites that embed the widget: origins, look, business hours, privacy notice."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from asthron.db import Base, UTCDateTime, utcnow
from asthron.personal_data import not_personal


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (
        sa.UniqueConstraint("public_key"),
        sa.CheckConstraint("position IN ('right', 'left')", name="position"),
        sa.CheckConstraint("theme IN ('auto', 'light', 'dark')", name="theme"),
        not_personal("the business's websites"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    # Public by design (it is in the page's script tag); it only names the site.
    public_key: Mapped[str] = mapped_column(sa.String(64))
    # Exact origins ("https://shop.example.com:8443") allowed to call the widget API.
    allowed_origins: Mapped[list] = mapped_column(sa.JSON, default=list)
    title: Mapped[str] = mapped_column(sa.String(80), default="Chat with us")
    greeting: Mapped[str] = mapped_column(sa.String(500), default="Hi! How can we help?")
    accent_color: Mapped[str] = mapped_column(sa.String(7), default="#2f5bea")
    position: Mapped[str] = mapped_column(sa.String(8), default="right")
    language: Mapped[str] = mapped_column(sa.String(16), default="en")
    # The widget's colours: "auto" follows the visitor's prefers-color-scheme.
    # Server defaults too: rows written outside the ORM (a restore, a script) stay valid.
    theme: Mapped[str] = mapped_column(sa.String(8), default="auto", server_default="auto")
    # Text beside the launcher's icon ("" = the round icon alone).
    launcher_text: Mapped[str] = mapped_column(
        sa.String(40), default="", server_default=sa.text("''")
    )
    # Shown under the title as "Usually replies in {reply_time}" ("" = not shown).
    reply_time: Mapped[str] = mapped_column(sa.String(40), default="", server_default=sa.text("''"))
    # The uploaded avatar's SHA-256 (its bytes are in site_avatars); None = no avatar.
    avatar_digest: Mapped[str | None] = mapped_column(sa.String(64))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    # {"mon": [["09:00", "17:00"]], ...}; a missing or empty day is closed.
    business_hours: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    holidays: Mapped[list] = mapped_column(sa.JSON, default=list)  # ["2026-12-25", ...]
    privacy_notice: Mapped[str] = mapped_column(sa.Text, default="")
    privacy_url: Mapped[str] = mapped_column(sa.String(2000), default="")
    # The public privacy page Asthron serves at /privacy/{public_key} (when privacy_url is
    # empty the widget links to it): the owner's text, its effective date, and a version that
    # increases with every change (sites/service.py:set_privacy_policy).
    privacy_policy_text: Mapped[str] = mapped_column(sa.Text, default="")
    privacy_policy_version: Mapped[int] = mapped_column(default=0)
    privacy_policy_effective: Mapped[dt.date | None] = mapped_column(sa.Date)
    # Signs visitor identities from the business's own backend (HMAC); Fernet-encrypted.
    identity_secret_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    # When the widget first loaded on a page of the site's own (not the dashboard's /demo):
    # the home page's "installed" tick (conversations/widget_api.py stamps it once).
    widget_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SiteAvatar(Base):
    """The avatar or team photo the widget shows in its header: an uploaded PNG, JPEG, GIF
    or WebP (checked by its first bytes), served at /widget-avatar/{site_key}/{digest}."""

    __tablename__ = "site_avatars"
    __table_args__ = (
        not_personal("a picture the business chose to show every visitor of its website"),
    )

    site_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    content_type: Mapped[str] = mapped_column(sa.String(16))
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

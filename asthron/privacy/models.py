"""Erasure tombstones and the owner's retention windows."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from asthron.db import Base, UTCDateTime, utcnow
from asthron.personal_data import not_personal


class ErasureTombstone(Base):
    """An erased identifier, as a keyed HMAC (never the identifier), so an erasure can be
    applied again after a backup made before it is restored."""

    __tablename__ = "erasure_tombstones"
    __table_args__ = (sa.UniqueConstraint("digest"), not_personal("keyed hashes only"))

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RetentionWindow(Base):
    """The owner's override of a retention category's window (days; 0 keeps for ever)."""

    __tablename__ = "retention_windows"

    category: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    days: Mapped[int]
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

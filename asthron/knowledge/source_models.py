"""Where knowledge comes from: a business's website (crawled on demand or on a schedule),
the pages found there, and each crawl with its per-page results."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from asthron.db import Base, UTCDateTime, utcnow
from asthron.personal_data import not_personal

CRAWL_STATES = ("queued", "running", "done", "failed")
PAGE_OUTCOMES = ("new", "updated", "unchanged", "failed", "skipped", "retired")


class KnowledgeSource(Base):
    """A website to import: a sitemap URL or a start URL whose same-site links are followed."""

    __tablename__ = "knowledge_sources"
    __table_args__ = (not_personal("addresses of the business's own website"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    url: Mapped[str] = mapped_column(sa.String(2000))
    max_pages: Mapped[int] = mapped_column(default=200)
    # Hours between scheduled crawls; 0: only when someone presses "Crawl now".
    recrawl_hours: Mapped[int] = mapped_column(default=0)
    publish_pages: Mapped[bool] = mapped_column(default=False)
    next_crawl_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class KnowledgeSourcePage(Base):
    """A page of a source as last seen: its article and what tells whether it changed."""

    __tablename__ = "knowledge_source_pages"
    __table_args__ = (
        sa.UniqueConstraint("source_id", "url"),
        not_personal("pages of the business's own website"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(
        sa.ForeignKey("knowledge_sources.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(sa.String(2000))
    article_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("articles.id", ondelete="SET NULL"), index=True
    )
    content_hash: Mapped[str | None] = mapped_column(sa.String(64))
    etag: Mapped[str | None] = mapped_column(sa.String(300))
    last_modified: Mapped[str | None] = mapped_column(sa.String(100))
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class KnowledgeCrawl(Base):
    """One crawl of a source, run by the worker; its counters move as pages are done."""

    __tablename__ = "knowledge_crawls"
    __table_args__ = (
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
        not_personal("progress of a website import"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(
        sa.ForeignKey("knowledge_sources.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    trigger: Mapped[str] = mapped_column(sa.String(16), default="manual")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Written with every page: a running crawl whose heartbeat stopped lost its worker.
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    counts: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # Why the crawl stopped early or failed (a limit, robots.txt unreadable…), for staff.
    note: Mapped[str] = mapped_column(sa.String(500), default="")


class KnowledgeCrawlPage(Base):
    """What one crawl did with one page, and why when it failed or was skipped."""

    __tablename__ = "knowledge_crawl_pages"
    __table_args__ = (not_personal("progress of a website import"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    crawl_id: Mapped[int] = mapped_column(
        sa.ForeignKey("knowledge_crawls.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(sa.String(2000))
    outcome: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    article_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("articles.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

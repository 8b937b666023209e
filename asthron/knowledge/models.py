"""Knowledge-base articles and the chunks they are split into for retrieval.

The full-text index lives beside these tables and is dialect-specific (created by the
migration, not the models): an FTS5 table ``knowledge_fts`` on SQLite, and a ``search_vector``
tsvector column with a GIN index on PostgreSQL. Both give the same retrieval contract.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from asthron.db import Base, UTCDateTime, utcnow
from asthron.personal_data import not_personal


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (not_personal("knowledge-base content written by the business"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)  # markdown, shown as text; never rendered raw
    tags: Mapped[list] = mapped_column(sa.JSON, default=list)
    published: Mapped[bool] = mapped_column(default=True)
    source_url: Mapped[str | None] = mapped_column(sa.String(2000))
    # Where the text came from: written in the dashboard ("manual"), a file ("file": its name
    # and type) or a website source ("website": the page's URL is source_url).
    source_kind: Mapped[str] = mapped_column(
        sa.String(16), default="manual", server_default="manual"
    )
    source_file: Mapped[str | None] = mapped_column(sa.String(300))
    source_type: Mapped[str | None] = mapped_column(sa.String(16))
    # No foreign key on purpose: SQLite adds one only by copying the table, and dropping the
    # old articles table would cascade-delete every chunk. Removing a source clears it.
    knowledge_source_id: Mapped[int | None] = mapped_column(index=True)
    # A page gone from the website is retired (unpublished, kept), never deleted silently.
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    chunks: Mapped[list[ArticleChunk]] = relationship(
        back_populates="article",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ArticleChunk.position",
    )


class ArticleChunk(Base):
    __tablename__ = "article_chunks"
    __table_args__ = (not_personal("knowledge-base content written by the business"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        sa.ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    heading: Mapped[str] = mapped_column(sa.String(300), default="")
    text: Mapped[str] = mapped_column(sa.Text)

    article: Mapped[Article] = relationship(back_populates="chunks")

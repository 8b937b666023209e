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
from asthron.personal_data import not_personal, personal_data


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


class KnowledgeSynonym(Base):
    """A group of words the owner says mean the same here ("boiler, furnace, heater")."""

    __tablename__ = "knowledge_synonyms"
    __table_args__ = (not_personal("words the business uses"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    words: Mapped[str] = mapped_column(sa.String(500))  # comma-separated, as typed
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PassageEmbedding(Base):
    """A chunk's vector from an embedding model (dense retrieval). ``model`` names the model
    and where it runs: vectors of another model are stale and computed again.

    On PostgreSQL with the pgvector extension the migration adds an ``embedding_pgvector``
    column by hand (not in the models, like the tsvector), filled beside ``vector`` and ranked
    in SQL; without it the vectors are read from ``vector`` (float32, little-endian) and
    compared by brute force."""

    __tablename__ = "passage_embeddings"
    __table_args__ = (not_personal("vectors of knowledge-base content"),)

    chunk_id: Mapped[int] = mapped_column(
        sa.ForeignKey("article_chunks.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(sa.String(400), index=True)
    dimensions: Mapped[int]
    vector: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


GAP_REASONS = ("abstained", "handed_off", "marked_wrong")


class KnowledgeGap(Base):
    """A visitor's question the assistant could not answer: it abstained, the chat was handed
    to a person, or staff marked the reply wrong. Grouped on the knowledge-gaps page.

    The conversation is referred to by id only (the knowledge layer never imports the
    conversations package); its rows go with the conversation (cascade)."""

    __tablename__ = "knowledge_gaps"
    __table_args__ = (
        sa.CheckConstraint("reason IN ('abstained', 'handed_off', 'marked_wrong')", name="reason"),
        # One gap per reply and reason: marking a reply wrong twice records it once.
        sa.UniqueConstraint("event_id", "reason"),
        personal_data(links={"conversation_id": "conversation"}, mentions=("question",)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    question: Mapped[str] = mapped_column(sa.Text)
    reason: Mapped[str] = mapped_column(sa.String(16))
    conversation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    # The assistant's reply concerned, when there is one.
    event_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("conversation_events.id", ondelete="CASCADE")
    )
    dismissed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

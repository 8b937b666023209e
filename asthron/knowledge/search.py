"""Full-text retrieval with the database's own engine: SQLite FTS5 or PostgreSQL tsvector.

Both backends take the same input (free text), ignore the same stop words, match any of the
remaining terms (OR), rank by relevance and return the same Passage objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.knowledge.models import Article, ArticleChunk

WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)
STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "please",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "too",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
    ]
)
MAX_TERMS = 16


@dataclass(frozen=True)
class Passage:
    chunk_id: int
    article_id: int
    title: str
    heading: str
    text: str
    score: float


def terms(query: str) -> list[str]:
    seen: list[str] = []
    for word in WORD_RE.findall((query or "").lower()):
        if len(word) > 1 and word not in STOP_WORDS and word not in seen and len(word) <= 40:
            seen.append(word)
    return seen[:MAX_TERMS]


def index_chunks(db: Session, chunks: list[ArticleChunk], title: str) -> None:
    dialect = db.get_bind().dialect.name
    for chunk in chunks:
        if dialect == "sqlite":
            db.execute(
                sa.text(
                    "INSERT INTO knowledge_fts(rowid, title, heading, text) "
                    "VALUES (:id, :title, :heading, :text)"
                ),
                {"id": chunk.id, "title": title, "heading": chunk.heading, "text": chunk.text},
            )
        else:
            db.execute(
                sa.text(
                    "UPDATE article_chunks SET search_vector = "
                    "setweight(to_tsvector('english', :title), 'A') || "
                    "setweight(to_tsvector('english', :heading), 'B') || "
                    "to_tsvector('english', :text) WHERE id = :id"
                ),
                {"id": chunk.id, "title": title, "heading": chunk.heading, "text": chunk.text},
            )


def unindex_chunks(db: Session, chunk_ids: list[int]) -> None:
    if chunk_ids and db.get_bind().dialect.name == "sqlite":
        db.execute(
            sa.text("DELETE FROM knowledge_fts WHERE rowid IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": chunk_ids},
        )


def search(db: Session, query: str, limit: int = 4) -> list[Passage]:
    """The best passages from published articles for free-text ``query``."""
    words = terms(query)
    if not words:
        return []
    if db.get_bind().dialect.name == "sqlite":
        # Each term quoted, so visitor text can never inject FTS5 query syntax, and matched as
        # a prefix, so "deliver" finds "delivery" (the same on PostgreSQL with :*).
        match = " OR ".join(f'"{w}"*' for w in words)
        rows = db.execute(
            sa.text(
                "SELECT rowid AS chunk_id, bm25(knowledge_fts, 4.0, 2.0, 1.0) AS rank "
                "FROM knowledge_fts WHERE knowledge_fts MATCH :match "
                "ORDER BY rank LIMIT :limit"
            ),
            {"match": match, "limit": limit * 3},
        ).all()
        scored = [(row.chunk_id, -float(row.rank)) for row in rows]
    else:
        tsquery = " | ".join(f"'{w}':*" for w in words)
        rows = db.execute(
            sa.text(
                "SELECT id AS chunk_id, ts_rank_cd(search_vector, q) AS rank "
                "FROM article_chunks, to_tsquery('english', :q) AS q "
                "WHERE search_vector @@ q ORDER BY rank DESC LIMIT :limit"
            ),
            {"q": tsquery, "limit": limit * 3},
        ).all()
        scored = [(row.chunk_id, float(row.rank)) for row in rows]
    if not scored:
        return []
    score_of = dict(scored)
    chunks = db.execute(
        sa.select(ArticleChunk, Article)
        .join(Article, Article.id == ArticleChunk.article_id)
        .where(ArticleChunk.id.in_(list(score_of)), Article.published.is_(True))
    ).all()
    passages = [Passage(c.id, a.id, a.title, c.heading, c.text, score_of[c.id]) for c, a in chunks]
    passages.sort(key=lambda p: (-p.score, p.chunk_id))
    return passages[:limit]

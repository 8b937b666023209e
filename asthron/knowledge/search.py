"""Retrieval: the passages that answer a visitor's question, and whether any does.

``search`` ranks with ``knowledge.ranking`` (stems, typo tolerance, synonyms, BM25F over
title, heading and body, re-ranked by coverage of the question) over an in-memory index of
the published chunks, rebuilt when the knowledge base changes (a cheap fingerprint query per
call). Every passage carries its answerability; ``answerable`` keeps those good enough to
quote or to put in a model's prompt.

``fts_search`` is the database's own full-text engine (SQLite FTS5 or PostgreSQL tsvector),
kept as the plain baseline of ``bench/answers.py``; both backends take the same input, ignore
the same stop words, match any remaining term (OR) and rank by relevance.

Owner synonyms: the groups saved on Dashboard → Knowledge → Synonyms (``knowledge_synonyms``,
one comma-separated group per line: "hire, rent, lend"), and, as before, an article tagged
``synonyms`` (kept unpublished) holding such lines. Neither is ever quoted.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.knowledge import embeddings, ranking
from asthron.knowledge.index_cache import LatestPerDatabase
from asthron.knowledge.models import Article, ArticleChunk, KnowledgeSynonym

log = logging.getLogger(__name__)
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
SYNONYMS_TAG = "synonyms"


@dataclass(frozen=True)
class Passage:
    chunk_id: int
    article_id: int
    title: str
    heading: str
    text: str
    score: float
    # 0..1: the share of the question (weighted by rarity) this passage's article covers.
    answerability: float = 1.0
    # The sentences that answer, in order (empty: quote ``text``).
    quote: tuple[str, ...] = ()
    # Whether the question as a whole is answered by the passages retrieved with this one.
    answerable: bool = True
    # The question's words this passage's article covers.
    matched: frozenset[str] = frozenset()
    # Answers one of the questions a message asks (``ranking.question_parts``).
    answers_part: bool = False


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


def fts_search(db: Session, query: str, limit: int = 4) -> list[Passage]:
    """The database's plain full-text search (the baseline): any term, ranked by relevance."""
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


# -- ranked retrieval -----------------------------------------------------------------------

_INDEXES: LatestPerDatabase[ranking.Index] = LatestPerDatabase()


def _fingerprint(db: Session) -> tuple:
    row = db.execute(
        sa.select(
            sa.func.count(ArticleChunk.id),
            sa.func.max(ArticleChunk.id),
            sa.func.count(sa.distinct(Article.id)),
            sa.func.max(Article.updated_at),
        )
        .select_from(Article)
        .outerjoin(ArticleChunk, ArticleChunk.article_id == Article.id)
    ).one()
    # The synonyms by content, not by row count and id: saving replaces every row, and SQLite
    # gives the new rows the ids the deleted ones had, so an edited group looked unchanged.
    synonyms = hashlib.sha256()
    for words in db.scalars(sa.select(KnowledgeSynonym.words).order_by(KnowledgeSynonym.id)):
        synonyms.update(words.encode() + b"\n")
    return (*(str(v) for v in row), synonyms.hexdigest())


def _build_index(db: Session) -> ranking.Index:
    docs, extra = [], []
    rows = db.execute(
        sa.select(ArticleChunk, Article)
        .join(Article, Article.id == ArticleChunk.article_id)
        .order_by(ArticleChunk.id)
    ).all()
    for chunk, article in rows:
        if SYNONYMS_TAG in (article.tags or []):
            continue
        if article.published:
            docs.append(
                ranking.make_doc(chunk.id, article.id, article.title, chunk.heading, chunk.text)
            )
    for article in db.scalars(sa.select(Article)):
        if SYNONYMS_TAG in (article.tags or []):
            extra.extend(parse_synonyms(article.body))
    for words in db.scalars(sa.select(KnowledgeSynonym.words).order_by(KnowledgeSynonym.id)):
        extra.extend(parse_synonyms(words))
    return ranking.Index(docs, ranking.synonym_groups(extra))


def parse_synonyms(text: str) -> list[list[str]]:
    """One group per line, comma-separated: "hire, rent, lend"."""
    groups = []
    for line in (text or "").splitlines():
        line = line.strip().lstrip("-*").strip()
        if not line or line.startswith("#"):
            continue
        group = [w.strip() for w in line.split(",") if w.strip()]
        if len(group) > 1:
            groups.append(group[:20])
    return groups[:500]


def index_for(db: Session) -> ranking.Index:
    database, fingerprint = str(db.get_bind().url), _fingerprint(db)
    index = _INDEXES.get(database, fingerprint)
    if index is None:
        index = _build_index(db)
        _INDEXES.put(database, fingerprint, index)
    return index


# Nearest passages asked for: the first ranking.DENSE_FUSED are fused into the ranking, all
# of them give the similarity of the passages the words found (answerability).
DENSE_CANDIDATES = 64
_NO_EMBEDDER = object()


def search(db: Session, query: str, limit: int = 4, embedder=_NO_EMBEDDER) -> list[Passage]:
    """The best passage of each of the best ``limit`` published articles for ``query``, best
    first, each with its answerability. With an embedder (the configured one unless given;
    None: lexical only) the passages nearest in meaning are fused into the ranking."""
    if not terms(query):
        return []
    query = query[:2000]
    if embedder is _NO_EMBEDDER:
        embedder = embeddings.embedder_for(db)
    dense: list[tuple[int, float]] = []
    if embedder is not None:
        try:
            dense = embeddings.nearest_chunks(db, embedder, query, DENSE_CANDIDATES)
        except Exception as exc:
            # The provider is down or slow: the lexical ranking stands alone.
            log.warning("dense retrieval unavailable: %s", exc)
        embeddings.record_usage(db, embedder)
    model = ranking.dense_model_for(embedder.name) if dense else None
    ranked, question_ok = index_for(db).rank(query, limit=limit, dense=dense, dense_model=model)
    return [
        Passage(
            r.doc.chunk_id,
            r.doc.article_id,
            r.doc.title,
            r.doc.heading,
            r.doc.text,
            r.score,
            r.coverage,
            r.quote,
            question_ok and (r.lead or r.answers_part or r.coverage >= ranking.PASSAGE_ANSWERABLE),
            r.matched,
            r.answers_part,
        )
        for r in ranked
    ]


def answerable(passages: list[Passage]) -> list[Passage]:
    """The passages good enough to quote or to prompt a model with (may be none)."""
    return [p for p in passages if p.answerable]

"""Dense retrieval: passage vectors from an embedding model, fused with the lexical ranking.

The knowledge layer knows only the ``Embedder`` protocol. Whoever can make vectors (the
assistant, from a configured provider's embedding model: ``assistant/embeddings.py``) puts a
callable ``db -> Embedder | None`` in the registry slot ``EMBEDDER_SLOT`` at configuration
time; with none, or when it returns None, retrieval is lexical alone.

Vectors are computed in the background (``knowledge/tasks.py``: after an article is saved,
and every few minutes for anything missed or made by another model) and stored in
``passage_embeddings``: float32 bytes, compared by brute-force cosine over an in-memory copy
of the normalised vectors (a business has thousands of passages, not millions: measured,
about 14 ms a question per thousand 384-dimension passages, docs/benchmarks.md "Dense
search"). On PostgreSQL with the pgvector extension the migration adds an
``embedding_pgvector`` column, which is filled too and ranked in SQL (``<=>``, three times
faster at 5,000; tests/knowledge/test_pgvector.py).
"""

from __future__ import annotations

import logging
import math
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from operator import mul
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.knowledge.index_cache import LatestPerDatabase
from asthron.knowledge.models import Article, ArticleChunk, PassageEmbedding

log = logging.getLogger(__name__)

EMBEDDER_SLOT = "knowledge.embedder"
BATCH = 32
# Passages embedded per task run; the periodic run and the next save carry on from there.
MAX_PER_RUN = 2000
MAX_TEXT = 4000
MAX_DIMENSIONS = 8192
# The longest embedder name the vectors can be stored under.
NAME_LENGTH = PassageEmbedding.__table__.c.model.type.length


class Embedder(Protocol):
    """Something that turns texts into vectors. ``name`` identifies the vector space (the
    provider, its address and the model): vectors stored under another name are recomputed."""

    name: str

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def record_usage(db: Session, embedder: Embedder) -> None:
    """An embedder may keep what its calls cost (``record_usage(db)``, the assistant's meters
    them): written in the session whose work used the vectors, so no second transaction is
    opened while this one may hold the database's write lock. In a savepoint, and a failure
    only logged, as the reply's metering is: metering must never fail the visitor's message
    or the background run whose vectors it would take down with it."""
    record = getattr(embedder, "record_usage", None)
    if record is None:
        return
    try:
        with db.begin_nested():
            record(db)
    except Exception:
        log.exception("could not record the usage of the embedding calls")


def embedder_for(db: Session) -> Embedder | None:
    """The configured embedder, or None (no embedding model: lexical retrieval alone)."""
    registry = db.info.get("registry")
    source = registry.get(EMBEDDER_SLOT) if registry is not None else None
    if source is None:
        return None
    try:
        return source(db)
    except Exception:
        log.exception("could not build the embedder")
        return None


def passage_text(title: str, heading: str, text: str) -> str:
    return "\n".join(p for p in (title, heading, text) if p)[:MAX_TEXT]


def normalised(vector: Sequence[float]) -> array:
    values = array("f", (float(x) for x in vector))
    norm = math.sqrt(sum(x * x for x in values)) or 1.0
    return array("f", (x / norm for x in values))


def usable(vector: Sequence[float]) -> bool:
    """A vector that can be stored and compared: not empty, not too long, finite (as float32:
    pgvector refuses NaN and infinity) and not all zeros (no direction to compare)."""
    if not vector or len(vector) > MAX_DIMENSIONS:
        return False
    try:
        values = array("f", (float(x) for x in vector))
    except (TypeError, ValueError):
        return False
    return all(math.isfinite(x) for x in values) and any(values)


def _vector_literal(unit: array) -> str:
    """pgvector's text form of a vector: "[0.1,0.2,…]"."""
    return "[" + ",".join(repr(float(x)) for x in unit) + "]"


def pack(vector: array) -> bytes:
    """float32, little-endian whatever the machine."""
    copy = array("f", vector)
    if sys.byteorder == "big":
        copy.byteswap()
    return copy.tobytes()


def unpack(data: bytes) -> array:
    values = array("f")
    values.frombytes(data)
    if sys.byteorder == "big":
        values.byteswap()
    return values


def _has_pgvector(db: Session) -> bool:
    bind = db.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    key = str(bind.url)
    if key not in _PGVECTOR:
        found = db.execute(
            sa.text(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = "
                "current_schema() AND table_name = 'passage_embeddings' "
                "AND column_name = 'embedding_pgvector'"
            )
        ).scalar()
        _PGVECTOR[key] = bool(found)
    return _PGVECTOR[key]


_PGVECTOR: dict[str, bool] = {}


def _has_pgvector_still(db: Session) -> bool:
    """Look again after a pgvector statement failed: the column may have gone while this
    process remembered it (a backup from a server without pgvector restored, or the
    extension dropped), and remembered, every run failed on it until a restart."""
    _PGVECTOR.pop(str(db.get_bind().url), None)
    return _has_pgvector(db)


def pending_chunks(db: Session, name: str, limit: int) -> list[tuple[int, str]]:
    """Published passages with no vector from this embedder: (chunk id, text to embed)."""
    rows = db.execute(
        sa.select(ArticleChunk.id, Article.title, ArticleChunk.heading, ArticleChunk.text)
        .join(Article, Article.id == ArticleChunk.article_id)
        .outerjoin(
            PassageEmbedding,
            sa.and_(PassageEmbedding.chunk_id == ArticleChunk.id, PassageEmbedding.model == name),
        )
        .where(Article.published.is_(True), PassageEmbedding.chunk_id.is_(None))
        .order_by(ArticleChunk.id)
        .limit(limit)
    ).all()
    return [(row.id, passage_text(row.title, row.heading, row.text)) for row in rows]


def embed_pending(db: Session, embedder: Embedder, limit: int = MAX_PER_RUN) -> int:
    """Compute and store the vectors of passages that have none from ``embedder`` (new or
    edited articles, or all of them after a model change, whose old vectors are replaced).
    Returns how many were stored. A provider failure ends the run early but not in vain: the
    batches already embedded stay stored and every call made, the failed one included, is
    metered; the rest stay pending for the next run (the periodic task's, or the next save's).
    Raising instead rolled the task's transaction back, losing both."""
    pending = pending_chunks(db, embedder.name, limit)
    pgvector = _has_pgvector(db)
    stored = 0
    for start in range(0, len(pending), BATCH):
        batch = pending[start : start + BATCH]
        try:
            vectors = embedder.embed([text for _id, text in batch])
            if len(vectors) != len(batch):
                raise ValueError("the embedder returned the wrong number of vectors")
        except Exception as exc:
            log.warning(
                "embedding stopped after %d of %d passages (%s): %s",
                stored,
                len(pending),
                embedder.name,
                exc,
            )
            break
        ids = [chunk_id for chunk_id, _text in batch]
        db.execute(sa.delete(PassageEmbedding).where(PassageEmbedding.chunk_id.in_(ids)))
        units = {}
        for chunk_id, vector in zip(ids, vectors, strict=True):
            if not usable(vector):
                # One passage's bad vector (NaN, empty…) must not stop the rest being embedded;
                # it stays pending and is asked for again on the next run.
                log.warning("unusable vector for passage %s from %s", chunk_id, embedder.name)
                continue
            units[chunk_id] = normalised(vector)
        db.add_all(
            PassageEmbedding(
                chunk_id=chunk_id, model=embedder.name, dimensions=len(unit), vector=pack(unit)
            )
            for chunk_id, unit in units.items()
        )
        db.flush()
        if pgvector and units:
            try:
                # In a savepoint: should the column be gone, the vectors stored above stay.
                with db.begin_nested():
                    # One executemany per batch rather than a statement per passage.
                    db.execute(
                        sa.text(
                            "UPDATE passage_embeddings "
                            "SET embedding_pgvector = CAST(:v AS vector) WHERE chunk_id = :id"
                        ),
                        [
                            {"v": _vector_literal(unit), "id": chunk_id}
                            for chunk_id, unit in units.items()
                        ],
                    )
            except sa.exc.DBAPIError:
                pgvector = _has_pgvector_still(db)
                if pgvector:
                    raise
                log.warning("the pgvector column is gone: vectors are compared in memory")
        stored += len(units)
    record_usage(db, embedder)
    return stored


@dataclass(frozen=True)
class VectorIndex:
    """The stored unit vectors of one embedder, in memory."""

    chunk_ids: tuple[int, ...]
    vectors: tuple[array, ...]
    # The vectors' sizes: more than one, or another than the question's, is a model swapped
    # under the same name (``forget_other_dimensions``).
    dimensions: frozenset[int] = frozenset()

    def nearest(self, query: array, limit: int) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity), most similar first."""
        scored = [
            (sum(map(mul, query, vector)), chunk_id)
            for chunk_id, vector in zip(self.chunk_ids, self.vectors, strict=True)
            if len(vector) == len(query)
        ]
        scored.sort(reverse=True)
        return [(chunk_id, similarity) for similarity, chunk_id in scored[:limit]]


# One index per database: that of the embedder in use (another's is replaced too).
_VECTORS: LatestPerDatabase[VectorIndex] = LatestPerDatabase()


def _vector_index(db: Session, name: str) -> VectorIndex:
    fingerprint = db.execute(
        sa.select(
            sa.func.count(PassageEmbedding.chunk_id),
            sa.func.max(PassageEmbedding.chunk_id),
            sa.func.max(PassageEmbedding.created_at),
        ).where(PassageEmbedding.model == name)
    ).one()
    database = str(db.get_bind().url)
    stamp = (name, *(str(v) for v in fingerprint))
    index = _VECTORS.get(database, stamp)
    if index is not None:
        return index
    rows = db.execute(
        sa.select(PassageEmbedding.chunk_id, PassageEmbedding.vector)
        .join(ArticleChunk, ArticleChunk.id == PassageEmbedding.chunk_id)
        .join(Article, Article.id == ArticleChunk.article_id)
        .where(PassageEmbedding.model == name, Article.published.is_(True))
        .order_by(PassageEmbedding.chunk_id)
    ).all()
    vectors = tuple(unpack(row.vector) for row in rows)
    index = VectorIndex(
        tuple(row.chunk_id for row in rows), vectors, frozenset(len(v) for v in vectors)
    )
    _VECTORS.put(database, stamp, index)
    return index


def nearest_chunks(
    db: Session, embedder: Embedder, query: str, limit: int
) -> list[tuple[int, float]]:
    """The passages nearest to ``query`` as (chunk id, cosine similarity), best first; empty
    when nothing is embedded yet. A provider failure raises (the caller falls back)."""
    if _has_pgvector(db):
        return _nearest_in_sql(db, embedder, query, limit)
    index = _vector_index(db, embedder.name)
    if not index.chunk_ids:
        return []
    vector = embedder.embed([query[:MAX_TEXT]])[0]
    if not usable(vector):
        return []
    if index.dimensions != {len(vector)}:
        forget_other_dimensions(db, embedder.name, len(vector))
    return index.nearest(normalised(vector), limit)


def forget_other_dimensions(db: Session, name: str, dimensions: int) -> None:
    """Delete the vectors stored under ``name`` whose size is not ``dimensions``, the size of
    the vectors it makes now: the model was swapped under the same name (another model
    pulled with the same tag), so they can never be compared with a question again, and
    they were never recomputed either (only passages without a vector are), leaving dense
    retrieval off for good. Deleted, they are pending: the next background run computes
    them with the model now served. In a savepoint: should the delete fail, the caller
    falls back to the words and the request's transaction goes on."""
    with db.begin_nested():
        forgotten = db.execute(
            sa.delete(PassageEmbedding).where(
                PassageEmbedding.model == name, PassageEmbedding.dimensions != dimensions
            )
        ).rowcount
    if forgotten:
        log.warning(
            "%s now makes vectors of %d dimensions: %d stored of another size deleted, to be "
            "computed again",
            name,
            dimensions,
            forgotten,
        )


def _nearest_in_sql(
    db: Session, embedder: Embedder, query: str, limit: int
) -> list[tuple[int, float]]:
    """``nearest_chunks`` ranked by pgvector (an exact scan: the column takes any model's
    dimensions, so it has no approximate index, and a business's few thousand passages do
    not need one)."""
    smallest, largest = db.execute(
        sa.select(
            sa.func.min(PassageEmbedding.dimensions), sa.func.max(PassageEmbedding.dimensions)
        ).where(PassageEmbedding.model == embedder.name)
    ).one()
    if smallest is None:
        return []  # nothing embedded yet: no paid call for the question
    vector = embedder.embed([query[:MAX_TEXT]])[0]
    if not usable(vector):
        return []
    if smallest != len(vector) or largest != len(vector):
        forget_other_dimensions(db, embedder.name, len(vector))
    unit = normalised(vector)
    # In a savepoint: should the query fail, the rest of the request's transaction stays
    # usable, to rank in memory (the column is gone) or fall back to the words (the caller).
    try:
        with db.begin_nested():
            rows = db.execute(
                sa.text(
                    "SELECT p.chunk_id, 1 - (p.embedding_pgvector <=> CAST(:q AS vector)) "
                    "AS similarity FROM passage_embeddings p "
                    "JOIN article_chunks c ON c.id = p.chunk_id "
                    "JOIN articles a ON a.id = c.article_id "
                    "WHERE p.model = :model AND p.embedding_pgvector IS NOT NULL AND a.published "
                    # Vectors of another size (a model swapped under the same name) were deleted
                    # above, but one a background run stores meanwhile would make ``<=>`` refuse
                    # the whole query: skipped, as the brute-force path skips them.
                    "AND vector_dims(p.embedding_pgvector) = :dimensions "
                    # Ties as the brute-force path orders them: the later passage first.
                    "ORDER BY p.embedding_pgvector <=> CAST(:q AS vector), p.chunk_id DESC "
                    "LIMIT :limit"
                ),
                {
                    "q": _vector_literal(unit),
                    "model": embedder.name,
                    "dimensions": len(unit),
                    "limit": limit,
                },
            ).all()
    except sa.exc.DBAPIError:
        if _has_pgvector_still(db):
            raise
        log.warning("the pgvector column is gone: vectors are compared in memory")
        return _vector_index(db, embedder.name).nearest(unit, limit)
    return [(row.chunk_id, float(row.similarity)) for row in rows]

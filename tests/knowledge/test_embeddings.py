"""Dense retrieval: the providers' embedding endpoints (against the loopback fake server),
vectors computed in the background on article save, re-embedding after a model change,
reciprocal rank fusion with the lexical ranking, and the lexical path alone when the
embedding provider fails. (PostgreSQL with pgvector: tests/knowledge/test_pgvector.py.)"""

from __future__ import annotations

import gc
import json
import logging
import time
import weakref

import pytest
import sqlalchemy as sa

from asthron.assistant import embeddings as assistant_embeddings
from asthron.assistant.models import ProviderConfig
from asthron.assistant.providers.base import ProviderError, Timeouts
from asthron.assistant.providers.ollama_provider import OllamaProvider
from asthron.assistant.providers.openai_compat import OpenAICompatProvider
from asthron.audit.service import Actor
from asthron.knowledge import embeddings, ranking, search, tasks
from asthron.knowledge import service as kb
from asthron.knowledge.models import Article, PassageEmbedding
from tests.fakes.llm_server import FakeLLMServer, fake_embedding

ARTICLES = [
    ("Opening hours", "We are open Monday to Friday from 9:00 to 17:00."),
    ("Bicycle repairs", "We repair all kinds of bicycles, e-bikes included, in our workshop."),
]


@pytest.fixture
def fake_server():
    server = FakeLLMServer().start()
    yield server
    server.stop()


@pytest.mark.parametrize("kind", ["ollama", "openai"])
def test_the_providers_embed_through_the_real_wire_protocols(fake_server, kind):
    if kind == "ollama":
        provider = OllamaProvider("chat-test", base_url=fake_server.url)
        path = "/api/embed"
    else:
        provider = OpenAICompatProvider("chat-test", base_url=fake_server.openai_base_url)
        path = "/v1/embeddings"
    vectors = provider.embed(["first text", "second text"], "embed-test")
    assert len(vectors) == 2
    assert vectors[0] == pytest.approx(fake_embedding("first text", "embed-test"), abs=1e-6)
    assert vectors[0] != pytest.approx(vectors[1])
    body = fake_server.last(path).body
    assert body["model"] == "embed-test" and body["input"] == ["first text", "second text"]
    # The tokens the provider counted (usage.prompt_tokens / prompt_eval_count) are metered.
    again, tokens = provider.embed_with_usage(["first text", "second text"], "embed-test")
    assert again == vectors and tokens == 4
    fake_server.scenario = "500"
    with pytest.raises(ProviderError):
        provider.embed(["third"], "embed-test")


# Seconds between the bytes of a dripping server: every read gets something well within any
# read timeout, and an answer of a few thousand bytes takes minutes.
DRIP = 0.04
SHORT = Timeouts(1.0, 1.0, 1.0)


def drip_seconds(text: str) -> float:
    """How long the fake takes to drip an answer holding ``text``'s vector (at the least)."""
    return len(json.dumps(fake_embedding(text, "embed-a"))) * DRIP


@pytest.mark.parametrize("kind", ["ollama", "openai"])
def test_an_embedding_call_ends_at_its_total_timeout_however_slowly_the_body_drips(
    fake_server, kind
):
    """httpx's timeout bounds each read: a body dripping a byte every 40 ms held the call
    (and the visitor's message waiting for it) until the last byte."""
    if kind == "ollama":
        provider = OllamaProvider("chat-test", base_url=fake_server.url)
    else:
        provider = OpenAICompatProvider("chat-test", base_url=fake_server.openai_base_url)
    fake_server.scenario, fake_server.chunk_delay = "drip", DRIP
    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        provider.embed(["a question"], "embed-a", SHORT)
    assert raised.value.kind == "timeout"
    assert time.monotonic() - started < drip_seconds("a question") / 4


MINILM = ranking.ANSWERABILITY_MODEL["with_embeddings"]["all-minilm"]


def test_reciprocal_rank_fusion():
    fused = ranking.reciprocal_rank_fusion([[1, 2, 3], [3, 9]])
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[1] == pytest.approx(1 / 61) and fused[9] == pytest.approx(1 / 62)
    assert fused[2] == fused[9]  # the same rank in either list counts the same
    assert sorted(fused, key=fused.get, reverse=True)[:2] == [3, 1]
    weighted = ranking.reciprocal_rank_fusion([[1, 2], [2]], weights=(1.0, 0.5))
    assert weighted[2] == pytest.approx(1 / 62 + 0.5 / 61)


def test_fusion_reorders_what_the_words_found_and_never_leads_with_a_vector_only_passage():
    docs = [
        ranking.make_doc(1, 1, "Bike repairs", "", "We repair bikes and fix punctures."),
        ranking.make_doc(2, 2, "Bike hire", "", "Hire a bike for a day; we repair it if needed."),
        ranking.make_doc(3, 3, "Gift cards", "", "Gift cards from 10 to 200."),
    ]
    index = ranking.Index(docs)
    lexical, ok = index.rank("Do you repair bikes?", limit=3)
    assert [r.doc.article_id for r in lexical][:2] == [1, 2] and ok
    dense = [(2, 0.9), (3, 0.8), (1, 0.5)]
    fused, ok = index.rank("Do you repair bikes?", limit=3, dense=dense)
    order = [r.doc.article_id for r in fused]
    assert order[0] == 2  # both rankings had it, one of them first
    assert order[-1] == 3  # found by the vectors alone: last, and no words of the question
    assert fused[-1].coverage == 0.0
    # Without a model calibrated for these vectors, answerability is judged on the passage
    # the words rank best.
    assert ok and [r.lead for r in fused] == [False, True, False]
    # With one, on the first passage shown.
    calibrated, _ = index.rank("Do you repair bikes?", limit=3, dense=dense, dense_model=MINILM)
    assert [r.lead for r in calibrated] == [True, False, False]
    assert [r.similarity for r in fused] == [0.9, 0.5, 0.8]


def test_words_that_match_but_mean_something_else_are_declined_with_the_vectors():
    """A near miss sharing its words with an article: answerable by its words, not when
    another article is much nearer in meaning than the one shown (the calibrated model of
    ranking.ANSWERABILITY_MODEL["with_embeddings"])."""
    docs = [
        ranking.make_doc(1, 1, "Water heaters", "", "Water heaters: we fit them all."),
        ranking.make_doc(2, 2, "Meters", "", "Meter readings and gas meters."),
        ranking.make_doc(3, 3, "Gift cards", "", "Gift cards from 10 to 200."),
    ]
    index = ranking.Index(docs)
    question = "Can you fit a water meter?"
    assert index.rank(question)[1]  # the words alone: answerable
    model = ranking.dense_model_for("ollama|http://127.0.0.1:11434|all-minilm:l6-v2")
    assert model is MINILM
    assert index.rank(question, dense=[(1, 0.7), (2, 0.2), (3, 0.1)], dense_model=model)[1]
    far = [(3, 0.6), (2, 0.2), (1, 0.05)]
    assert not index.rank(question, dense=far, dense_model=model)[1]
    # A model whose cosine scale was not calibrated only fuses: the words decide.
    assert ranking.dense_model_for("openai|https://example.test/v1|text-embedding-3-small") is None
    assert index.rank(question, dense=far, dense_model=None)[1]


def test_the_calibrated_model_weighs_closeness_in_meaning():
    # More similar, more likely answered; every feature it reads is one ranking computes.
    assert MINILM["weights"]["similarity"] > 0
    assert list(MINILM["weights"]) == list(ranking.DENSE_FEATURE_NAMES)
    features = dict.fromkeys(ranking.DENSE_FEATURE_NAMES, 0.5)
    near = ranking.probability(MINILM, {**features, "similarity": 0.9})
    far = ranking.probability(MINILM, {**features, "similarity": 0.1})
    assert near > far


def test_only_the_nearest_few_are_fused_the_rest_give_similarities(monkeypatch):
    docs = [ranking.make_doc(i, i, f"Topic {i}", "", f"Text number {i}.") for i in (1, 2, 3)]
    docs.append(ranking.make_doc(4, 4, "Bike repairs", "", "We repair bikes."))
    index = ranking.Index(docs)
    monkeypatch.setattr(ranking, "DENSE_FUSED", 2)
    fused, ok = index.rank("repair bikes", limit=4, dense=[(1, 0.6), (2, 0.5), (4, 0.4)])
    assert sorted(r.doc.article_id for r in fused) == [1, 2, 4]  # 3: neither words nor vectors
    assert ok and next(r for r in fused if r.doc.article_id == 4).similarity == 0.4


def test_the_fake_server_can_serve_a_real_models_vectors(fake_server):
    """bench/answers.py plugs a local embedding model into the fake's /api/embed."""
    fake_server.embed_texts = lambda texts, model: [[len(t), 1.0] for t in texts]
    provider = OllamaProvider("chat-test", base_url=fake_server.url)
    assert provider.embed(["abc", "hello"], "all-minilm-l6-v2") == [[3.0, 1.0], [5.0, 1.0]]


@pytest.fixture
def embedding_provider(run_in_tm, fake_server):
    """The primary provider (dashboard row) is Ollama with an embedding model, at the fake."""

    def configure(model="embed-a"):
        def save(db):
            row = db.scalar(sa.select(ProviderConfig).where(ProviderConfig.slot == "primary"))
            if row is None:
                row = ProviderConfig(slot="primary", kind="ollama", base_url=fake_server.url)
                row.model = "chat-test"
                db.add(row)
            row.embedding_model = model

        run_in_tm(save)

    configure()
    return configure


def stored(run_in_tm):
    return run_in_tm(
        lambda db: sorted(
            (e.model.rsplit("|", 1)[-1], e.dimensions)
            for e in db.scalars(sa.select(PassageEmbedding))
        )
    )


def create(run_in_tm):
    return run_in_tm(
        lambda db: [
            kb.create_article(db, Actor.cli(), kb.ArticleInput(t, b, [])).id for t, b in ARTICLES
        ]
    )


def test_saving_an_article_embeds_its_passages_in_the_background(
    embedding_provider, run_in_tm, fake_server
):
    create(run_in_tm)  # the worker runs tasks at once in tests (huey immediate)
    assert stored(run_in_tm) == [("embed-a", 96), ("embed-a", 96)]
    inputs = [text for body in fake_server.bodies("/api/embed") for text in body["input"]]
    assert any(text.startswith("Bicycle repairs\n") for text in inputs)

    # A model change: the next run replaces every vector with the new model's.
    embedding_provider("embed-b")
    assert run_in_tm(tasks.embed_now) == 2
    assert stored(run_in_tm) == [("embed-b", 96), ("embed-b", 96)]
    assert run_in_tm(tasks.embed_now) == 0  # nothing left to do: idempotent


def test_search_fuses_the_nearest_passages_and_survives_a_failing_provider(
    embedding_provider, run_in_tm, fake_server
):
    create(run_in_tm)
    calls = len(fake_server.bodies("/api/embed"))
    passages = run_in_tm(lambda db: search.search(db, "Do you fix bicycles?"))
    assert passages[0].title == "Bicycle repairs"
    query = fake_server.bodies("/api/embed")[calls:]
    assert query == [{"model": "embed-a", "input": ["Do you fix bicycles?"]}] or (
        query[0]["input"] == ["Do you fix bicycles?"]
    )

    lexical = run_in_tm(lambda db: search.search(db, "Do you fix bicycles?", embedder=None))
    fake_server.scenario = "500"
    failing = run_in_tm(lambda db: search.search(db, "Do you fix bicycles?"))
    assert [(p.title, p.answerable) for p in failing] == [(p.title, p.answerable) for p in lexical]


def test_without_an_embedding_model_retrieval_is_lexical(run_in_tm, fake_server):
    create(run_in_tm)
    assert run_in_tm(embeddings.embedder_for) is None
    assert stored(run_in_tm) == []
    assert run_in_tm(lambda db: search.search(db, "repairs"))[0].title == "Bicycle repairs"
    assert fake_server.bodies("/api/embed") == []


def test_vectors_round_trip_as_little_endian_float32():
    unit = embeddings.normalised([3.0, 4.0])
    assert list(embeddings.unpack(embeddings.pack(unit))) == pytest.approx([0.6, 0.8])
    assert embeddings.pack(unit)[:4] == bytes.fromhex("9a99193f")  # 0.6f, little-endian


def embedding_usage(run_in_tm):
    from asthron.assistant.models import UsageRecord

    return run_in_tm(
        lambda db: [
            (u.provider, u.model, u.input_tokens, u.success, u.error_kind)
            for u in db.scalars(
                sa.select(UsageRecord)
                .where(UsageRecord.purpose == "embedding")
                .order_by(UsageRecord.id)
            )
        ]
    )


def test_every_embedding_call_is_metered_with_the_tokens_the_provider_counted(
    embedding_provider, run_in_tm, fake_server
):
    create(run_in_tm)  # the articles are embedded in the background, in one batch
    words = sum(len(f"{t}\n{b}".split()) for t, b in ARTICLES)  # what the fake counts
    assert embedding_usage(run_in_tm) == [("ollama", "embed-a", words, True, None)]

    run_in_tm(lambda db: search.search(db, "Do you fix bicycles?"))
    assert embedding_usage(run_in_tm)[-1] == ("ollama", "embed-a", 4, True, None)

    # A failing call is metered too (no tokens), and the search still answers by its words.
    fake_server.scenario = "500"
    assert run_in_tm(lambda db: search.search(db, "Do you fix bicycles?"))
    provider, model, tokens, success, error_kind = embedding_usage(run_in_tm)[-1]
    assert (tokens, success) == (0, False) and error_kind


def test_past_the_monthly_budget_retrieval_is_lexical(embedding_provider, run_in_tm, fake_server):
    import datetime as dt
    from decimal import Decimal

    from asthron.assistant.models import AssistantProfile, UsageRecord

    create(run_in_tm)
    assert run_in_tm(embeddings.embedder_for) is not None

    def spend(db):
        profile = db.get(AssistantProfile, 1) or AssistantProfile(id=1)
        profile.monthly_budget = Decimal("1.00")
        db.add(profile)
        db.add(
            UsageRecord(
                provider="ollama",
                model="chat-test",
                purpose="reply",
                input_tokens=1,
                output_tokens=1,
                latency_ms=1,
                cost=Decimal("1.50"),
                success=True,
                created_at=dt.datetime.now(dt.UTC),
            )
        )

    run_in_tm(spend)
    assert run_in_tm(embeddings.embedder_for) is None
    calls = len(fake_server.bodies("/api/embed"))
    assert run_in_tm(lambda db: search.search(db, "Do you fix bicycles?"))[0].title == (
        "Bicycle repairs"
    )
    assert len(fake_server.bodies("/api/embed")) == calls  # no paid call past the budget


def test_a_provider_failing_partway_keeps_what_was_embedded_and_metered(
    run_in_tm, fake_server, monkeypatch
):
    """The run stops at the failed call, but the batch before it stays stored and both calls
    are metered: raising rolled the task's whole transaction back, losing both."""
    create(run_in_tm)  # no embedding model yet: nothing is embedded
    assert stored(run_in_tm) == []
    monkeypatch.setattr(embeddings, "BATCH", 1)  # one passage per call: two calls

    def once_then_down(texts, model):
        fake_server.scenario = "500"  # every later request fails
        return [fake_embedding(t, model) for t in texts]

    fake_server.embed_texts = once_then_down

    # Configured after the articles, so the first run is this test's own.
    def configure(db):
        row = ProviderConfig(slot="primary", kind="ollama", base_url=fake_server.url)
        row.model, row.embedding_model = "chat-test", "embed-a"
        db.add(row)

    run_in_tm(configure)
    assert run_in_tm(tasks.embed_now) == 1
    assert stored(run_in_tm) == [("embed-a", 96)]
    metered = [
        (success, bool(error_kind)) for *_, success, error_kind in embedding_usage(run_in_tm)
    ]
    assert metered == [(True, False), (False, True)]

    # The provider is back: the next run embeds only what is still pending.
    fake_server.scenario, fake_server.embed_texts = "normal", None
    assert run_in_tm(tasks.embed_now) == 1
    assert stored(run_in_tm) == [("embed-a", 96), ("embed-a", 96)]
    assert run_in_tm(tasks.embed_now) == 0


class UnmeterableEmbedder:
    """The fake's vectors, and a metering that fails in the database (a count too big for
    the usage column), as a provider's unchecked token count once made it."""

    name = "test|embed-a"

    def embed(self, texts):
        return [fake_embedding(text, "embed-a") for text in texts]

    def record_usage(self, db):
        from asthron.assistant.models import UsageRecord

        db.add(UsageRecord(provider="ollama", model="embed-a", purpose="embedding"))
        db.flush()
        db.execute(sa.update(UsageRecord).values(input_tokens=2**64))


def test_a_metering_failure_fails_neither_the_search_nor_the_background_run(run_in_tm):
    from asthron.assistant.models import UsageRecord

    create(run_in_tm)
    embedder = UnmeterableEmbedder()
    assert run_in_tm(lambda db: embeddings.embed_pending(db, embedder)) == len(ARTICLES)

    def ask(db):
        passages = search.search(db, "Do you fix bicycles?", embedder=embedder)
        # The same transaction goes on: the failed metering was rolled back to a savepoint.
        return passages[0].title, db.scalar(sa.select(sa.func.count(UsageRecord.id)))

    assert run_in_tm(ask) == ("Bicycle repairs", 0)
    assert stored(run_in_tm) == [("embed-a", 96), ("embed-a", 96)]


@pytest.mark.parametrize("scenario", ["drip", "drip_headers"])
def test_a_dripping_embedding_provider_leaves_the_question_to_the_words(
    embedding_provider, run_in_tm, fake_server, monkeypatch, scenario
):
    create(run_in_tm)
    question = "Do you fix bicycles?"
    lexical = run_in_tm(lambda db: search.search(db, question, embedder=None))
    monkeypatch.setattr(assistant_embeddings, "QUERY_TIMEOUTS", SHORT)
    fake_server.scenario, fake_server.chunk_delay = scenario, DRIP
    started = time.monotonic()
    dripped = run_in_tm(lambda db: search.search(db, question))
    assert time.monotonic() - started < drip_seconds(question) / 4
    assert [(p.title, p.answerable) for p in dripped] == [(p.title, p.answerable) for p in lexical]
    assert embedding_usage(run_in_tm)[-1][2:] == (0, False, "timeout")


def test_with_a_long_base_url_a_change_of_model_still_embeds_again(run_in_tm, fake_server):
    """The embedder's name was cut to its column's 400 characters: behind a long base URL the
    model fell off the end, a new model kept the old name and nothing was embedded again."""
    assert assistant_embeddings.vector_space_name("ollama", "http://h", "m") == "ollama|http://h|m"
    fake_server.path_prefix = "/" + "p" * (499 - len(fake_server.url))
    base_url = fake_server.url + fake_server.path_prefix  # 500 characters, the most allowed

    def configure(model):
        def save(db):
            row = db.scalar(sa.select(ProviderConfig).where(ProviderConfig.slot == "primary"))
            if row is None:
                row = ProviderConfig(slot="primary", kind="ollama", base_url=base_url)
                row.model = "chat-test"
                db.add(row)
            row.embedding_model = model

        run_in_tm(save)

    configure("all-minilm:l6-v2")
    create(run_in_tm)
    assert stored(run_in_tm) == [("all-minilm:l6-v2", 96), ("all-minilm:l6-v2", 96)]
    name = run_in_tm(lambda db: embeddings.embedder_for(db).name)
    assert len(name) <= embeddings.NAME_LENGTH
    assert ranking.dense_model_for(name) is MINILM  # the model is still read from the name

    configure("embed-b")
    assert run_in_tm(lambda db: embeddings.embedder_for(db).name) != name
    assert run_in_tm(tasks.embed_now) == 2
    assert stored(run_in_tm) == [("embed-b", 96), ("embed-b", 96)]
    assert run_in_tm(lambda db: search.search(db, "Do you fix bicycles?"))[0].title == (
        "Bicycle repairs"
    )
    question = fake_server.bodies("/api/embed")[-1]
    assert (question["model"], question["input"]) == ("embed-b", ["Do you fix bicycles?"])


def test_a_model_swapped_under_the_same_name_is_embedded_again(
    embedding_provider, run_in_tm, fake_server, caplog
):
    """Another model pulled under the same tag makes vectors of another size: the stored ones
    could never be compared again, and nothing recomputed them (only passages without a
    vector are pending), so dense retrieval stayed off for good."""
    create(run_in_tm)
    assert stored(run_in_tm) == [("embed-a", 96), ("embed-a", 96)]
    fake_server.embed_texts = lambda texts, model: [fake_embedding(t, model, 128) for t in texts]
    assert run_in_tm(tasks.embed_now) == 0  # every passage has a vector under the name

    with caplog.at_level(logging.WARNING, logger="asthron.knowledge.embeddings"):
        passages = run_in_tm(lambda db: search.search(db, "Do you fix bicycles?"))
    assert passages[0].title == "Bicycle repairs"  # the words answer meanwhile
    assert "128 dimensions: 2 stored of another size deleted" in caplog.text
    assert stored(run_in_tm) == []

    assert run_in_tm(tasks.embed_now) == 2  # the next background run
    assert stored(run_in_tm) == [("embed-a", 128), ("embed-a", 128)]
    nearest = run_in_tm(
        lambda db: embeddings.nearest_chunks(
            db, embeddings.embedder_for(db), "Do you fix bicycles?", 8
        )
    )
    assert len(nearest) == 2


def test_only_the_latest_indexes_of_a_database_are_kept_after_edits(
    embedding_provider, run_in_tm, fake_server
):
    """Indexes were cached by fingerprint, so each edit left the one before in memory though
    it could never be used again (a lexical index of 5,000 passages is about 200 MB)."""
    ids = create(run_in_tm)
    lexical, vectors = [], []
    for edit in ("anodising", "brazing", "chroming"):

        def rewrite(db, edit=edit):
            article = db.get(Article, ids[1])
            body = f"We repair all kinds of bicycles, {edit} included, in our workshop."
            kb.update_article(db, Actor.cli(), article, kb.ArticleInput(article.title, body, []))

        run_in_tm(rewrite)  # embedded again at once (huey immediate)
        passages = run_in_tm(lambda db, edit=edit: search.search(db, f"Do you do {edit}?"))
        assert edit in passages[0].text
        # Weak references: only the caches keep the indexes alive.
        lexical.append(weakref.ref(run_in_tm(search.index_for)))
        vectors.append(
            weakref.ref(
                run_in_tm(lambda db: embeddings._vector_index(db, embeddings.embedder_for(db).name))
            )
        )
    gc.collect()
    assert [index() is not None for index in lexical] == [False, False, True]
    assert [index() is not None for index in vectors] == [False, False, True]

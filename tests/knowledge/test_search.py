"""The retrieval contract, identical on SQLite FTS5 and PostgreSQL tsvector."""

import pytest

from asthron.audit.service import Actor
from asthron.knowledge import service
from asthron.knowledge.search import answerable, search, terms

ARTICLES = [
    (
        "Opening hours",
        "# Opening hours\n\nWe are open Monday to Friday from 9:00 to 17:00.\n\n"
        "## Holidays\n\nWe close on public holidays and between Christmas and New Year.",
    ),
    (
        "Delivery",
        "We deliver anywhere in the city within two working days. Delivery is free "
        "for orders over 50 euros.",
    ),
    ("Returns", "You can return unused items within 30 days for a full refund."),
]


@pytest.fixture
def articles(run_in_tm):
    def create(db):
        return [
            service.create_article(db, Actor.cli(), service.ArticleInput(t, b, ["faq"])).id
            for t, b in ARTICLES
        ]

    return run_in_tm(create)


def test_best_passage_first(articles, run_in_tm):
    passages = run_in_tm(lambda db: search(db, "When are you open on Monday?"))
    assert passages
    assert passages[0].title == "Opening hours"


def test_stemming_and_heading_match(articles, run_in_tm):
    passages = run_in_tm(lambda db: search(db, "holiday closing"))
    assert passages[0].heading == "Holidays"


def test_no_match_and_stop_words_only(articles, run_in_tm):
    assert run_in_tm(lambda db: search(db, "quantum chromodynamics")) == []
    assert run_in_tm(lambda db: search(db, "what are you")) == []


def test_hostile_query_syntax_is_data(articles, run_in_tm):
    for query in [
        '"unterminated',
        "NEAR(delivery returns)",
        "delivery*) OR (",
        "'; DROP TABLE articles; --",
        "a:b -c ^d",
    ]:
        run_in_tm(lambda db, q=query: search(db, q))
    assert run_in_tm(lambda db: search(db, 'delivery") OR ("x'))[0].title == "Delivery"


def test_unpublished_articles_are_not_retrieved(articles, run_in_tm):
    from asthron.knowledge.models import Article

    def unpublish(db):
        article = db.get(Article, articles[1])
        service.update_article(
            db,
            Actor.cli(),
            article,
            service.ArticleInput(article.title, article.body, [], published=False),
        )

    run_in_tm(unpublish)
    assert all(p.title != "Delivery" for p in run_in_tm(lambda db: search(db, "delivery")))


def test_update_reindexes_and_delete_unindexes(articles, run_in_tm):
    from asthron.knowledge.models import Article

    def rewrite(db):
        article = db.get(Article, articles[2])
        service.update_article(
            db,
            Actor.cli(),
            article,
            service.ArticleInput("Returns", "Exchanges are possible within fourteen days.", []),
        )

    run_in_tm(rewrite)
    assert run_in_tm(lambda db: search(db, "unused")) == []
    assert run_in_tm(lambda db: search(db, "exchanges"))[0].title == "Returns"
    run_in_tm(lambda db: service.delete_article(db, Actor.cli(), db.get(Article, articles[2])))
    assert run_in_tm(lambda db: search(db, "exchanges")) == []


def test_invalid_articles_are_refused(run_in_tm):
    for title, body in [("", "text"), ("x" * 201, "text"), ("Title", "   ")]:
        with pytest.raises(service.KnowledgeError):
            run_in_tm(
                lambda db, t=title, b=body: service.create_article(
                    db, Actor.cli(), service.ArticleInput(t, b, [])
                )
            )


def test_terms_drop_stop_words_and_dedupe():
    assert terms("What are your OPENING hours, hours?") == ["opening", "hours"]


def test_prefix_matching_finds_word_forms(articles, run_in_tm):
    assert run_in_tm(lambda db: search(db, "when do you deliver?"))[0].title == "Delivery"
    assert run_in_tm(lambda db: search(db, "refunded"))[0].title == "Returns"


def test_typos_and_run_together_words_are_tolerated(articles, run_in_tm):
    assert run_in_tm(lambda db: search(db, "do you delivr?"))[0].title == "Delivery"
    assert run_in_tm(lambda db: search(db, "openign hours"))[0].title == "Opening hours"


def test_owner_synonyms_come_from_an_article_tagged_synonyms(articles, run_in_tm):
    assert not [p for p in run_in_tm(lambda db: search(db, "dispatch")) if p.answerable]

    def add(db):
        data = service.ArticleInput(
            "Synonyms", "dispatch, deliver\n# a comment\nrefund", ["synonyms"], published=False
        )
        service.create_article(db, Actor.cli(), data)

    run_in_tm(add)
    passages = run_in_tm(lambda db: search(db, "how fast do you dispatch?"))
    assert passages[0].title == "Delivery" and passages[0].answerable
    assert all(p.title != "Synonyms" for p in run_in_tm(lambda db: search(db, "comment")))


def test_near_misses_are_not_answerable(articles, run_in_tm):
    passages = run_in_tm(lambda db: search(db, "Do you deliver pianos and harpsichords?"))
    assert passages and not answerable(passages)
    passages = run_in_tm(lambda db: search(db, "Do you deliver in the city?"))
    assert answerable(passages)[0].title == "Delivery"


def test_the_answering_sentences_are_picked():
    from asthron.knowledge import ranking

    doc = ranking.make_doc(
        1, 1, "Delivery", "", "We are a family business. Delivery is free over 50 euros."
    )
    ranked, ok = ranking.Index([doc]).rank("is delivery free?")
    assert ok and ranked[0].quote == ("Delivery is free over 50 euros.",)


def test_what_an_apostrophe_leaves_of_a_contraction_is_not_a_question_word():
    from asthron.knowledge import ranking

    # The articles say "we've" and "you'll": as words of their own, "ve" and "ll" matched them.
    doc = ranking.make_doc(1, 1, "Parking", "", "We've a car park. You'll find it behind us.")
    index = ranking.Index([doc])
    slots = index.slots("I've lost my receipt, you're sure you'll reprint it? We'd like that")
    assert [slot.word for slot in slots] == ["lost", "receipt", "sure", "reprint"]
    ranked, _ = index.rank("I've a question you'll answer")
    assert ranked == []

"""A message asking two things gets both answered: each part's best article, judged on that
part alone, is quoted beside the first (``ranking.question_parts``, ``Passage.answers_part``,
``BuiltinProvider.quoted``)."""

from __future__ import annotations

import pytest

from asthron.assistant.providers.builtin import DONT_KNOW, MAX_QUOTED, BuiltinProvider, Grounding
from asthron.audit.service import Actor
from asthron.knowledge import ranking, search
from asthron.knowledge import service as kb
from asthron.knowledge.search import Passage

ARTICLES = [
    (
        "Membership prices",
        "Gym Only membership is £32 per month, or £320 a year. Full membership with classes "
        "is £45 per month. Students pay £25 per month with a valid card. Every membership "
        "includes a free gym induction.",
    ),
    (
        "Gym induction",
        "Every new member books a free 45-minute induction before using the gym floor on "
        "their own. A trainer shows you the machines and sets you a first programme.",
    ),
    (
        "Opening hours",
        "We open at 6am on weekdays and at 8am on Saturdays and Sundays. We close at 10pm.",
    ),
    (
        "Finding us and parking",
        "We are on Mill Lane, two minutes from the station. There is free parking for "
        "members behind the building.",
    ),
    ("Lost property", "Anything left behind is kept at reception for two weeks."),
]


@pytest.fixture
def articles(run_in_tm):
    def create(db):
        return {
            title: kb.create_article(db, Actor.cli(), kb.ArticleInput(title, body, [])).id
            for title, body in ARTICLES
        }

    return run_in_tm(create)


def _reply(run_in_tm, question: str) -> tuple[list[Passage], list[Passage], str]:
    def ask(db):
        passages = search.search(db, question, embedder=None)
        grounding = Grounding(question=question, passages=passages)
        provider = BuiltinProvider()
        return passages, provider.quoted(grounding), provider.compose(grounding)

    return run_in_tm(ask)


def test_both_parts_of_a_two_part_question_are_answered(run_in_tm, articles):
    passages, quoted, reply = _reply(
        run_in_tm, "How much is Gym Only per month, and do I have to do an induction first?"
    )
    parts = {p.title for p in passages if p.answers_part}
    assert parts == {"Membership prices", "Gym induction"}
    assert [p.title for p in quoted] == ["Membership prices", "Gym induction"]
    assert "£32 per month" in reply
    assert "free 45-minute induction" in reply


def test_a_part_nothing_answers_gets_no_article(run_in_tm, articles):
    passages, _, _ = _reply(
        run_in_tm, "What time do you open on Saturdays? And do you sell protein shakes?"
    )
    # The first part is answered by its article; the second's best match answers nothing of
    # it ("protein shakes" are in no article), so no article stands for it.
    assert {p.title for p in passages if p.answers_part} == {"Opening hours"}


def test_a_single_question_quotes_as_before(run_in_tm, articles):
    passages, quoted, _ = _reply(run_in_tm, "Is there free parking for members?")
    assert not any(p.answers_part for p in passages)
    assert [p.title for p in quoted] == ["Finding us and parking"]


def test_the_reply_quotes_at_most_three_articles():
    def passages(answerable: bool) -> list[Passage]:
        return [
            Passage(i, i, f"Article {i}", "", "Text.", 10.0 - i, 0.5, (), answerable,
                    frozenset(), answers_part=True)
            for i in range(1, 6)
        ]  # fmt: skip

    provider = BuiltinProvider()
    quoted = provider.quoted(Grounding(question="q", passages=passages(True)))
    assert [p.title for p in quoted] == ["Article 1", "Article 2", "Article 3"]
    assert MAX_QUOTED == 3
    assert provider.quoted(Grounding(question="q", passages=passages(False))) == []


def test_in_an_article_of_several_sections_the_section_answering_the_part_is_quoted(
    run_in_tm,
):
    body = (
        "## Opening hours\n\nWe open at 8am on Sundays and at 6am on weekdays.\n\n"
        "## Monthly socials\n\nGym Only members pay £5 per social; the socials are on the "
        "first Friday of every month."
    )

    def create(db):
        for title, text in [("Club guide", body), *ARTICLES[:2]]:
            kb.create_article(db, Actor.cli(), kb.ArticleInput(title, text, []))

    run_in_tm(create)
    passages, quoted, reply = _reply(
        run_in_tm, "How much is Gym Only per month, and what time do you open on Sundays?"
    )
    assert ("Club guide", "Opening hours") in {
        (p.title, p.heading) for p in passages if p.answers_part
    }
    assert ("Club guide", "Opening hours") in {(p.title, p.heading) for p in quoted}
    assert "8am on Sundays" in reply


def test_a_message_whose_parts_are_each_answered_is_answered(run_in_tm, articles):
    question = "When do you open on Sunday mornings, and where can members park the car?"
    # Judged whole, no article holds enough of the message: each holds half of it.
    _, features = run_in_tm(lambda db: search.index_for(db).lead_features(question))
    assert not ranking.answered(ranking.ANSWERABILITY_MODEL, features)
    # Each part, judged on its own, is answered by an article shown: the message is answered.
    _, quoted, reply = _reply(run_in_tm, question)
    assert {p.title for p in quoted} == {"Opening hours", "Finding us and parking"}
    assert "8am on Saturdays and Sundays" in reply
    assert "free parking" in reply


def test_a_message_with_a_part_nothing_answers_is_still_judged_whole(run_in_tm, articles):
    # The first part is answered on its own, the second by no article: judged whole, the
    # message is declined, as it was before parts were judged.
    _, quoted, reply = _reply(
        run_in_tm, "When do you open on Sundays, and can I bring my pet iguana?"
    )
    assert quoted == []
    assert reply == DONT_KNOW

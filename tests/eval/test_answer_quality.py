"""Answer quality (issue #15) on the evaluation set, through the real retrieval and the
built-in reply, on SQLite: a regression in retrieval or answerability fails here."""

import pytest

from bench import answers


@pytest.fixture(scope="module")
def report():
    return answers.evaluate("sqlite", {"asthron": answers.asthron_system})["asthron"]


def test_the_set_is_what_the_issue_asks_for():
    businesses = answers.businesses()
    assert len(businesses) >= 3
    assert all(len(b["articles"]) >= 40 for b in businesses)
    questions = [q for b in businesses for q in b["questions"]]
    kinds = {q["kind"] for q in questions}
    assert kinds == set(answers.KINDS)
    assert sum(q["kind"] != "unanswerable" for q in questions) >= 150
    assert sum(q["kind"] == "unanswerable" for q in questions) >= 20


def test_right_article_first(report):
    total = report.answerable()
    assert total.rate("hit1") >= answers.GOALS["hit1"], report.misses


def test_right_article_in_the_top_three(report):
    assert report.answerable().rate("hit3") >= answers.GOALS["hit3"], report.misses


def test_says_it_does_not_know_when_nothing_answers(report):
    unanswerable = report.by_kind["unanswerable"]
    assert unanswerable.rate("abstain") >= answers.GOALS["abstain"], report.misses


def test_every_kind_beats_a_floor(report):
    for kind, tally in report.by_kind.items():
        if kind != "unanswerable":
            assert tally.rate("hit1") >= 0.6, (kind, report.misses)

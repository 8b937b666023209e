"""Ranking (knowledge/ranking.py): what an article is titled counts beside what its body says."""

import pytest

from asthron.knowledge import ranking


def index(*articles):
    docs = [ranking.make_doc(i, i, title, "", body) for i, (title, body) in enumerate(articles, 1)]
    return ranking.Index(docs, ranking.synonym_groups())


SALON = (
    (
        "Cancelling or changing your appointment",
        "Please give us at least 24 hours' notice if you need to cancel or move a booking, by "
        "phone or online. Appointments cancelled with less notice may lose their deposit.",
    ),
    (
        "Running late?",
        "If you are more than 15 minutes late we may have to shorten your treatment or rebook "
        "it. Arriving more than 15 minutes late counts as a late cancellation under our "
        "cancellation policy, and the policy's fee applies.",
    ),
    ("Deposits", "New clients pay a 20 pound deposit when booking, taken off the bill."),
)


@pytest.mark.parametrize(
    "question", ["What is your cancellation policy?", "what's the policy if I cancel?"]
)
def test_the_article_titled_for_the_question_comes_before_one_using_its_words_in_passing(
    question,
):
    # The body of "Running late?" says "cancellation policy" twice, in passing; the article
    # about cancelling says neither word in its body, but is titled for it.
    ranked, answerable = index(*SALON).rank(question)
    assert [r.doc.title for r in ranked[:2]] == [
        "Cancelling or changing your appointment",
        "Running late?",
    ]
    assert answerable


def test_a_title_alone_does_not_outrank_the_article_that_answers():
    # "Deposits" is titled with one word of the question; the body of the booking terms
    # answers all of it. (Weighed ten times as much, the title would win.)
    terms = index(
        (
            "Our booking terms",
            "If you cancel with less than 24 hours' notice you lose your deposit. Moving a "
            "booking is free with a day's notice.",
        ),
        ("Deposits", "New clients pay a 20 pound deposit when booking, taken off the bill."),
        ("Gift vouchers", "Vouchers are sold in the salon and online."),
    )
    ranked, _ = terms.rank("Will I lose my deposit if I cancel late?")
    assert ranked[0].doc.title == "Our booking terms"

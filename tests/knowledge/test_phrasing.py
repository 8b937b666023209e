"""Visitors' phrasings (knowledge/phrasing.py): a phrase such as "spread the cost" or "leave
my car" is one term of the question, matched by the words articles use for it."""

import pytest

from asthron.knowledge import phrasing, ranking


def index(*articles):
    docs = [ranking.make_doc(i, i, title, "", body) for i, (title, body) in enumerate(articles, 1)]
    return ranking.Index(docs, ranking.synonym_groups())


SHOP = (
    (
        "Finance",
        "Bikes over 500 pounds can be paid in 12 monthly instalments at 0% interest.",
    ),
    (
        "Warranty on new bikes",
        "Every new bike has a two-year warranty; the frame is covered for 5 years. The cost "
        "of parts that wear out is not covered.",
    ),
    (
        "Finding us",
        "We are at 14 Canal Street. There are two customer parking spaces behind the shop.",
    ),
    (
        "Second-hand bikes",
        "Leave your old bike with us when you visit and we sell it on for you.",
    ),
    ("Careers", "We have no vacancies for mechanics at the moment; send us your CV."),
)


@pytest.mark.parametrize(
    ("question", "title"),
    [
        ("Can I spread the cost of a new bike over several months?", "Finance"),
        ("Is there anywhere to leave the car?", "Finding us"),
        ("are u hiring mechanics?", "Careers"),
    ],
)
def test_a_visitors_phrase_finds_the_article_that_names_it(question, title):
    shop = index(*SHOP)
    ranked, answerable = shop.rank(question)
    assert ranked[0].doc.title == title
    assert answerable


def test_the_phrase_is_one_term_matched_by_the_articles_words():
    shop = index(*SHOP)
    slots = {slot.word: slot for slot in shop.slots("Can I spread the cost?")}
    # One term, not "spread" and "cost", which the warranty article says.
    assert list(slots) == ["spread the cost"]
    assert set(slots["spread the cost"].alternatives) == {"financ", "instalment"}


def test_a_phrase_the_articles_have_no_word_for_counts_by_its_own_words():
    # No article says "pregnant" or "pregnancy": "expecting a baby" is read word by word,
    # as it would be without the phrase list, and the missing words still count against
    # answerability.
    shop = index(*SHOP)
    words = [slot.word for slot in shop.slots("Can I ride while expecting a baby?")]
    assert "expecting a baby" not in words
    assert {"ride", "expecting", "baby"} <= set(words)
    assert not shop.rank("Can I ride while expecting a baby?")[1]


def test_instalments_no_longer_match_installation():
    # Snowball stems both to "instal"; a question about paying in instalments found the
    # boiler installation article.
    assert ranking.stem("instalments") != ranking.stem("installation")
    assert ranking.stem("instalments") == ranking.stem("installment")
    firm = index(
        ("New boiler installation", "Installation of a new boiler takes one day."),
        ("Spreading the cost", "Pay for a new boiler in monthly instalments through finance."),
    )
    ranked, _ = firm.rank("Is it possible to pay for a new boiler in instalments?")
    assert ranked[0].doc.title == "Spreading the cost"


def test_a_stop_word_typed_with_two_letters_swapped_is_not_a_missing_word():
    shop = index(*SHOP)
    assert [slot.word for slot in shop.slots("do yuo have parking")] == ["parking"]
    # A word the articles use is never taken for a typo.
    known = index(("Teh tea", "Teh tarik is pulled milk tea."))
    assert "teh" in [slot.word for slot in known.slots("do you serve teh tarik")]


def test_a_phrase_is_found_as_written_and_taken_out():
    examples = {
        "what time do you shut on weekdays": "what time do you shut",
        "can i pay it off monthly": "pay it off",
        "whats the best way to get in tuch": "get in tuch",
        "what happens if I don't turn up": "i don't turn up",
        "what happens if I just don\u2019t   turn up": "i just don't turn up",
        "is it ok while I'm expecting a baby": "expecting a baby",
        "how far in advance should I book": "how far in advance",
        "is the building ok for wheelchair users": "wheelchair users",
    }
    for question, phrase in examples.items():
        plain, found = phrasing.read_phrases(question)
        assert phrase in [p.text for p in found], question
        assert phrase not in phrasing.without(plain, found)


@pytest.mark.parametrize(
    "question",
    [
        "Does Tuesday work for you?",
        "I need someone to fix my boiler",
        "Are you hiring out vans?",
        "Can we split the bill?",
        "My 3-year-old iPhone won't charge",
        "Terrific, thanks!",
        "Do you do dreads?",
        "Free delivery on orders over 60?",
        "My parcel didn't turn up",
        "Can I order without knowing my ring size?",
    ],
)
def test_a_phrase_with_another_meaning_is_not_read_as_one(question):
    _, found = phrasing.read_phrases(question)
    assert found == [], [p.text for p in found]


def test_a_phrase_counts_once_with_the_words_it_stands_for():
    shop = index(*SHOP)
    slots = shop.slots("Do you offer finance? Can I spread the cost or pay monthly?")
    assert [slot.word for slot in slots] == ["spread the cost", "offer"]


def test_a_phrase_is_matched_by_its_words_not_by_longer_ones():
    # "in agony" means pain; an article about a painter is not about pain.
    firm = index(
        ("Our painters", "Our painter decorates rooms."),
        ("Emergencies", "Tooth pain at night? Ring the emergency line."),
    )
    (slot,) = [s for s in firm.slots("I'm in agony") if s.word == "in agony"]
    assert set(slot.alternatives) == {ranking.stem("pain"), ranking.stem("emergency")}


def test_a_phrase_read_word_by_word_stays_where_it_was():
    # No article says "pregnant": the phrase's words go back in place, so "how much" still
    # reads as a price and nothing is joined across the gap.
    shop = index(("Prices", "Our price list for bikes."), *SHOP)
    words = [slot.word for slot in shop.slots("how much is it if I'm expecting a baby")]
    assert words[0] == "price" and {"expecting", "baby"} <= set(words)


def test_hostile_and_oversized_questions_are_read_whole():
    # Long runs of what the patterns repeat ("up", spaces, "a") must not make them backtrack
    # for ever; every phrase is found, and the words between are left as they were.
    question = "what if I don't turn up " * 300 + "a " * 5000 + "without " + "x " * 5000
    plain, found = phrasing.read_phrases(question)
    assert [p.text for p in found] == ["i don't turn up"] * 300
    rest = phrasing.without(plain, found)
    assert rest.count("what if") == 300 and rest.count("x ") == 5000
    assert "turn up" not in rest
    index(*SHOP).rank(question)  # and the ranking reads it too

import pytest

from asthron.leads import qualification as q
from asthron.leads.models import QualificationQuestion


def question(kind, options=()):
    return QualificationQuestion(key="k", text="?", kind=kind, options=list(options))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("about 5000", 5000),
        ("$5,000", 5000),
        ("5k", 5000),
        ("2.5 million", 2_500_000),
        ("around 7.000 euros", 7000),
        ("no idea", None),
        ("", None),
    ],
)
def test_number_answers(text, expected):
    assert q.parse_answer(question("number"), text) == expected


def test_choice_answers_match_one_option_only():
    timeline = question("single", ["within a month", "1-3 months", "later"])
    assert q.parse_answer(timeline, "Probably 1-3 months from now") == "1-3 months"
    assert q.parse_answer(timeline, "not sure") is None
    services = question("multi", ["Design", "SEO", "Hosting"])
    assert q.parse_answer(services, "design and hosting please") == ["Design", "Hosting"]


def test_date_answers():
    assert q.parse_answer(question("date"), "2027-03-01") == "2027-03-01"
    assert q.parse_answer(question("date"), "01/03/2027") == "2027-03-01"
    assert q.parse_answer(question("date"), "soon") is None


def test_rules_all_must_hold():
    rules = q.validate_rules(
        [
            {"question": "budget", "op": ">=", "value": 5000},
            {"question": "timeline", "op": "in", "value": ["within a month", "1-3 months"]},
        ]
    )
    assert q.is_qualified(rules, {"budget": 8000, "timeline": "1-3 months"})
    assert not q.is_qualified(rules, {"budget": 8000, "timeline": "later"})
    assert not q.is_qualified(rules, {"budget": 100, "timeline": "1-3 months"})
    assert not q.is_qualified(rules, {"timeline": "1-3 months"})  # unanswered never qualifies
    assert not q.is_qualified([], {"budget": 1})


@pytest.mark.parametrize(
    "bad", [None, "x", [{"question": "b", "op": "~", "value": 1}], [{"op": ">="}]]
)
def test_bad_rules_are_refused(bad):
    with pytest.raises(q.QualificationError):
        q.validate_rules(bad)


def test_structured_values_are_validated():
    with pytest.raises(q.QualificationError):
        q.validate_value(question("single", ["a", "b"]), "c")
    with pytest.raises(q.QualificationError):
        q.validate_value(question("number"), True)
    assert q.validate_value(question("multi", ["a", "b"]), ["a"]) == ["a"]

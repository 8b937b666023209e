"""The held-out sets (tests/eval/heldout: three trades retrieval was not developed on, written
blind), through the real retrieval and the built-in reply on SQLite.

Their figures are BELOW the issue's goals (docs/benchmarks.md, "Held-out sets"): these floors
only keep them from getting worse. They are not goals, and the sets must never be used to tune
word lists, weights or the answerability model (their README says why)."""

import pytest

from bench import answers

# Measured on 2026-12-07: hit@1 0.64, hit@3 0.83, near misses declined 0.81
# (goals 0.85 / 0.95 / 0.80).
FLOORS = {"hit1": 0.60, "hit3": 0.80, "abstain": 0.75}


@pytest.fixture(scope="module")
def report():
    systems = {"asthron": answers.asthron_system}
    return answers.evaluate("sqlite", systems, data=answers.HELDOUT)["asthron"]


def test_the_held_out_sets_are_what_the_brief_asks_for():
    held_out = answers.businesses(answers.HELDOUT)
    development = {b["trade"] for b in answers.businesses()}
    assert len(held_out) >= 3
    assert not {b["trade"] for b in held_out} & development
    for business in held_out:
        assert len(business["articles"]) >= 40
        questions = business["questions"]
        assert {q["kind"] for q in questions} == set(answers.KINDS)
        assert sum(q["kind"] != "unanswerable" for q in questions) >= 50
        assert sum(q["kind"] == "unanswerable" for q in questions) >= 10
        ids = {a["id"] for a in business["articles"]}
        assert all(set(q["answers"]) <= ids for q in questions)


def test_held_out_figures_do_not_regress(report):
    # Totals only: the per-question misses of a held-out set are never printed (README).
    total = report.answerable()
    assert total.rate("hit1") >= FLOORS["hit1"]
    assert total.rate("hit3") >= FLOORS["hit3"]
    assert report.by_kind["unanswerable"].rate("abstain") >= FLOORS["abstain"]

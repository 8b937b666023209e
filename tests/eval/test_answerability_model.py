"""The answerability model (asthron/knowledge/data/answerability.json) is exactly what
scripts/calibrate-answerability fits from the committed development sets, so it can be
reproduced and reviewed, and it never reads the held-out sets."""

import json

import pytest

from asthron.knowledge import ranking
from bench import answerability, answers


def test_the_committed_model_is_what_the_development_sets_fit():
    committed = json.loads(answerability.MODEL_PATH.read_text())
    committed.pop("with_embeddings")
    assert answerability.calibrate_rule(answerability.collect()) == committed


def test_the_model_for_embeddings_is_what_the_development_sets_fit():
    # Needs the real embedding model (the bench-embeddings extra: torch, far too heavy for
    # the default install); without it, the lexical model above is what is checked.
    real = answers.load_real_model()
    if isinstance(real, str):
        pytest.skip(real)
    committed = json.loads(answerability.MODEL_PATH.read_text())
    fitted, note = answerability.fit_all(committed)
    assert "refitted" in note
    assert fitted["with_embeddings"] == committed["with_embeddings"]


def test_it_reads_the_features_ranking_computes():
    model = ranking.ANSWERABILITY_MODEL
    assert 0 < model["window"] < 1 and 0 < model["coverage"] < 1
    for calibrated in model["with_embeddings"].values():
        assert list(calibrated["weights"]) == list(ranking.DENSE_FEATURE_NAMES)
        assert 0 < calibrated["threshold"] < 1
    for blind in (answers.HELDOUT, answers.VALIDATION):
        written_blind = {b["business"] for b in answers.businesses(blind)}
        assert written_blind and not written_blind & set(model["fitted_on"])


def test_the_words_only_rule():
    model = {"coverage": 0.4, "window": 0.35}
    shares = dict.fromkeys(ranking.FEATURE_NAMES, 0.0)
    assert ranking.answered(model, {**shares, "coverage": 0.4, "window": 0.35})
    assert not ranking.answered(model, {**shares, "coverage": 0.9, "window": 0.3})
    assert not ranking.answered(model, {**shares, "coverage": 0.39, "window": 0.9})


def test_the_grid_finds_the_thresholds_that_separate():
    def row(coverage, right, kind="direct"):
        features = {"coverage": coverage, "window": coverage}
        return {"features": features, "right": right, "kind": kind, "business": "b"}

    rows = [row(0.9, True), row(0.8, True), row(0.5, False, "unanswerable"), row(0.3, False)]
    rule = answerability._best_rule(rows)
    assert [answerability._passes(r, *rule) for r in rows] == [True, True, False, False]
    assert answerability._rule_net(rows, *rule) == 2
    # Ties go to the lowest thresholds: answer whatever costs nothing to answer.
    assert min(rule) == answerability.RULE_GRID[0]


def test_newton_fit_recovers_a_known_separation():
    # One feature that decides the label: the fitted weight is positive and predicts it.
    rows = [
        {"features": {"x": x / 10}, "right": x >= 5, "kind": "direct", "business": "b"}
        for x in range(10)
    ] * 3
    w = answerability.fit(rows, ["x"], l2=0.1)
    assert w[1] > 0
    assert answerability.predict(w, ["x"], rows[9]) > 0.5 > answerability.predict(w, ["x"], rows[0])

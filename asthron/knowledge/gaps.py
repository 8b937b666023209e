"""Knowledge gaps: what visitors asked that the assistant could not answer.

Other layers record them (the knowledge layer imports none of them): the assistant when it
abstained or the chat was handed to a person, the conversations package when staff mark a
reply wrong. The dashboard page groups them by similar question (the Jaccard similarity of
their sets of stemmed content words) so the owner sees which article to write first.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit
from asthron.audit.service import Actor
from asthron.db import utcnow
from asthron.knowledge.models import GAP_REASONS, KnowledgeGap
from asthron.knowledge.ranking import stem, words
from asthron.knowledge.vocabulary import STOP_WORDS

MAX_QUESTION = 1000
# Two questions belong together when this share of their content words is shared.
SIMILAR = 0.5
# The page reads at most this many recent gaps.
PAGE_ROWS = 2000
REASON_LABELS = {
    "abstained": "the assistant didn't know",
    "handed_off": "handed to a person",
    "marked_wrong": "marked wrong by staff",
}


def content_terms(question: str) -> frozenset[str]:
    return frozenset(stem(w) for w in words(question) if w not in STOP_WORDS and len(w) > 1)


def record_gap(
    db: Session,
    question: str,
    reason: str,
    conversation_id: int,
    event_id: int | None = None,
) -> KnowledgeGap | None:
    """Remember a question the assistant could not answer. A question with no content words
    ("ok", "?") is not a gap; the same reply is recorded once per reason."""
    if reason not in GAP_REASONS:
        raise ValueError(f"reason must be one of {GAP_REASONS}")
    question = " ".join((question or "").split())[:MAX_QUESTION]
    if not content_terms(question):
        return None
    if event_id is not None:
        existing = db.scalar(
            sa.select(KnowledgeGap).where(
                KnowledgeGap.event_id == event_id, KnowledgeGap.reason == reason
            )
        )
        if existing is not None:
            return existing
    gap = KnowledgeGap(
        question=question, reason=reason, conversation_id=conversation_id, event_id=event_id
    )
    db.add(gap)
    db.flush()
    return gap


def recorded_for(db: Session, event_id: int) -> bool:
    """Whether any gap was recorded for this reply."""
    found = db.scalar(sa.select(KnowledgeGap.id).where(KnowledgeGap.event_id == event_id).limit(1))
    return found is not None


@dataclass
class GapGroup:
    gap_ids: list[int] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)  # distinct, newest first
    asked: list[str] = field(default_factory=list)  # every time it was asked
    reasons: Counter = field(default_factory=Counter)  # per gap: a reply can have two
    conversation_ids: list[int] = field(default_factory=list)
    latest: dt.datetime | None = None
    terms: set[str] = field(default_factory=set)
    event_ids: set[int] = field(default_factory=set)

    @property
    def count(self) -> int:
        """How many times it was asked."""
        return len(self.asked)

    @property
    def question(self) -> str:
        """The question to write an article for: the one asked most often in this group,
        the newest of those."""
        counts = Counter(q.lower() for q in self.asked)
        return max(self.asked, key=lambda q: counts[q.lower()])

    @property
    def reason_labels(self) -> list[str]:
        return [f"{REASON_LABELS[r]} ({n})" for r, n in self.reasons.most_common()]


def group_gaps(gaps: list[KnowledgeGap]) -> list[GapGroup]:
    """Greedy grouping, newest first: a gap joins the first group whose first question it
    resembles (token-set similarity ≥ ``SIMILAR``), else starts a group. Biggest groups first."""
    groups: list[GapGroup] = []
    seeds: list[frozenset[str]] = []  # each group's first question's terms
    # Only a group whose first question shares a term can be similar enough: looking those up
    # by term keeps the page fast with thousands of distinct questions (comparing each with
    # every group took seconds), and counting them gives the shared terms at once.
    groups_with: defaultdict[str, list[int]] = defaultdict(list)
    for gap in sorted(gaps, key=lambda g: (g.created_at, g.id), reverse=True):
        terms = content_terms(gap.question)
        shared = Counter(i for term in terms for i in groups_with.get(term, ()))
        similar = [i for i, n in shared.items() if n / (len(terms) + len(seeds[i]) - n) >= SIMILAR]
        if similar:
            target = groups[min(similar)]
        else:
            target = GapGroup(latest=gap.created_at)
            for term in terms:
                groups_with[term].append(len(groups))
            groups.append(target)
            seeds.append(terms)
        target.gap_ids.append(gap.id)
        # One reply can be a gap for two reasons (it abstained, then staff marked it wrong):
        # that is one question asked. Its rows have the same question, so the same group.
        if gap.event_id is None or gap.event_id not in target.event_ids:
            target.asked.append(gap.question)
        if gap.event_id is not None:
            target.event_ids.add(gap.event_id)
        if gap.question.lower() not in (q.lower() for q in target.questions):
            target.questions.append(gap.question)
        target.reasons[gap.reason] += 1
        if gap.conversation_id not in target.conversation_ids:
            target.conversation_ids.append(gap.conversation_id)
        target.terms |= terms
    groups.sort(key=lambda g: (-g.count, -(g.latest.timestamp() if g.latest else 0)))
    return groups


def open_groups(db: Session) -> list[GapGroup]:
    """The gaps nobody has dismissed yet, grouped, biggest first."""
    gaps = list(
        db.scalars(
            sa.select(KnowledgeGap)
            .where(KnowledgeGap.dismissed_at.is_(None))
            .order_by(KnowledgeGap.created_at.desc(), KnowledgeGap.id.desc())
            .limit(PAGE_ROWS)
        )
    )
    return group_gaps(gaps)


def group_of(db: Session, gap_id: int) -> GapGroup | None:
    """The open group a gap belongs to (for prefilling the new-article form)."""
    for group in open_groups(db):
        if gap_id in group.gap_ids:
            return group
    return None


def dismiss(db: Session, actor: Actor, gap_ids: list[int]) -> int:
    """Take these gaps off the page (answered by an article now, or not worth one); audited.
    Only these: the page posts every gap of a group it showed, and a similar question asked
    since would join that group if it were grouped again, dismissed unseen. A question asked
    again later comes back."""
    ids = sorted({int(i) for i in gap_ids})
    if not ids:
        return 0
    result = db.execute(
        sa.update(KnowledgeGap)
        .where(KnowledgeGap.id.in_(ids), KnowledgeGap.dismissed_at.is_(None))
        .values(dismissed_at=utcnow())
    )
    count = result.rowcount or 0
    audit.record(db, actor, "knowledge.gaps_dismissed", "knowledge_gap", ids[0], {"gaps": count})
    return count

"""The owner's synonyms: groups of words that mean the same for this business ("boiler,
furnace"), typed one group per line on Dashboard → Knowledge → Synonyms. Retrieval reads them
with the built-in ones (``search._build_index``): a question's word then also finds passages
that use another word of its group, at a discount."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit
from asthron.audit.service import Actor
from asthron.knowledge.models import KnowledgeSynonym
from asthron.knowledge.ranking import words as analysed_words
from asthron.knowledge.search import parse_synonyms

MAX_GROUPS = 500
MAX_GROUP_WORDS = 20
# A group is stored as its words joined with ", ", which must fit the column.
MAX_LINE = KnowledgeSynonym.__table__.c.words.type.length
MAX_TEXT = 60_000


class SynonymError(ValueError):
    """The synonyms cannot be saved; the message is safe to show."""


def parse_lines(text: str) -> list[list[str]]:
    """One group per non-empty line: words or phrases separated by commas. A line that is not
    a group of at least two is refused with its line number."""
    if len(text or "") > MAX_TEXT:
        raise SynonymError(f"Too much text ({MAX_TEXT:,} characters at most).")
    groups: list[list[str]] = []
    for number, line in enumerate((text or "").replace("\r\n", "\n").split("\n"), 1):
        line = line.strip()
        if not line:
            continue
        if len(line) > MAX_LINE:
            raise SynonymError(f"Line {number} is too long ({MAX_LINE} characters at most).")
        group: list[str] = []
        for item in line.split(","):
            item = " ".join(item.split()).lower()
            if item and item not in group:
                group.append(item)
        if len(group) < 2:
            raise SynonymError(
                f"Line {number}: list at least two words that mean the same, separated by commas."
            )
        if len(group) > MAX_GROUP_WORDS:
            raise SynonymError(f"Line {number}: at most {MAX_GROUP_WORDS} words in one group.")
        if any(not analysed_words(item) for item in group):
            raise SynonymError(f"Line {number}: each entry needs a letter or digit.")
        stored = ", ".join(group)
        if len(stored) > MAX_LINE:
            # "a,b" is saved as "a, b": a line within the limit as typed may not be.
            raise SynonymError(
                f"Line {number} is too long ({MAX_LINE} characters at most, "
                'counting ", " between words).'
            )
        if not parse_synonyms(stored):
            # Retrieval reads such a line as a comment: saved, it would do nothing.
            raise SynonymError(
                f'Line {number} starts with "#", which marks a comment: remove the "#".'
            )
        groups.append(group)
    if len(groups) > MAX_GROUPS:
        raise SynonymError(f"At most {MAX_GROUPS} groups.")
    return groups


def groups(db: Session) -> list[list[str]]:
    rows = db.scalars(sa.select(KnowledgeSynonym).order_by(KnowledgeSynonym.id))
    return [[w.strip() for w in row.words.split(",") if w.strip()] for row in rows]


def as_text(db: Session) -> str:
    return "\n".join(", ".join(group) for group in groups(db))


def replace_all(db: Session, actor: Actor, text: str) -> list[list[str]]:
    """Save the owner's groups (all of them, replacing the previous ones), audited."""
    new = parse_lines(text)
    before = len(groups(db))
    db.execute(sa.delete(KnowledgeSynonym))
    for group in new:
        db.add(KnowledgeSynonym(words=", ".join(group)))
    db.flush()
    audit.record(
        db, actor, "knowledge.synonyms", "knowledge", None, {"groups": len(new), "before": before}
    )
    return new

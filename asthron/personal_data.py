"""Personal-data rules, declared by each table beside its columns.

Every table whose columns can hold something about a person says so in its ``__table_args__``
with ``personal_data(...)`` (or ``not_personal(reason)``); the privacy feature reads these
markers from ``Base.metadata`` and never imports the feature that owns the table. One rule
says how a data subject's rows are found (the identifiers a row holds, the entities it links
to, the text columns that may mention them), what erasing does (delete, anonymise, keep),
and which retention category the row falls under.

Entities are the kinds of rows a subject is made of ("visitor", "lead", "conversation"): a
table that *is* an entity names it, a table that refers to one names the column. Rows of a
table with two links (a lead's conversation) join the entities into one subject.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

INFO_KEY = "personal_data"
ERASE_ACTIONS = ("delete", "anonymise", "keep")


@dataclass(frozen=True)
class PersonalData:
    """How the privacy feature treats one table's rows."""

    # delete: the subject's rows go; anonymise: the columns in ``anonymise`` are overwritten
    # and the row stays (aggregates, the audit trail); keep: listed and exported, not erased
    # (``note`` says why and where it is removed instead).
    erase: str = "delete"
    # The entity a row of this table is ("visitor", "lead", "conversation").
    entity: str | None = None
    # Columns holding an identifier a person is looked up by: column -> "email" | "phone".
    identifiers: Mapping[str, str] = field(default_factory=dict)
    # Columns holding the id of an entity: column -> entity.
    links: Mapping[str, str] = field(default_factory=dict)
    # Polymorphic references: (type column, id column); the type value names the entity.
    refs: tuple[tuple[str, str], ...] = ()
    # Text or JSON columns that may mention an identifier in passing (searched as text).
    mentions: tuple[str, ...] = ()
    # JSON columns holding a Fernet-encrypted JSON document under a key: column -> key.
    sealed: Mapping[str, str] = field(default_factory=dict)
    # For erase="anonymise": column -> the value it is overwritten with.
    anonymise: Mapping[str, Any] = field(default_factory=dict)
    # The retention category ("conversations", "usage"...) and the time column it ages by;
    # None: kept until erased, or removed with the row it belongs to (a foreign key cascade).
    retention: str | None = None
    retention_column: str = "created_at"
    # Extra SQL condition for retention (only finished outbox items, say).
    retention_filter: str | None = None
    note: str = ""

    def __post_init__(self):
        if self.erase not in ERASE_ACTIONS:
            raise ValueError(f"erase must be one of {ERASE_ACTIONS}")
        if self.erase == "anonymise" and not self.anonymise:
            raise ValueError("erase='anonymise' needs the columns to overwrite")


@dataclass(frozen=True)
class NotPersonal:
    """A table whose text columns hold the business's own content, not people's data."""

    reason: str


def personal_data(**rule) -> dict:
    """The ``__table_args__`` dict that marks a table with its rule."""
    return {"info": {INFO_KEY: PersonalData(**rule)}}


def not_personal(reason: str) -> dict:
    return {"info": {INFO_KEY: NotPersonal(reason)}}


def rule_of(table) -> PersonalData | NotPersonal | None:
    return table.info.get(INFO_KEY)

"""The personal-data rules the tables declare (``asthron.personal_data``), read from the
metadata: the privacy feature knows no other feature's models."""

from __future__ import annotations

import re

import sqlalchemy as sa

from asthron.db import Base
from asthron.personal_data import NotPersonal, PersonalData, rule_of

# Column names that can hold something about a person: such a table must declare a rule.
PERSONAL_COLUMN = re.compile(
    r"(^|_)(email|emails|phone|name|body|text|user_agent|url|payload|ip|ip_address|summary|"
    r"value|data|notice|note|page|utm|fields|username|hostname|address|contact)($|_)"
)


def tables() -> list[sa.Table]:
    # Every model is imported by the app wiring (asthron.models.import_all_models), which
    # is above this layer: the metadata is complete by the time anything here runs.
    return list(Base.metadata.sorted_tables)


def personal_tables() -> list[tuple[sa.Table, PersonalData]]:
    """Tables holding personal data with their rules, parents before children."""
    found = []
    for table in tables():
        rule = rule_of(table)
        if isinstance(rule, PersonalData):
            found.append((table, rule))
    return found


def suspicious_columns(table: sa.Table) -> list[str]:
    return [c.name for c in table.columns if PERSONAL_COLUMN.search(c.name)]


def undeclared_tables() -> dict[str, list[str]]:
    """Tables with columns that look personal and no rule (the test keeps this empty)."""
    missing = {}
    for table in tables():
        columns = suspicious_columns(table)
        if columns and not isinstance(rule_of(table), PersonalData | NotPersonal):
            missing[table.name] = columns
    return missing


def encrypted_columns() -> list[tuple[sa.Table, sa.Column]]:
    """Columns holding one Fernet token each (named ``*_encrypted``)."""
    return [(t, c) for t in tables() for c in t.columns if c.name.endswith("_encrypted")]


def sealed_columns() -> list[tuple[sa.Table, str, str]]:
    """JSON columns holding a Fernet token under a key: (table, column, key)."""
    return [(t, col, key) for t, rule in personal_tables() for col, key in rule.sealed.items()]

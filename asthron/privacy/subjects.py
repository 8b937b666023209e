"""Data subjects: everything that refers to one person, found, exported and erased.

A subject starts from an identifier (an email, a phone number) or a visitor id, and grows
through the rules the tables declare (``asthron.personal_data``): the visitor's
conversations, the lead linked to one of them, that lead's email and the other visitors who
gave it, until nothing new is found. Rows that only mention an identifier (audit summaries,
domain-event payloads, outbox items, sealed email bodies) are found by searching their text.
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import re
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session
from zope.sqlalchemy import mark_changed

from asthron import audit
from asthron.audit.service import Actor
from asthron.personal_data import PersonalData
from asthron.privacy import rules, tombstones
from asthron.security.crypto import SecretBox, SecretDecryptionError
from asthron.text import international_phone

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SubjectError(ValueError):
    """Bad subject input, or a subject nothing refers to."""


@dataclass(frozen=True)
class SubjectQuery:
    kind: str  # email | phone | visitor | lead
    value: str | int

    @classmethod
    def parse(cls, email: str | None, phone: str | None, visitor: str | None) -> SubjectQuery:
        given = [(k, v) for k, v in (("email", email), ("phone", phone), ("visitor", visitor))]
        given = [(k, v) for k, v in given if v is not None]
        if len(given) != 1:
            raise SubjectError("give exactly one of --email, --phone or --visitor")
        kind, raw = given[0]
        text = str(raw).strip()
        if kind == "email":
            value = text.lower()
            if not EMAIL_RE.match(value) or len(value) > 320:
                raise SubjectError(f"{text!r} is not an email address")
            return cls("email", value)
        if kind == "phone":
            try:
                value = international_phone(text)
            except ValueError:
                value = None
            if value is None:
                raise SubjectError(f"{text!r} is not a phone number in international form (+CC…)")
            return cls("phone", value)
        if not text.isdigit() or int(text) <= 0:
            raise SubjectError(f"{text!r} is not a visitor id (a positive whole number)")
        return cls("visitor", int(text))


@dataclass
class Subject:
    """The entities and identifiers found for one person, and the rows that refer to them."""

    entities: dict[str, set] = field(default_factory=lambda: defaultdict(set))
    identifiers: set[tuple[str, str]] = field(default_factory=set)
    # table name -> primary keys of the rows that refer to the subject
    rows: dict[str, list] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any(self.rows.values())

    def counts(self) -> dict[str, int]:
        return {name: len(ids) for name, ids in self.rows.items() if ids}

    def tombstone_digests(self, key: bytes) -> set[str]:
        digests = {tombstones.digest(key, kind, value) for kind, value in self.identifiers}
        for entity in ("visitor", "lead"):
            digests |= {tombstones.digest(key, entity, i) for i in self.entities.get(entity, ())}
        return digests


def _pk(table: sa.Table) -> sa.Column:
    return next(iter(table.primary_key.columns))


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _condition(table: sa.Table, rule: PersonalData, subject: Subject, mentions: bool):
    parts = []
    for column, kind in rule.identifiers.items():
        values = [v for k, v in subject.identifiers if k == kind]
        if values:
            col = table.c[column]
            parts.append((sa.func.lower(col) if kind == "email" else col).in_(values))
    if rule.entity and subject.entities.get(rule.entity):
        parts.append(_pk(table).in_(sorted(subject.entities[rule.entity])))
    for column, entity in rule.links.items():
        if subject.entities.get(entity):
            parts.append(table.c[column].in_(sorted(subject.entities[entity])))
    if mentions:
        for type_column, id_column in rule.refs:
            for entity, ids in subject.entities.items():
                if ids:
                    parts.append(
                        sa.and_(
                            table.c[type_column] == entity,
                            table.c[id_column].in_([str(i) for i in sorted(ids)]),
                        )
                    )
        for column in rule.mentions:
            for _kind, value in subject.identifiers:
                # JSON stores strings quoted: the quotes keep "a@b.io" from matching "xa@b.io".
                pattern = f'%"{_like_escape(value)}"%'
                parts.append(sa.cast(table.c[column], sa.Text).like(pattern, escape="\\"))
    return sa.or_(*parts) if parts else None


def _grow(db: Session, subject: Subject) -> None:
    """Follow identifiers and links until no new entity or identifier turns up."""
    while True:
        before = (sum(len(v) for v in subject.entities.values()), len(subject.identifiers))
        for table, rule in rules.personal_tables():
            if not rule.entity and len(rule.links) < 2:
                continue
            condition = _condition(table, rule, subject, mentions=False)
            if condition is None:
                continue
            for row in db.execute(sa.select(table).where(condition)).mappings():
                if rule.entity:
                    subject.entities[rule.entity].add(row[_pk(table).name])
                for column, entity in rule.links.items():
                    if row[column] is not None:
                        subject.entities[entity].add(row[column])
                for column, kind in rule.identifiers.items():
                    if row[column]:
                        value = str(row[column]).strip()
                        subject.identifiers.add((kind, value.lower() if kind == "email" else value))
        after = (sum(len(v) for v in subject.entities.values()), len(subject.identifiers))
        if after == before:
            return


def _sealed_matches(db: Session, table, column: str, key: str, subject, box) -> list:
    """Rows whose sealed document mentions one of the subject's identifiers."""
    needles = [value.lower() for _kind, value in subject.identifiers]
    if not needles or box is None:
        return []
    found = []
    pk = _pk(table)
    for row in db.execute(sa.select(pk, table.c[column])).all():
        document = row[1]
        if not isinstance(document, dict) or key not in document:
            continue
        try:
            text = box.decrypt(document[key]).lower()
        except SecretDecryptionError:
            continue
        if any(needle in text for needle in needles):
            found.append(row[0])
    return found


def find(db: Session, query: SubjectQuery, box: SecretBox | None) -> Subject:
    """Everything that refers to the person ``query`` names; SubjectError when nothing does."""
    subject = Subject()
    if query.kind in ("visitor", "lead"):
        subject.entities[query.kind].add(int(query.value))
    else:
        subject.identifiers.add((query.kind, str(query.value)))
    _grow(db, subject)
    for table, rule in rules.personal_tables():
        condition = _condition(table, rule, subject, mentions=True)
        ids = set()
        if condition is not None:
            ids = set(db.scalars(sa.select(_pk(table)).where(condition)))
        for column, key in rule.sealed.items():
            ids |= set(_sealed_matches(db, table, column, key, subject, box))
        subject.rows[table.name] = sorted(ids)
    if subject.empty:
        raise SubjectError(f"nothing refers to {query.kind} {query.value}")
    return subject


def _jsonable(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def rows_of(db: Session, subject: Subject, box: SecretBox | None) -> dict[str, list[dict]]:
    """Every row about the subject, as JSON-ready dicts; sealed documents opened."""
    result = {}
    for table, rule in rules.personal_tables():
        ids = subject.rows.get(table.name)
        if not ids:
            continue
        rows = []
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            query = sa.select(table).where(_pk(table).in_(chunk)).order_by(_pk(table))
            for row in db.execute(query).mappings():
                record = {k: _jsonable(v) for k, v in row.items()}
                for column, key in rule.sealed.items():
                    document = record.get(column)
                    if box is not None and isinstance(document, dict) and key in document:
                        try:
                            opened = json.loads(box.decrypt(document[key]))
                        except SecretDecryptionError:
                            opened = "[cannot be decrypted with the current keys]"
                        record[column] = {
                            **{k: v for k, v in document.items() if k != key},
                            "unsealed": opened,
                        }
                rows.append(record)
        result[table.name] = rows
    return result


README = """\
Personal data export
====================

Every row this Asthron installation holds about one person, as JSON: one file per
database table, each a list of rows (column name -> value, times in UTC, ISO 8601).
Email bodies that are stored encrypted are included decrypted, under "unsealed".

Files:
{files}
"""

TABLE_DESCRIPTIONS = {
    "visitors": "the browsers the person chatted from (user agent, page, consent, name, email)",
    "conversations": "their chat conversations (status, who handled them, times)",
    "conversation_events": "every message and event in those conversations",
    "visitor_page_views": "pages open while chatting",
    "leads": "their contact details as a lead (name, email, phone, company, consent)",
    "lead_conversations": "which conversations belong to the lead",
    "lead_activity": "the lead's timeline",
    "lead_proposals": "details the person gave that staff have not confirmed yet",
    "qualification_answers": "their answers to qualification questions",
    "conversation_summaries": "AI summaries of their conversations",
    "outbox": "emails and other work queued or done about them",
    "audit_log": "audit entries that name them",
    "domain_events": "recorded facts about their conversations and lead",
    "usage_records": "AI model calls made for their conversations (tokens, cost)",
    "invitations": "dashboard invitations sent to their address",
    "users": "a staff account with their address",
}


def export_bytes(rows: dict[str, list[dict]]) -> bytes:
    """The export as a zip: one JSON file per table and a README saying what each holds."""
    files = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, table_rows in sorted(rows.items()):
            archive.writestr(f"{name}.json", json.dumps(table_rows, indent=2, default=str))
            what = TABLE_DESCRIPTIONS.get(name, "rows of this table that refer to the person")
            files.append(f"  {name}.json: {len(table_rows)} row(s): {what}")
        archive.writestr("README.txt", README.format(files="\n".join(files)))
    return buffer.getvalue()


def write_export(rows: dict[str, list[dict]], out: Path) -> None:
    """Write the zip beside ``out`` and rename it into place: never a half-written file."""
    out = Path(out)
    if out.exists():
        raise SubjectError(f"{out} already exists; choose another --out")
    if not out.parent.is_dir():
        raise SubjectError(f"directory {out.parent} does not exist")
    partial = out.with_name(out.name + ".partial")
    try:
        partial.write_bytes(export_bytes(rows))
        partial.chmod(0o600)
        partial.replace(out)
    except OSError as exc:  # a full disk, a read-only folder: nothing half-written stays
        partial.unlink(missing_ok=True)
        raise SubjectError(f"could not write {out}: {exc.strerror or exc}") from None


def erase(
    db: Session,
    subject: Subject,
    actor: Actor,
    secrets: dict,
    var_dir: Path,
    reason: str = "request",
) -> dict[str, dict[str, int]]:
    """Delete or anonymise every row about the subject, record its tombstones and one audit
    entry (which names no identifier). Returns {table: {"deleted"|"anonymised"|"kept": n}}."""
    report: dict[str, dict[str, int]] = {}
    # Children first, so no foreign key points at a row already gone.
    for table, rule in reversed(rules.personal_tables()):
        ids = subject.rows.get(table.name)
        if not ids:
            continue
        pk = _pk(table)
        if rule.erase == "keep":
            report[table.name] = {"kept": len(ids)}
            continue
        done = 0
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            if rule.erase == "delete":
                result = db.execute(sa.delete(table).where(pk.in_(chunk)))
            else:
                result = db.execute(sa.update(table).where(pk.in_(chunk)).values(rule.anonymise))
            done += result.rowcount
        report[table.name] = {"deleted" if rule.erase == "delete" else "anonymised": done}
        # Core statements: the transaction must be told it wrote.
        mark_changed(db, db.info["transaction_manager"])
    key = tombstones.tombstone_key(secrets)
    digests = subject.tombstone_digests(key)
    tombstones.record(db, var_dir, digests)
    audit.record(
        db,
        actor,
        "privacy.subject_erased",
        "subject",
        None,
        {"reason": reason, "tables": report, "tombstones": len(digests)},
    )
    return report


def reapply_tombstones(
    db: Session, digests: set[str], secrets: dict, var_dir: Path, box: SecretBox | None
) -> int:
    """Store ``digests`` as tombstones and erase again every subject whose identifier or
    visitor/lead id matches one (after a restore from a backup older than the erasure).
    Returns how many subjects were erased."""
    key = tombstones.tombstone_key(secrets)
    wanted = digests | tombstones.stored(db)
    tombstones.record(db, var_dir, wanted - tombstones.stored(db))
    seeds: list[SubjectQuery] = []
    for table, rule in rules.personal_tables():
        columns = list(rule.identifiers)
        if rule.entity in ("visitor", "lead"):
            columns.append(_pk(table).name)
        if not columns:
            continue
        for row in db.execute(sa.select(*(table.c[c] for c in columns))).mappings():
            for column in columns:
                value = row[column]
                if value is None or value == "":
                    continue
                kind = rule.identifiers.get(column) or rule.entity
                normal = str(value).strip().lower() if kind == "email" else value
                if tombstones.digest(key, kind, normal) in wanted:
                    seeds.append(SubjectQuery(kind, normal))
    erased = 0
    covered: set[tuple[str, object]] = set()
    for seed in seeds:
        if (seed.kind, seed.value) in covered:
            continue  # part of a person already erased with an earlier seed
        try:
            subject = find(db, seed, box)
        except SubjectError:
            continue
        covered |= subject.identifiers
        covered |= {(kind, i) for kind, ids in subject.entities.items() for i in ids}
        erase(db, subject, Actor.cli(), secrets, var_dir, reason="tombstone after restore")
        erased += 1
    return erased

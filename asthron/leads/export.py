"""The rows of a lead export (CSV or JSON), streamed in batches and audited."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit
from asthron.accounts.models import User
from asthron.audit.service import Actor, spreadsheet_safe
from asthron.leads import capture
from asthron.leads.models import (
    Lead,
)
from asthron.leads.pipeline import LeadQuery, apply_filters
from asthron.sites.models import Site

# -- export ---------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "status",
    "qualified",
    "name",
    "email",
    "phone",
    "company",
    "site",
    "source_page",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "consent_at",
    "consent_notice_version",
    "assigned_to",
    "tags",
    "custom_fields",
)
EXPORT_BATCH = 500
CSV_FLUSH_ROWS = 100


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def export_rows(db: Session, query: LeadQuery, after_id: int = 0, batch: int = EXPORT_BATCH):
    """One batch of export rows (dicts), oldest first, after a lead id."""
    stmt = (
        sa.select(Lead, Site.name, User.email)
        .outerjoin(Site, Site.id == Lead.source_site_id)
        .outerjoin(User, User.id == Lead.assigned_user_id)
        .where(Lead.id > after_id)
    )
    stmt = apply_filters(stmt, query).order_by(Lead.id).limit(batch)
    rows = []
    for lead, site_name, assignee in db.execute(stmt):
        utm = lead.utm or {}
        rows.append(
            {
                "id": lead.id,
                "created_at": _iso(lead.created_at),
                "updated_at": _iso(lead.updated_at),
                "status": lead.status,
                "qualified": bool(lead.qualified),
                "name": lead.name,
                "email": lead.email,
                "phone": lead.phone,
                "company": lead.company,
                "site": site_name,
                "source_page": lead.source_page,
                **{k: utm.get(k) for k in capture.UTM_KEYS},
                "consent_at": _iso(lead.consent_at),
                "consent_notice_version": lead.consent_notice_version,
                "assigned_to": assignee,
                "tags": list(lead.tags or []),
                "custom_fields": dict(lead.custom_fields or {}),
            }
        )
    return rows


def iter_export_rows(session_factory, query: LeadQuery, batch: int | None = None):
    """Every matching row, in batches, each read in its own short session (so a stream never
    holds a transaction or a request's session open)."""
    batch = batch or EXPORT_BATCH
    last_id = 0
    while True:
        with session_factory() as db:
            rows = export_rows(db, query, last_id, batch)
        if not rows:
            return
        yield from rows
        last_id = rows[-1]["id"]


def csv_cell(column: str, value) -> str:
    if column == "tags":
        value = ", ".join(value)
    elif column == "custom_fields":
        value = "; ".join(f"{k}={v}" for k, v in sorted(value.items()))
    elif column == "qualified":
        value = "yes" if value else "no"
    return spreadsheet_safe(value)


def csv_chunks(rows, flush_every: int | None = None) -> Iterator[str]:
    """CSV text in chunks: the header, then rows, every cell safe from formula injection."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    flush_every = flush_every or CSV_FLUSH_ROWS
    pending = 0
    for row in rows:
        writer.writerow([csv_cell(c, row[c]) for c in EXPORT_COLUMNS])
        pending += 1
        if pending >= flush_every:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


def json_chunks(rows) -> Iterator[str]:
    """A JSON array, one object per line, written as it is read."""
    yield "["
    first = True
    for row in rows:
        yield ("\n" if first else ",\n") + json.dumps(row, ensure_ascii=False)
        first = False
    yield "\n]\n" if not first else "]\n"


def record_export(db: Session, actor: Actor, query: LeadQuery, fmt: str, rows: int) -> None:
    audit.record(
        db, actor, "lead.export", "lead", None, {"format": fmt, "rows": rows, **query.summary()}
    )

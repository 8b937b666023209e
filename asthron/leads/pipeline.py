"""The lead pipeline's list: filters, search, sorting and keyset pagination.

Every filter value and sort comes from a server-side allowlist and reaches SQL as a bound
parameter; anything else is a LeadInputError (a 400 with a message), never a query.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.accounts.models import User
from asthron.leads.models import (
    LEAD_STATUSES,
    Lead,
)
from asthron.leads.validation import CONTROL_RE, LeadInputError, normalize_tag
from asthron.sites.models import Site

PAGE_SIZE = 50
MAX_QUERY = 200
MAX_PARAM = 400
MAX_BULK = 500
SORTS = {"created": "Created", "updated": "Updated", "name": "Name", "status": "Status"}
DIRECTIONS = ("desc", "asc")
QUALIFIED = {"": None, "yes": True, "no": False}
FILTER_PARAMS = ("status", "site", "qualified", "assigned", "since", "until", "tag", "q")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# -- the list's query -----------------------------------------------------------------------


@dataclass(frozen=True)
class LeadQuery:
    status: str | None = None
    site_id: int | None = None
    qualified: bool | None = None
    assigned: str = ""  # "", "me", "none" or a user id as text
    assigned_user_id: int | None = None  # resolved: "me" is the current user
    since: dt.date | None = None
    until: dt.date | None = None
    tag: str | None = None
    q: str = ""
    sort: str = "created"
    direction: str = "desc"
    cursor: tuple | None = None

    def params(self, with_sort: bool = True) -> dict:
        """The query string of this list (without the page cursor), for links and forms."""
        out = {}
        if self.status:
            out["status"] = self.status
        if self.site_id is not None:
            out["site"] = str(self.site_id)
        if self.qualified is not None:
            out["qualified"] = "yes" if self.qualified else "no"
        if self.assigned:
            out["assigned"] = self.assigned
        if self.since:
            out["since"] = self.since.isoformat()
        if self.until:
            out["until"] = self.until.isoformat()
        if self.tag:
            out["tag"] = self.tag
        if self.q:
            out["q"] = self.q
        if with_sort:
            if self.sort != "created":
                out["sort"] = self.sort
            if self.direction != "desc":
                out["dir"] = self.direction
        return out

    @property
    def filtered(self) -> bool:
        return bool(self.params(with_sort=False))

    def summary(self) -> dict:
        """The filters, for an audit entry."""
        return {k: v for k, v in self.params().items() if k != "q"} | (
            {"search": self.q} if self.q else {}
        )


def _one(params, name: str, max_length: int = MAX_PARAM) -> str:
    values = params.getall(name) if hasattr(params, "getall") else [params.get(name, "")]
    values = [v for v in values if v is not None]
    if len(values) > 1:
        raise LeadInputError(f"The parameter {name} was sent more than once.", name)
    value = values[0] if values else ""
    if not isinstance(value, str):
        raise LeadInputError(f"The parameter {name} must be text.", name)
    if len(value) > max_length:
        raise LeadInputError(f"The parameter {name} is too long.", name)
    return value


def _date(value: str, name: str, label: str) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise LeadInputError(f"{label} must be a date like 2026-01-31.", name) from None


def site_choices(db: Session) -> list[tuple[int, str]]:
    return [
        (row.id, row.name) for row in db.execute(sa.select(Site.id, Site.name).order_by(Site.name))
    ]


def user_choices(db: Session, active_only: bool = False) -> list[tuple[int, str]]:
    query = sa.select(User.id, User.display_name, User.email).order_by(User.display_name, User.id)
    if active_only:
        query = query.where(User.is_active.is_(True))
    return [(row.id, f"{row.display_name} ({row.email})") for row in db.execute(query)]


def clean_search(text: str) -> str:
    text = CONTROL_RE.sub(" ", text)
    return " ".join(text.split())


def parse_query(db: Session, params, user_id: int | None, with_cursor: bool = True) -> LeadQuery:
    """A LeadQuery from request.GET (the list) or request.POST (the export)."""
    status = _one(params, "status", 20).strip() or None
    if status is not None and status not in LEAD_STATUSES:
        raise LeadInputError("Unknown status; choose one of: " + ", ".join(LEAD_STATUSES), "status")
    site_id = None
    site_text = _one(params, "site", 20).strip()
    if site_text:
        allowed = {sid for sid, _name in site_choices(db)}
        if not (site_text.isascii() and site_text.isdigit() and int(site_text) in allowed):
            raise LeadInputError("Unknown site.", "site")
        site_id = int(site_text)
    qualified_text = _one(params, "qualified", 10).strip()
    if qualified_text not in QUALIFIED:
        raise LeadInputError("qualified must be yes or no.", "qualified")
    assigned = _one(params, "assigned", 20).strip()
    assigned_user_id = None
    if assigned == "me":
        assigned_user_id = user_id
    elif assigned and assigned != "none":
        if not (assigned.isascii() and assigned.isdigit() and len(assigned) <= 10):
            raise LeadInputError("Unknown team member.", "assigned")
        assigned_user_id = db.scalar(sa.select(User.id).where(User.id == int(assigned)))
        if assigned_user_id is None:
            raise LeadInputError("Unknown team member.", "assigned")
    since = _date(_one(params, "since", 40), "since", "From")
    until = _date(_one(params, "until", 40), "until", "To")
    if since and until and since > until:
        raise LeadInputError("The From date is after the To date.", "since")
    tag_text = _one(params, "tag", 100).strip()
    tag = normalize_tag(tag_text) if tag_text else None
    q = clean_search(_one(params, "q", MAX_PARAM))
    if len(q) > MAX_QUERY:
        raise LeadInputError(f"The search is too long ({MAX_QUERY} characters at most).", "q")
    sort = _one(params, "sort", 20).strip() or "created"
    if sort not in SORTS:
        raise LeadInputError("Unknown sort; choose one of: " + ", ".join(SORTS), "sort")
    direction = _one(params, "dir", 10).strip() or "desc"
    if direction not in DIRECTIONS:
        raise LeadInputError("The direction must be asc or desc.", "dir")
    cursor = None
    if with_cursor:
        cursor_text = _one(params, "after", MAX_PARAM)
        cursor = decode_cursor(cursor_text, sort, direction) if cursor_text else None
    return LeadQuery(
        status=status,
        site_id=site_id,
        qualified=QUALIFIED[qualified_text],
        assigned=assigned,
        assigned_user_id=assigned_user_id,
        since=since,
        until=until,
        tag=tag,
        q=q,
        sort=sort,
        direction=direction,
        cursor=cursor,
    )


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE's wildcards (and the escape character) taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def apply_filters(stmt, query: LeadQuery):
    if query.status:
        stmt = stmt.where(Lead.status == query.status)
    if query.site_id is not None:
        stmt = stmt.where(Lead.source_site_id == query.site_id)
    if query.qualified is not None:
        stmt = stmt.where(Lead.qualified.is_(query.qualified))
    if query.assigned == "none":
        stmt = stmt.where(Lead.assigned_user_id.is_(None))
    elif query.assigned:
        stmt = stmt.where(Lead.assigned_user_id == query.assigned_user_id)
    if query.since:
        stmt = stmt.where(Lead.created_at >= _day_start(query.since))
    if query.until and query.until < dt.date.max:
        stmt = stmt.where(Lead.created_at < _day_start(query.until + dt.timedelta(days=1)))
    if query.tag:
        # Tags are stored as a JSON list of strings; the tag's own JSON text, quotes included,
        # matches one whole tag and never a part of another.
        pattern = like_pattern(json.dumps(query.tag))
        stmt = stmt.where(sa.cast(Lead.tags, sa.Text).like(pattern, escape="\\"))
    if query.q:
        pattern = like_pattern(query.q)
        conditions = [
            Lead.name.ilike(pattern, escape="\\"),
            Lead.email.ilike(pattern, escape="\\"),
            Lead.phone.ilike(pattern, escape="\\"),
            Lead.company.ilike(pattern, escape="\\"),
        ]
        digits = re.sub(r"\D", "", query.q)
        if len(digits) >= 3 and digits != query.q:
            # "(202) 555-01" finds +1202555014…: phones are stored in E.164.
            conditions.append(Lead.phone.like(like_pattern(digits), escape="\\"))
        stmt = stmt.where(sa.or_(*conditions))
    return stmt


# -- sorting and keyset pagination ----------------------------------------------------------

_STATUS_ORDER = sa.case({s: i for i, s in enumerate(LEAD_STATUSES)}, value=Lead.status, else_=99)


def sort_key(sort: str):
    if sort == "created":
        return Lead.created_at
    if sort == "updated":
        return Lead.updated_at
    if sort == "name":
        return sa.func.lower(sa.func.coalesce(Lead.name, ""))
    if sort == "status":
        return _STATUS_ORDER
    raise LeadInputError("Unknown sort.", "sort")


def _key_to_json(sort: str, value):
    if sort in ("created", "updated"):
        return (value - _EPOCH) // dt.timedelta(microseconds=1)
    return value


def encode_cursor(sort: str, direction: str, key, lead_id: int) -> str:
    data = json.dumps([sort, direction, _key_to_json(sort, key), lead_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def decode_cursor(text: str, sort: str, direction: str) -> tuple:
    invalid = LeadInputError("The page link is not valid; start from the first page.", "after")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw.decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid from None
    if not (isinstance(data, list) and len(data) == 4):
        raise invalid
    c_sort, c_direction, key, lead_id = data
    if (c_sort, c_direction) != (sort, direction):
        raise invalid
    if not (isinstance(lead_id, int) and not isinstance(lead_id, bool) and 0 < lead_id < 2**31):
        raise invalid
    if sort in ("created", "updated"):
        if not isinstance(key, int) or isinstance(key, bool):
            raise invalid
        try:
            key = _EPOCH + dt.timedelta(microseconds=key)
        except OverflowError:
            raise invalid from None
    elif sort == "status":
        if not isinstance(key, int) or isinstance(key, bool) or not 0 <= key <= 99:
            raise invalid
    elif not isinstance(key, str) or len(key) > 500:
        raise invalid
    return key, lead_id


@dataclass(frozen=True)
class Row:
    lead: Lead
    site_name: str | None
    assignee: str | None


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_cursor: str | None


def list_leads(db: Session, query: LeadQuery, limit: int | None = None) -> Page:
    limit = limit or PAGE_SIZE
    key = sort_key(query.sort).label("sort_key")
    stmt = (
        sa.select(Lead, Site.name, User.display_name, key)
        .outerjoin(Site, Site.id == Lead.source_site_id)
        .outerjoin(User, User.id == Lead.assigned_user_id)
    )
    stmt = apply_filters(stmt, query)
    expression = sort_key(query.sort)
    if query.cursor is not None:
        value, lead_id = query.cursor
        if query.direction == "desc":
            stmt = stmt.where(
                sa.or_(expression < value, sa.and_(expression == value, Lead.id < lead_id))
            )
        else:
            stmt = stmt.where(
                sa.or_(expression > value, sa.and_(expression == value, Lead.id > lead_id))
            )
    if query.direction == "desc":
        stmt = stmt.order_by(expression.desc(), Lead.id.desc())
    else:
        stmt = stmt.order_by(expression.asc(), Lead.id.asc())
    results = list(db.execute(stmt.limit(limit + 1)))
    next_cursor = None
    if len(results) > limit:
        results = results[:limit]
        last = results[-1]
        next_cursor = encode_cursor(query.sort, query.direction, last[3], last[0].id)
    return Page([Row(r[0], r[1], r[2]) for r in results], next_cursor)


def count_leads(db: Session, query: LeadQuery) -> int:
    return db.scalar(apply_filters(sa.select(sa.func.count(Lead.id)), query)) or 0

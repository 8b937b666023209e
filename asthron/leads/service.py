"""The lead pipeline for staff: the filtered, searchable, sortable, keyset-paginated list; bulk
actions; edits, notes and tags; the timeline; and the rows of an export.

Every filter value and sort comes from a server-side allowlist and reaches SQL as a bound
parameter; anything else is a LeadInputError (a 400 with a message), never a query.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit
from asthron.accounts.models import User
from asthron.audit.service import Actor, spreadsheet_safe
from asthron.conversations.models import Conversation, ConversationEvent
from asthron.leads import capture, normalize
from asthron.leads.models import (
    LEAD_STATUSES,
    QUESTION_KINDS,
    Lead,
    LeadActivity,
    LeadConversation,
    LeadForm,
    LeadProposal,
    LeadSettings,
    QualificationAnswer,
    QualificationQuestion,
)
from asthron.leads.qualification import RULE_OPS, validate_rules
from asthron.leads.tasks import note_after_commit
from asthron.sites.models import Site

PAGE_SIZE = 50
MAX_QUERY = 200
MAX_PARAM = 400
MAX_BULK = 500
MAX_TAGS = 20
MAX_TAG = 40
MAX_NOTE = 5000
MAX_AI_NOTE = 5000
SORTS = {"created": "Created", "updated": "Updated", "name": "Name", "status": "Status"}
DIRECTIONS = ("desc", "asc")
QUALIFIED = {"": None, "yes": True, "no": False}
FILTER_PARAMS = ("status", "site", "qualified", "assigned", "since", "until", "tag", "q")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_TAG_RE = re.compile(r"^[\w][\w \-]*$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class LeadInputError(ValueError):
    """Input a person can fix; ``field`` names the form field when there is one."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


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
    text = _CONTROL_RE.sub(" ", text)
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


# -- reading one lead -----------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineItem:
    when: dt.datetime
    kind: str
    body: str
    actor: str
    conversation_id: int | None = None
    data: dict = field(default_factory=dict)


def linked_conversations(db: Session, lead_id: int) -> list[Conversation]:
    return list(
        db.scalars(
            sa.select(Conversation)
            .join(LeadConversation, LeadConversation.conversation_id == Conversation.id)
            .where(LeadConversation.lead_id == lead_id)
            .order_by(Conversation.created_at.desc(), Conversation.id.desc())
        )
    )


def timeline(db: Session, lead: Lead, limit: int = 300) -> list[TimelineItem]:
    """Activity (captures, merges, changes, notes, answers), and the conversations linked to
    the lead, newest first."""
    items = []
    for entry in db.scalars(
        sa.select(LeadActivity)
        .where(LeadActivity.lead_id == lead.id)
        .order_by(LeadActivity.id.desc())
        .limit(limit)
    ):
        conversation_id = (entry.data or {}).get("conversation_id")
        items.append(
            TimelineItem(
                entry.created_at,
                entry.kind,
                entry.body,
                entry.actor_label,
                conversation_id if isinstance(conversation_id, int) else None,
                entry.data or {},
            )
        )
    for conversation in linked_conversations(db, lead.id):
        items.append(
            TimelineItem(
                conversation.created_at,
                "conversation_started",
                f"Conversation #{conversation.id} started ({conversation.status}).",
                "visitor",
                conversation.id,
            )
        )
    items.sort(key=lambda item: item.when, reverse=True)
    return items


def pending_proposals(db: Session, lead_id: int) -> list[LeadProposal]:
    return list(
        db.scalars(
            sa.select(LeadProposal)
            .where(LeadProposal.lead_id == lead_id, LeadProposal.state == "pending")
            .order_by(LeadProposal.id)
        )
    )


@dataclass(frozen=True)
class AnswerRow:
    question: str
    key: str
    value: object
    answered_at: dt.datetime
    conversation_id: int | None


def answer_rows(db: Session, lead_id: int) -> list[AnswerRow]:

    rows = db.execute(
        sa.select(
            QualificationQuestion.text,
            QualificationQuestion.key,
            QualificationAnswer.value,
            QualificationAnswer.answered_at,
            ConversationEvent.conversation_id,
        )
        .join(QualificationAnswer, QualificationAnswer.question_id == QualificationQuestion.id)
        .outerjoin(ConversationEvent, ConversationEvent.id == QualificationAnswer.event_id)
        .where(QualificationAnswer.lead_id == lead_id)
        .order_by(QualificationQuestion.position, QualificationQuestion.id)
    )
    out = []
    for text, key, value, answered_at, conversation_id in rows:
        shown = (value or {}).get("v")
        if isinstance(shown, list):
            shown = ", ".join(str(v) for v in shown)
        out.append(AnswerRow(text, key, shown, answered_at, conversation_id))
    return out


def custom_field_names(db: Session, lead: Lead) -> list[str]:
    """The custom fields staff may edit: those the lead has, and those its site's form asks."""
    names = list((lead.custom_fields or {}).keys())
    if lead.source_site_id:
        for name in capture.lead_form(db, lead.source_site_id).custom_fields or []:
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names


# -- changes --------------------------------------------------------------------------------


def _change(db: Session, actor: Actor, lead: Lead, body: str, action: str, summary: dict):
    capture.activity(db, lead, "changed", body, actor, **summary)
    audit.record(db, actor, action, "lead", lead.id, summary)


def update_fields(db: Session, actor: Actor, lead: Lead, values: dict, custom: dict) -> list[str]:
    """A staff edit: verified, so it overwrites. Unique email/phone conflicts are a
    LeadDataError on that field, never a database error."""
    region = capture.lead_settings(db).phone_region or "US"
    clean = {
        "name": normalize.text(values.get("name"), "name", 120),
        "email": normalize.email(values.get("email")),
        "phone": normalize.phone(values.get("phone"), region),
        "company": normalize.text(values.get("company"), "company", 200),
    }
    clean_custom = {}
    for name, value in custom.items():
        text = normalize.text(value, f"custom.{name}", 500)
        if text is not None:
            clean_custom[name] = text
    if not (clean["email"] or clean["phone"]):
        raise normalize.LeadDataError("email", "A lead needs an email address or a phone number.")
    for unique in ("email", "phone"):
        value = clean[unique]
        if value and db.scalar(
            sa.select(Lead.id).where(getattr(Lead, unique) == value, Lead.id != lead.id)
        ):
            raise normalize.LeadDataError(unique, f"Another lead already has this {unique}.")
    changed = [k for k, v in clean.items() if getattr(lead, k) != v]
    current_custom = dict(lead.custom_fields or {})
    kept = {k: v for k, v in current_custom.items() if k not in custom}
    new_custom = {**kept, **clean_custom}
    changed += [
        f"custom.{k}"
        for k in sorted(set(current_custom) | set(new_custom))
        if current_custom.get(k) != new_custom.get(k)
    ]
    if not changed:
        return []
    try:
        with db.begin_nested():
            for k, v in clean.items():
                setattr(lead, k, v)
            lead.custom_fields = new_custom
            db.flush()
    except sa.exc.IntegrityError:
        # Another request took this email or phone a moment ago.
        db.refresh(lead)
        raise normalize.LeadDataError(
            "email" if clean["email"] else "phone",
            "Another lead already has this email or phone.",
        ) from None
    _change(
        db, actor, lead, "Edited: " + ", ".join(changed) + ".", "lead.update", {"fields": changed}
    )
    return changed


def set_status(db: Session, actor: Actor, lead: Lead, status: str) -> bool:
    if status not in LEAD_STATUSES:
        raise LeadInputError("Unknown status.", "status")
    if lead.status == status:
        return False
    previous, lead.status = lead.status, status
    _change(
        db,
        actor,
        lead,
        f"Status: {previous} → {status}.",
        "lead.status",
        {"from": previous, "to": status},
    )
    return True


def assignable_user(db: Session, text: str) -> User | None:
    """An active team member from a form value ("" or "none": nobody)."""
    text = (text or "").strip()
    if text in ("", "none"):
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        raise LeadInputError("Choose an active team member.", "assignee")
    user = db.get(User, int(text))
    if user is None or not user.is_active:
        raise LeadInputError("Choose an active team member.", "assignee")
    return user


def assign(db: Session, actor: Actor, lead: Lead, user: User | None) -> bool:
    new_id = user.id if user else None
    if lead.assigned_user_id == new_id:
        return False
    lead.assigned_user_id = new_id
    body = f"Assigned to {user.display_name}." if user else "Unassigned."
    _change(db, actor, lead, body, "lead.assign", {"user_id": new_id})
    return True


def normalize_tag(text: str) -> str:
    tag = " ".join(str(text).split()).lower()
    if not tag or len(tag) > MAX_TAG or not _TAG_RE.match(tag):
        raise LeadInputError(
            f"A tag is letters, digits, spaces, - and _ ({MAX_TAG} characters at most).", "tags"
        )
    return tag


def parse_tags(text: str) -> list[str]:
    tags = []
    for part in text.replace("\n", ",").split(","):
        if part.strip():
            tag = normalize_tag(part)
            if tag not in tags:
                tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise LeadInputError(f"At most {MAX_TAGS} tags.", "tags")
    return tags


def set_tags(db: Session, actor: Actor, lead: Lead, tags: list[str]) -> bool:
    if list(lead.tags or []) == tags:
        return False
    lead.tags = tags
    _change(
        db, actor, lead, "Tags: " + (", ".join(tags) or "none") + ".", "lead.tags", {"tags": tags}
    )
    return True


def add_note(db: Session, actor: Actor, lead: Lead, body: str) -> LeadActivity:
    body = (body or "").strip()
    if not body:
        raise LeadInputError("Write the note first.", "body")
    if len(body) > MAX_NOTE:
        raise LeadInputError(f"A note is {MAX_NOTE} characters at most.", "body")
    note = LeadActivity(
        lead_id=lead.id,
        kind="note",
        body=body,
        data={},
        actor_user_id=actor.user_id,
        actor_label=actor.label,
    )
    db.add(note)
    audit.record(db, actor, "lead.note", "lead", lead.id, {"length": len(body)})
    return note


def edit_ai_note(db: Session, actor: Actor, lead: Lead, text: str) -> None:
    """A person's edit: kept until someone presses Regenerate."""
    text = (text or "").replace("\r\n", "\n").strip()
    if len(text) > MAX_AI_NOTE:
        raise LeadInputError(f"The note is {MAX_AI_NOTE} characters at most.", "ai_note")
    lead.ai_note = text or None
    lead.ai_note_edited = True
    capture.activity(db, lead, "ai_note", "The AI note was edited by a person.", actor)
    audit.record(db, actor, "lead.ai_note_edit", "lead", lead.id, {"length": len(text)})


def request_regenerate(db: Session, actor: Actor, lead: Lead) -> None:
    """Regenerate: the person's edit no longer protects the note; the job rewrites it."""

    lead.ai_note_edited = False
    audit.record(db, actor, "lead.ai_note_regenerate", "lead", lead.id, {})
    note_after_commit(db, lead.id, lead.ai_note_conversation_id)


def resolve_proposal(
    db: Session, actor: Actor, lead: Lead, proposal_id: int, accept: bool
) -> LeadProposal:
    proposal = db.get(LeadProposal, proposal_id)
    if proposal is None or proposal.lead_id != lead.id:
        raise LeadInputError("No such proposal for this lead.")
    if proposal.state != "pending":
        raise LeadInputError("This proposal was already decided.")
    try:
        with db.begin_nested():
            capture.resolve_proposal(db, actor, proposal, accept)
            db.flush()
    except sa.exc.IntegrityError:
        db.refresh(lead)
        raise LeadInputError(f"Another lead already has this {proposal.field}.") from None
    return proposal


# -- bulk actions ---------------------------------------------------------------------------


def leads_by_ids(db: Session, ids: list[int]) -> list[Lead]:
    if not ids:
        return []
    return list(db.scalars(sa.select(Lead).where(Lead.id.in_(ids)).order_by(Lead.id)))


def bulk_status(db: Session, actor: Actor, leads: list[Lead], status: str) -> int:
    if status not in LEAD_STATUSES:
        raise LeadInputError("Choose a status.", "status")
    return sum(set_status(db, actor, lead, status) for lead in leads)


def bulk_assign(db: Session, actor: Actor, leads: list[Lead], user: User | None) -> int:
    return sum(assign(db, actor, lead, user) for lead in leads)


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


# -- admin settings: per-site lead forms, questions, rules ----------------------------------

FIELD_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
CORE_FORM_FIELDS = {"name": "text", "email": "email", "phone": "phone", "company": "text"}
CUSTOM_FIELD_KINDS = ("text", "textarea", "select")
MAX_CUSTOM_FIELDS = 10
MAX_OPTIONS = 20
MAX_OPTION = 100
MAX_RECIPIENTS = 10
MAX_RULES = 20
MAX_QUESTIONS = 50


def _flag(value: str) -> bool:
    return value == "1"


def _int(value: str, name: str, label: str, low: int, high: int) -> int:
    value = value.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 6 and low <= int(value) <= high):
        raise LeadInputError(f"{label} must be a whole number from {low} to {high}.", name)
    return int(value)


def _options(text: str, name: str) -> list[str]:
    options = []
    for part in text.replace("\n", ",").split(","):
        option = " ".join(part.split())
        if not option:
            continue
        if len(option) > MAX_OPTION:
            raise LeadInputError(f"An option is {MAX_OPTION} characters at most.", name)
        if option not in options:
            options.append(option)
    if len(options) > MAX_OPTIONS:
        raise LeadInputError(f"At most {MAX_OPTIONS} options.", name)
    return options


def parse_custom_names(text: str) -> list[str]:
    names = []
    for part in text.replace(",", "\n").split("\n"):
        name = part.strip().lower()
        if not name:
            continue
        if not FIELD_NAME_RE.match(name) or name in CORE_FORM_FIELDS:
            raise LeadInputError(
                f"“{name[:40]}” cannot be a custom field name: use lower-case letters, digits and "
                "_ (starting with a letter), and not name, email, phone or company.",
                "custom_fields",
            )
        if name not in names:
            names.append(name)
    if len(names) > MAX_CUSTOM_FIELDS:
        raise LeadInputError(f"At most {MAX_CUSTOM_FIELDS} custom fields.", "custom_fields")
    return names


def parse_recipients(text: str) -> list[str]:
    recipients = []
    for part in text.replace(",", "\n").split():
        try:
            email = normalize.email(part)
        except normalize.LeadDataError:
            raise LeadInputError(
                f"“{part[:80]}” is not an email address.", "notify_emails"
            ) from None
        if email not in recipients:
            recipients.append(email)
    if len(recipients) > MAX_RECIPIENTS:
        raise LeadInputError(f"At most {MAX_RECIPIENTS} recipients.", "notify_emails")
    return recipients


def form_rows(form) -> list[dict]:
    """Every field the admin may place on a site's form, shown or not, in the form's order."""
    by_name = {f.get("name"): f for f in (form.fields or []) if isinstance(f, dict)}
    rows = []
    names = list(CORE_FORM_FIELDS) + [n for n in form.custom_fields or [] if isinstance(n, str)]
    order = {f.get("name"): i for i, f in enumerate(form.fields or []) if isinstance(f, dict)}
    for index, name in enumerate(names):
        spec = by_name.get(name)
        rows.append(
            {
                "name": name,
                "custom": name not in CORE_FORM_FIELDS,
                "shown": spec is not None,
                "label": (spec or {}).get("label") or name.replace("_", " ").capitalize(),
                "kind": (spec or {}).get("kind") or CORE_FORM_FIELDS.get(name, "text"),
                "required": bool((spec or {}).get("required")),
                "options": ", ".join((spec or {}).get("options") or []),
                "order": order.get(name, len(names) + index),
            }
        )
    rows.sort(key=lambda r: (not r["shown"], r["order"]))
    for position, row in enumerate(rows):
        row["order"] = position
    return rows


def parse_lead_form(get) -> dict:
    """A site's lead form from the posted fields; ``get(name, max_length)`` reads one."""
    intro = " ".join(get("intro", 1000).split())
    if not intro:
        raise LeadInputError("Write the text shown above the form.", "intro")
    if len(intro) > 500:
        raise LeadInputError("The intro is 500 characters at most.", "intro")
    after_messages = _int(
        get("after_messages", 10) or "0", "after_messages", "After messages", 0, 100
    )
    custom_names = parse_custom_names(get("custom_fields", 2000))
    recipients = parse_recipients(get("notify_emails", 4000))
    fields = []
    for index, name in enumerate(list(CORE_FORM_FIELDS) + custom_names):
        shown = _flag(get(f"show_{name}", 5))
        label_text = get(f"label_{name}", 200)
        order_text = get(f"order_{name}", 10)
        if name not in CORE_FORM_FIELDS and not (label_text or order_text):
            shown = True  # a custom field just named: added to the form as a text field
        label = " ".join(label_text.split()) or name.replace("_", " ").capitalize()
        if len(label) > 80:
            raise LeadInputError("A label is 80 characters at most.", f"label_{name}")
        required = _flag(get(f"required_{name}", 5))
        order = _int(order_text, f"order_{name}", "The order", 0, 99) if order_text else 50 + index
        if name in CORE_FORM_FIELDS:
            kind, options = CORE_FORM_FIELDS[name], []
        else:
            kind = get(f"kind_{name}", 20) or "text"
            if kind not in CUSTOM_FIELD_KINDS:
                raise LeadInputError(
                    "A custom field is one of: " + ", ".join(CUSTOM_FIELD_KINDS) + ".",
                    f"kind_{name}",
                )
            options = _options(get(f"options_{name}", 4000), f"options_{name}")
            if kind == "select" and len(options) < 2:
                raise LeadInputError(
                    "A choice field needs at least two options.", f"options_{name}"
                )
            if kind != "select":
                options = []
        if shown:
            fields.append(
                (
                    order,
                    index,
                    {
                        "name": name,
                        "label": label,
                        "kind": kind,
                        "required": required,
                        "options": options,
                    },
                )
            )
    fields.sort(key=lambda item: (item[0], item[1]))
    specs = [spec for _order, _index, spec in fields]
    if not any(spec["name"] in ("email", "phone") for spec in specs):
        raise LeadInputError("The form needs an email or a phone field.", "show_email")
    return {
        "fields": specs,
        "custom_fields": custom_names,
        "intro": intro,
        "after_messages": after_messages,
        "before_handoff": _flag(get("before_handoff", 5)),
        "on_booking_intent": _flag(get("on_booking_intent", 5)),
        "notify_emails": recipients,
    }


def save_lead_form(db: Session, actor: Actor, site_id: int, data: dict):

    form = db.get(LeadForm, site_id)
    if form is None:
        form = LeadForm(site_id=site_id)
        db.add(form)
    for key, value in data.items():
        setattr(form, key, value)
    db.flush()
    audit.record(
        db,
        actor,
        "lead_form.update",
        "site",
        site_id,
        {
            "fields": [f["name"] for f in data["fields"]],
            "custom_fields": data["custom_fields"],
            "recipients": len(data["notify_emails"]),
        },
    )
    return form


def parse_phone_region(text: str) -> str:
    import phonenumbers

    region = text.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise LeadInputError(
            "The phone region is a two-letter country code such as US, GB or DE.", "phone_region"
        )
    return region


def _settings_row(db: Session):

    row = db.get(LeadSettings, 1)
    if row is None:
        row = LeadSettings(
            id=1,
            rules=[],
            handoff_when_qualified=False,
            notify_when_qualified=True,
            phone_region="US",
        )
        db.add(row)
    return row


def save_settings(db: Session, actor: Actor, region: str, handoff: bool, notify: bool) -> None:
    row = _settings_row(db)
    row.phone_region = region
    row.handoff_when_qualified = handoff
    row.notify_when_qualified = notify
    db.flush()
    audit.record(
        db,
        actor,
        "lead_settings.update",
        "lead_settings",
        1,
        {
            "phone_region": region,
            "handoff_when_qualified": handoff,
            "notify_when_qualified": notify,
        },
    )


def all_questions(db: Session) -> list[QualificationQuestion]:
    return list(
        db.scalars(
            sa.select(QualificationQuestion).order_by(
                QualificationQuestion.position, QualificationQuestion.id
            )
        )
    )


def parse_question(get, key_required: bool) -> dict:

    data = {}
    if key_required:
        key = get("key", 100).strip().lower()
        if not FIELD_NAME_RE.match(key):
            raise LeadInputError(
                "The key is lower-case letters, digits and _ (starting with a letter), "
                "40 characters at most.",
                "key",
            )
        data["key"] = key
    text = " ".join(get("text", 1000).split())
    if not text or len(text) > 300:
        raise LeadInputError("Write the question (300 characters at most).", "text")
    kind = get("kind", 20)
    if kind not in QUESTION_KINDS:
        raise LeadInputError("The kind is one of: " + ", ".join(QUESTION_KINDS) + ".", "kind")
    options = _options(get("options", 4000), "options")
    if kind in ("single", "multi") and len(options) < 2:
        raise LeadInputError("A choice question needs at least two options.", "options")
    if kind not in ("single", "multi"):
        options = []
    data.update(text=text, kind=kind, options=options, required=_flag(get("required", 5)))
    return data


def add_question(db: Session, actor: Actor, data: dict) -> QualificationQuestion:
    if db.scalar(sa.select(sa.func.count(QualificationQuestion.id))) >= MAX_QUESTIONS:
        raise LeadInputError(f"At most {MAX_QUESTIONS} questions.")
    if db.scalar(
        sa.select(QualificationQuestion.id).where(QualificationQuestion.key == data["key"])
    ):
        raise LeadInputError("Another question already has this key.", "key")
    position = (db.scalar(sa.select(sa.func.max(QualificationQuestion.position))) or 0) + 1
    question = QualificationQuestion(position=position, active=True, **data)
    try:
        with db.begin_nested():
            db.add(question)
            db.flush()
    except sa.exc.IntegrityError:
        raise LeadInputError("Another question already has this key.", "key") from None
    audit.record(
        db,
        actor,
        "lead_question.create",
        "lead_question",
        question.id,
        {"key": question.key, "kind": question.kind},
    )
    return question


def update_question(
    db: Session, actor: Actor, question: QualificationQuestion, data: dict, active: bool
) -> None:
    for key, value in data.items():
        setattr(question, key, value)
    question.active = active
    db.flush()
    audit.record(
        db,
        actor,
        "lead_question.update",
        "lead_question",
        question.id,
        {"key": question.key, "kind": question.kind, "active": active},
    )


def move_question(db: Session, actor: Actor, question: QualificationQuestion, up: bool) -> None:
    ordered = all_questions(db)
    index = next(i for i, q in enumerate(ordered) if q.id == question.id)
    other = index - 1 if up else index + 1
    if 0 <= other < len(ordered):
        ordered[index], ordered[other] = ordered[other], ordered[index]
    for position, item in enumerate(ordered):
        item.position = position
    db.flush()
    audit.record(
        db,
        actor,
        "lead_question.move",
        "lead_question",
        question.id,
        {"direction": "up" if up else "down"},
    )


def _rule_value(question: QualificationQuestion, op: str, text: str, field_name: str):
    text = " ".join(text.split())
    if not text:
        raise LeadInputError("Each rule needs a value.", field_name)
    if len(text) > 300:
        raise LeadInputError("A rule's value is 300 characters at most.", field_name)

    def number(value: str):
        try:
            parsed = float(value.replace(",", ""))
        except ValueError:
            raise LeadInputError(f"“{value}” is not a number.", field_name) from None
        if parsed != parsed or parsed in (float("inf"), float("-inf")):
            raise LeadInputError(f"“{value}” is not a number.", field_name)
        return int(parsed) if parsed.is_integer() else parsed

    def date(value: str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            raise LeadInputError(f"“{value}” is not a date like 2026-01-31.", field_name) from None

    if op == "in":
        items = [p.strip() for p in text.split(",") if p.strip()]
        if question.kind == "number":
            return [number(p) for p in items]
        return items
    if op in (">=", "<=", ">", "<"):
        if question.kind == "number":
            return number(text)
        if question.kind == "date":
            return date(text)
        raise LeadInputError(
            f"{op} compares numbers or dates; “{question.key}” is a {question.kind} question.",
            field_name,
        )
    if question.kind == "number":
        return number(text)
    if question.kind == "date":
        return date(text)
    if question.kind in ("single", "multi") and text not in (question.options or []):
        raise LeadInputError(f"“{text}” is not one of the options of “{question.key}”.", field_name)
    return text


def parse_rules(db: Session, get, rows: int) -> list[dict]:

    questions = {q.key: q for q in all_questions(db)}
    rules = []
    for index in range(min(rows, MAX_RULES)):
        key = get(f"rule_question_{index}", 100).strip()
        op = get(f"rule_op_{index}", 20).strip()
        value = get(f"rule_value_{index}", 1000)
        if not key:
            continue
        if key not in questions:
            raise LeadInputError("Choose one of the questions.", f"rule_question_{index}")
        if op not in RULE_OPS:
            raise LeadInputError(
                "The comparison is one of: " + ", ".join(RULE_OPS) + ".", f"rule_op_{index}"
            )
        rules.append(
            {
                "question": key,
                "op": op,
                "value": _rule_value(questions[key], op, value, f"rule_value_{index}"),
            }
        )
    try:
        return validate_rules(rules)
    except ValueError as exc:
        raise LeadInputError(str(exc)) from None


def save_rules(db: Session, actor: Actor, rules: list[dict]) -> None:
    row = _settings_row(db)
    row.rules = rules
    db.flush()
    audit.record(
        db,
        actor,
        "lead_rules.update",
        "lead_settings",
        1,
        {"rules": [f"{r['question']} {r['op']} {r['value']}" for r in rules]},
    )


def rule_text(value) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)

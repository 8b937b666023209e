"""Queries behind the live staff inbox: the filtered, searchable, keyset-paginated list,
one conversation with its visitor context, and what staff have read.

Filters and sites come from server-side allowlists; search text only ever reaches the
database as a bound LIKE/ILIKE parameter with its wildcards escaped.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.accounts.models import User
from asthron.conversations import service
from asthron.conversations.hooks import SidePanel, message_hooks
from asthron.conversations.models import (
    Conversation,
    ConversationEvent,
    Visitor,
    VisitorPageView,
)
from asthron.conversations.service import ConversationError, InvalidInput
from asthron.db import utcnow
from asthron.inbox.models import ConversationSummary
from asthron.sites.models import Site

PAGE_SIZE = 50
MAX_QUERY = 200
PAGES_SEEN = 10
WAITING_ALERT_LIMIT = 50
MESSAGE_TYPES = ("visitor_message", "assistant_message", "staff_message")
# What a search looks in besides the visitor's name and email: the chat's messages and the
# staff's own notes (staff see those anyway), never system lines.
SEARCHED_TYPES = (*MESSAGE_TYPES, "note")

# The filter allowlist: name -> label. Anything else is a 400.
FILTERS = {
    "all": "All",
    "waiting": "Waiting",
    "mine": "Mine",
    "assistant": "With the assistant",
    "human": "With a person",
    "closed": "Closed",
}
# The channels a list may be filtered by (conversations.channel): name -> label.
CHANNELS = {
    "web": "Website",
    "whatsapp": "WhatsApp",
    "messenger": "Messenger",
    "instagram": "Instagram",
}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_CURSOR_RE = re.compile(r"^(\d{1,17})-(\d{1,10})$")


class InboxInputError(ConversationError):
    code = "invalid_filter"


@dataclass(frozen=True)
class InboxQuery:
    filter: str = "all"
    site_id: int | None = None
    q: str = ""
    before: tuple[dt.datetime, int] | None = None
    channel: str | None = None

    def params(self, with_cursor: bool = False) -> dict:
        """The query string that reproduces this query (for links and the live stream)."""
        out = {}
        if self.filter != "all":
            out["filter"] = self.filter
        if self.site_id is not None:
            out["site"] = str(self.site_id)
        if self.q:
            out["q"] = self.q
        if self.channel is not None:
            out["channel"] = self.channel
        if with_cursor and self.before is not None:
            out["before"] = encode_cursor(*self.before)
        return out


@dataclass(frozen=True)
class Row:
    id: int
    status: str
    owner: str
    assigned_user_id: int | None
    assigned_name: str | None
    visitor_id: int
    visitor_name: str | None
    visitor_email: str | None
    site_id: int
    site_name: str
    last_message: str | None
    last_activity_at: dt.datetime
    waiting_since: dt.datetime | None
    unread: int
    channel: str = "web"

    @property
    def channel_label(self) -> str:
        return CHANNELS.get(self.channel, self.channel)

    @property
    def visitor_label(self) -> str:
        return self.visitor_name or self.visitor_email or f"Visitor #{self.visitor_id}"


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_cursor: str | None


# -- input ----------------------------------------------------------------------------------


def encode_cursor(last_activity_at: dt.datetime, conversation_id: int) -> str:
    micros = (last_activity_at - _EPOCH) // dt.timedelta(microseconds=1)
    return f"{micros}-{conversation_id}"


def decode_cursor(text: str) -> tuple[dt.datetime, int]:
    match = _CURSOR_RE.match(text or "")
    if not match:
        raise InboxInputError("The page cursor is not valid; start from the first page.")
    micros, conversation_id = int(match.group(1)), int(match.group(2))
    try:
        when = _EPOCH + dt.timedelta(microseconds=micros)
    except OverflowError:
        raise InboxInputError("The page cursor is not valid; start from the first page.") from None
    return when, conversation_id


def site_choices(db: Session) -> list[tuple[int, str]]:
    """The sites a list may be filtered by: the allowlist for ``site``."""
    return [
        (row.id, row.name) for row in db.execute(sa.select(Site.id, Site.name).order_by(Site.name))
    ]


def parse_query(db: Session, params) -> InboxQuery:
    """An InboxQuery from request.GET-like params, or InboxInputError with a clear message."""

    def one(name: str) -> str:
        values = params.getall(name) if hasattr(params, "getall") else [params.get(name, "")]
        values = [v for v in values if v is not None]
        if len(values) > 1:
            raise InboxInputError(f"The parameter {name} was sent more than once.")
        return values[0] if values else ""

    name = one("filter") or "all"
    if name not in FILTERS:
        raise InboxInputError("Unknown filter; choose one of: " + ", ".join(FILTERS) + ".")
    site_id = None
    site_text = one("site")
    if site_text:
        allowed = {sid for sid, _name in site_choices(db)}
        if not (site_text.isascii() and site_text.isdigit() and int(site_text) in allowed):
            raise InboxInputError("Unknown site.")
        site_id = int(site_text)
    q = one("q")
    q = "".join(ch for ch in q if ord(ch) >= 32).strip()
    if len(q) > MAX_QUERY:
        raise InboxInputError(f"The search is too long ({MAX_QUERY} characters at most).")
    before_text = one("before")
    before = decode_cursor(before_text) if before_text else None
    channel = one("channel") or None
    if channel is not None and channel not in CHANNELS:
        raise InboxInputError("Unknown channel; choose one of: " + ", ".join(CHANNELS) + ".")
    return InboxQuery(name, site_id, q, before, channel)


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE's own wildcards (and the escape character) taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# -- the list -------------------------------------------------------------------------------


def _filtered(stmt, query: InboxQuery, user_id: int | None):
    C = Conversation
    name = query.filter
    if name == "waiting":
        stmt = stmt.where(C.status == "open", C.owner == "waiting")
    elif name == "mine":
        stmt = stmt.where(C.status == "open", C.owner == "human", C.assigned_user_id == user_id)
    elif name == "assistant":
        stmt = stmt.where(C.status == "open", C.owner == "assistant")
    elif name == "human":
        stmt = stmt.where(C.status == "open", C.owner == "human")
    elif name == "closed":
        stmt = stmt.where(C.status == "closed")
    if query.site_id is not None:
        stmt = stmt.where(C.site_id == query.site_id)
    if query.channel is not None:
        stmt = stmt.where(C.channel == query.channel)
    if query.q:
        pattern = like_pattern(query.q)
        in_messages = (
            sa.select(ConversationEvent.id)
            .where(
                ConversationEvent.conversation_id == C.id,
                ConversationEvent.type.in_(SEARCHED_TYPES),
                ConversationEvent.body.ilike(pattern, escape="\\"),
            )
            .exists()
        )
        stmt = stmt.where(
            sa.or_(
                Visitor.name.ilike(pattern, escape="\\"),
                Visitor.email.ilike(pattern, escape="\\"),
                in_messages,
            )
        )
    return stmt


def list_conversations(
    db: Session, user_id: int | None, query: InboxQuery, limit: int | None = None
) -> Page:
    """One page, newest activity first, keyset-paginated on (last_activity_at, id)."""
    limit = limit or PAGE_SIZE
    C = Conversation
    last_message = (
        sa.select(ConversationEvent.body)
        .where(
            ConversationEvent.conversation_id == C.id,
            ConversationEvent.type.in_(MESSAGE_TYPES),
        )
        .order_by(ConversationEvent.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    stmt = (
        sa.select(
            C.id,
            C.status,
            C.owner,
            C.assigned_user_id,
            User.display_name,
            Visitor.id,
            Visitor.name,
            Visitor.email,
            C.site_id,
            Site.name,
            last_message,
            C.last_activity_at,
            C.waiting_since,
            C.unread_for_staff,
            C.channel,
        )
        .join(Visitor, Visitor.id == C.visitor_id)
        .join(Site, Site.id == C.site_id)
        .outerjoin(User, User.id == C.assigned_user_id)
    )
    stmt = _filtered(stmt, query, user_id)
    if query.before is not None:
        when, before_id = query.before
        stmt = stmt.where(
            C.last_activity_at <= when,
            sa.or_(C.last_activity_at < when, C.id < before_id),
        )
    stmt = stmt.order_by(C.last_activity_at.desc(), C.id.desc()).limit(limit + 1)
    rows = [Row(*values) for values in db.execute(stmt)]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].last_activity_at, rows[-1].id)
    return Page(rows, next_cursor)


@dataclass(frozen=True)
class Waiting:
    id: int
    visitor_label: str
    site_name: str
    waiting_since: dt.datetime | None


def waiting_conversations(db: Session, limit: int = WAITING_ALERT_LIMIT) -> list[Waiting]:
    """Open chats waiting for a person, longest-waiting first (for alerts and the badge)."""
    rows = db.execute(
        sa.select(
            Conversation.id,
            Visitor.id,
            Visitor.name,
            Visitor.email,
            Site.name,
            Conversation.waiting_since,
        )
        .join(Visitor, Visitor.id == Conversation.visitor_id)
        .join(Site, Site.id == Conversation.site_id)
        .where(Conversation.status == "open", Conversation.owner == "waiting")
        .order_by(Conversation.waiting_since, Conversation.id)
        .limit(limit)
    )
    return [
        Waiting(cid, name or email or f"Visitor #{vid}", site, since)
        for cid, vid, name, email, site, since in rows
    ]


def waited(since: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """How long a chat has waited, for people: "just now", "4 min", "1 h 05 min"."""
    if since is None:
        return ""
    seconds = max(0, int(((now or utcnow()) - since).total_seconds()))
    if seconds < 60:
        return "just now"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} days"


# -- one conversation -----------------------------------------------------------------------


@dataclass(frozen=True)
class Detail:
    conversation: Conversation
    visitor: Visitor
    site: Site
    owner: User | None
    summary: ConversationSummary | None
    pages_seen: list[VisitorPageView]
    # What features know about the conversation (the lead...), through the side_panels hook.
    panels: list[SidePanel] = field(default_factory=list)


def get_conversation(db: Session, conversation_id: int) -> Conversation:
    conversation = db.get(Conversation, conversation_id)
    if conversation is None:
        raise service.NotFound("No such conversation.")
    return conversation


def detail(db: Session, conversation: Conversation) -> Detail:
    visitor = db.get(Visitor, conversation.visitor_id)
    owner = db.get(User, conversation.assigned_user_id) if conversation.assigned_user_id else None
    pages = list(
        db.scalars(
            sa.select(VisitorPageView)
            .where(VisitorPageView.visitor_id == visitor.id)
            .order_by(VisitorPageView.id.desc())
            .limit(PAGES_SEEN)
        )
    )
    return Detail(
        conversation=conversation,
        visitor=visitor,
        site=db.get(Site, conversation.site_id),
        owner=owner,
        summary=db.get(ConversationSummary, conversation.id),
        pages_seen=pages,
        panels=message_hooks(db).side_panels(db, conversation.id),
    )


def visitor_local_time(visitor: Visitor, now: dt.datetime | None = None) -> dt.datetime | None:
    """The visitor's wall-clock time, when their browser told us a valid time zone."""
    if not visitor.timezone:
        return None
    try:
        zone = ZoneInfo(visitor.timezone)
    except (ValueError, KeyError, OSError):
        return None
    return (now or utcnow()).astimezone(zone)


def owner_name(db: Session, conversation: Conversation) -> str | None:
    if conversation.assigned_user_id is None:
        return None
    user = db.get(User, conversation.assigned_user_id)
    return user.display_name if user else None


def mark_read_by_staff(db: Session, conversation: Conversation, last_event_id) -> int:
    """Staff have seen the conversation up to ``last_event_id``; returns the unread count."""
    if not isinstance(last_event_id, int) or isinstance(last_event_id, bool) or last_event_id < 0:
        raise InvalidInput("last_event_id must be a non-negative integer.")
    newest = (
        db.scalar(
            sa.select(sa.func.max(ConversationEvent.id)).where(
                ConversationEvent.conversation_id == conversation.id
            )
        )
        or 0
    )
    read_up_to = min(last_event_id, newest)
    if read_up_to <= conversation.staff_read_event_id:
        return conversation.unread_for_staff
    conversation.staff_read_event_id = read_up_to
    unread = db.scalar(
        sa.select(sa.func.count()).where(
            ConversationEvent.conversation_id == conversation.id,
            ConversationEvent.id > read_up_to,
            ConversationEvent.type == "visitor_message",
        )
    )
    if unread != conversation.unread_for_staff:
        conversation.unread_for_staff = unread
        service.publish_inbox(db, conversation, "read")
    return unread


def staff_event_json(event: ConversationEvent) -> dict:
    """An event as the staff stream sends it: everything, notes included, marked internal."""
    data = service.event_json(event)
    data["public"] = bool(event.public)
    data["author_user_id"] = event.author_user_id
    data["data"] = dict(event.data or {})
    return data

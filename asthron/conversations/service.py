"""Visitors, conversations and their event log: the spine every later feature writes to."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import domain_events
from asthron.accounts.service import AccountError, normalize_email
from asthron.conversations.history import AUTHOR_OF_TYPE
from asthron.conversations.hooks import OutboundMessage, VisitorMessage, message_hooks
from asthron.conversations.models import Conversation, ConversationEvent, Visitor, VisitorPageView
from asthron.db import registry_of, utcnow
from asthron.realtime import INBOX_CHANNEL, conversation_channel, notifier_for_session
from asthron.security.tokens import new_token, token_hash
from asthron.sites.config import MAX_MESSAGE_LENGTH
from asthron.sites.models import Site
from asthron.text import has_controls, single_line, strip_controls

CLIENT_ID_RE = re.compile(r"\A[A-Za-z0-9_-]{8,64}\Z")
TOUCH_INTERVAL = dt.timedelta(seconds=60)
MAX_EVENT_ID = 2**31 - 1  # an Integer primary key on every database
EVENT_LOG_LOCK = 0x61737468  # "asth": the advisory lock that orders event-log commits
WEB_CHANNEL = "web"
# What goes back out through a messaging channel: what the visitor would see in the widget,
# except cards (forms the widget draws; a channel has no way to show them).
OUTBOUND_TYPES = frozenset({"assistant_message", "staff_message", "system"})
# A card (a lead form, a booking card, a payment) is widget-only; a channel without cards sends
# its ``data["text_fallback"]`` instead (e.g. the booking page's link), when the card has one.
CARD_FALLBACK = "text_fallback"


class ConversationError(Exception):
    """A domain error with a stable code for clients (asthron.errors maps codes to HTTP)."""

    code = "invalid_request"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class NotFound(ConversationError):
    code = "not_found"

    def __init__(self, message: str = "Not found."):
        super().__init__(message)


class InvalidInput(ConversationError):
    code = "invalid_input"


def _clean_text(value, field: str, max_length: int, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string.")
    # Control characters other than newlines and tabs (C0, DEL, C1) have no place in a chat
    # message, and would reach the operator's terminal from there (asthron.text).
    value = strip_controls(value, keep="\n\t").strip()
    if required and not value:
        raise InvalidInput(f"{field} must not be empty.")
    if len(value) > max_length:
        raise InvalidInput(f"{field} is too long ({max_length} characters at most).", "too_long")
    return value


def _clean_url(value) -> str | None:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        return None
    if has_controls(value) or any(ch.isspace() for ch in value):
        return None
    return value[:2000]


# -- visitors -------------------------------------------------------------------------------


def start_visitor(
    db: Session,
    site: Site,
    user_agent: str | None,
    page_url=None,
    timezone=None,
    verified_identity: tuple[str, str | None] | None = None,
) -> tuple[Visitor, str]:
    """A new visitor and its token. ``verified_identity`` is (email, name) whose signature the
    caller has already checked; nothing else may set ``verified_email``."""
    token = new_token()
    email, name = verified_identity or (None, None)
    visitor = Visitor(
        site_id=site.id,
        token_hash=token_hash(token),
        user_agent=single_line(user_agent or "")[:300] or None,
        current_page_url=_clean_url(page_url),
        timezone=(single_line(timezone)[:64] or None) if isinstance(timezone, str) else None,
        verified_email=email,
        email=email,
        name=name,
    )
    db.add(visitor)
    db.flush()
    return visitor, token


def visitor_for_token(db: Session, token) -> Visitor | None:
    if not isinstance(token, str) or not (20 <= len(token) <= 100):
        return None
    visitor = db.scalar(sa.select(Visitor).where(Visitor.token_hash == token_hash(token)))
    if visitor is not None and utcnow() - visitor.last_seen_at > TOUCH_INTERVAL:
        visitor.last_seen_at = utcnow()
    return visitor


def record_consent(db: Session, visitor: Visitor, site: Site) -> Visitor:
    if visitor.consent_at is None:
        visitor.consent_at = utcnow()
        # The notice as it read when the visitor acknowledged it.
        visitor.consent_notice = site.privacy_notice
        # ...and the version of the privacy page the widget linked to.
        visitor.consent_policy_version = site.privacy_policy_version
    return visitor


def update_page(visitor: Visitor, page_url, db: Session | None = None) -> None:
    url = _clean_url(page_url)
    if url and url != visitor.current_page_url:
        visitor.current_page_url = url
        if db is not None:
            db.add(VisitorPageView(visitor_id=visitor.id, url=url))


# -- conversations --------------------------------------------------------------------------


def open_conversation(
    db: Session, visitor: Visitor, channel: str = WEB_CHANNEL, thread_id: str | None = None
) -> tuple[Conversation, bool]:
    """The visitor's open conversation, created if there is none. The unique constraint on
    (visitor_id, open_slot) settles concurrent first messages: the loser reads the winner's.
    ``channel`` and ``thread_id`` say where a new conversation came from (asthron.channels)."""
    existing = current_conversation(db, visitor)
    if existing is not None:
        return existing, False
    conversation = Conversation(
        site_id=visitor.site_id, visitor_id=visitor.id, channel=channel, channel_thread_id=thread_id
    )
    try:
        with db.begin_nested():
            db.add(conversation)
    except sa.exc.IntegrityError:
        existing = current_conversation(db, visitor)
        if existing is None:
            raise
        return existing, False
    publish_inbox(db, conversation, "created")
    domain_events.record(
        db,
        "conversation.created",
        conversation_id=conversation.id,
        site_id=conversation.site_id,
        visitor_id=visitor.id,
    )
    return conversation, True


def current_conversation(db: Session, visitor: Visitor) -> Conversation | None:
    return db.scalar(
        sa.select(Conversation).where(
            Conversation.visitor_id == visitor.id, Conversation.open_slot == 1
        )
    )


def visitor_conversation(db: Session, visitor: Visitor, conversation_id) -> Conversation:
    """A conversation of this visitor's, or NotFound: never another visitor's (no IDOR)."""
    try:
        conversation_id = int(conversation_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    conversation = db.get(Conversation, conversation_id)
    if conversation is None or conversation.visitor_id != visitor.id:
        raise NotFound()
    return conversation


# -- events ---------------------------------------------------------------------------------


def lock_conversation(db: Session, conversation: Conversation) -> None:
    """Make the caller's ownership check and its write one serialised step.

    PostgreSQL: the row lock (SELECT ... FOR UPDATE). SQLite ignores FOR UPDATE and only
    takes its write lock at the first write, so a no-op UPDATE takes it now; without it a
    Return committed between the check and the insert lets a reply land after the chat went
    back to the assistant.
    """
    if db.get_bind().dialect.name == "sqlite":
        db.execute(
            sa.update(Conversation)
            .where(Conversation.id == conversation.id)
            .values(owner=Conversation.owner)
            .execution_options(synchronize_session=False)
        )
    else:
        db.execute(
            sa.select(Conversation.id).where(Conversation.id == conversation.id).with_for_update()
        )
    db.refresh(conversation)


# The conversation events that are messages, and who wrote them (message.created).
MESSAGE_AUTHORS = {
    "visitor_message": "visitor",
    "assistant_message": "assistant",
    "staff_message": "staff",
}


def append_event(
    db: Session,
    conversation: Conversation,
    type: str,
    body: str = "",
    *,
    author_name: str | None = None,
    author_user_id: int | None = None,
    client_id: str | None = None,
    public: bool = True,
    data: dict | None = None,
) -> ConversationEvent:
    if db.get_bind().dialect.name == "postgresql":
        # Ids come from a sequence at insert time but become visible at commit, so two writers
        # could commit out of id order and a reader that already passed the later id would
        # skip the earlier one. Holding this lock until commit makes commit order id order.
        # (SQLite has one writer at a time, so it is already ordered.)
        # Lock order: the conversation's row first, then the event-log lock, as the reply
        # runner, handoff and the inbox do (they lock the row, then append); the other order
        # deadlocks with them.
        db.execute(
            sa.select(Conversation.id).where(Conversation.id == conversation.id).with_for_update()
        )
        db.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENT_LOG_LOCK})
    event = ConversationEvent(
        conversation_id=conversation.id,
        type=type,
        body=body,
        author_name=author_name,
        author_user_id=author_user_id,
        client_id=client_id,
        public=public,
        data=data or {},
    )
    goes_out = type in OUTBOUND_TYPES or (type == "card" and (data or {}).get(CARD_FALLBACK))
    if conversation.channel != WEB_CHANNEL and public and goes_out:
        # The channel queues the delivery in this transaction, or refuses the message; the
        # savepoint makes a refusal store nothing even when the caller goes on and commits.
        with db.begin_nested():
            db.add(event)
            db.flush()
            message_hooks(db).outbound_message(db, OutboundMessage(conversation, event))
    else:
        db.add(event)
        db.flush()
    conversation.last_activity_at = event.created_at
    if type in MESSAGE_AUTHORS and public:
        domain_events.record(
            db,
            "message.created",
            conversation_id=conversation.id,
            site_id=conversation.site_id,
            message_id=event.id,
            author=MESSAGE_AUTHORS[type],
            author_name=author_name,
            text=body,
        )
    if type == "visitor_message":
        conversation.unread_for_staff += 1
    elif public and type in ("assistant_message", "staff_message", "system"):
        conversation.unread_for_visitor += 1
    publish_after_commit(
        db, conversation_channel(conversation.id), {"kind": "event", "id": event.id}
    )
    publish_inbox(db, conversation, "event")
    return event


def post_visitor_message(
    db: Session, conversation: Conversation, body, client_id
) -> tuple[ConversationEvent, bool]:
    """Store a visitor's message. The same client_id again returns the stored event."""
    if conversation.status != "open":
        raise ConversationError("This conversation is closed.", "conversation_closed")
    if not isinstance(client_id, str) or not CLIENT_ID_RE.match(client_id):
        raise InvalidInput("client_id must be 8–64 letters, digits, - or _.")
    body = _clean_text(body, "body", MAX_MESSAGE_LENGTH)
    existing = _event_by_client_id(db, conversation.id, client_id)
    if existing is not None:
        return existing, False
    try:
        event = append_event(db, conversation, "visitor_message", body, client_id=client_id)
    except sa.exc.IntegrityError as exc:
        # The same message, sent twice at once, was stored by the other request after our
        # check. This transaction is spent (no savepoint: it would cost every message two
        # statements); the request is retried, and the retry finds the stored event.
        from pyramid_retry import mark_error_retryable

        mark_error_retryable(exc)
        raise
    return event, True


def receive_visitor_message(
    db: Session, visitor: Visitor, conversation: Conversation, body, client_id, page_url=None
) -> tuple[ConversationEvent, bool]:
    """The one entry point for a visitor's message: store it, run the on-visitor-message
    hooks (a feature may hand the chat to a person), then start the assistant's reply unless
    a hook handled the message or a person owns the chat. A repeated ``client_id`` returns the
    stored event and does nothing else."""
    update_page(visitor, page_url, db)
    event, created = post_visitor_message(db, conversation, body, client_id)
    if not created:
        return event, False
    handled = message_hooks(db).on_visitor_message(db, VisitorMessage(conversation, event))
    if not handled and conversation.owner == "assistant" and conversation.status == "open":
        registry_of(db)["reply_runner"].start_reply(db, conversation)
    return event, True


def _event_by_client_id(db: Session, conversation_id: int, client_id: str):
    return db.scalar(
        sa.select(ConversationEvent).where(
            ConversationEvent.conversation_id == conversation_id,
            ConversationEvent.client_id == client_id,
        )
    )


def events_after(
    db: Session, conversation_id: int, after: int, public_only: bool = True, limit: int = 200
) -> list[ConversationEvent]:
    # Ids are 32-bit on PostgreSQL; a larger ``after`` (the API admits 18 digits) would make
    # the comparison itself fail. No id is larger, so the answer is the same: nothing.
    after = min(after, MAX_EVENT_ID)
    query = sa.select(ConversationEvent).where(
        ConversationEvent.conversation_id == conversation_id, ConversationEvent.id > after
    )
    if public_only:
        query = query.where(ConversationEvent.public.is_(True))
    return list(db.scalars(query.order_by(ConversationEvent.id).limit(limit)))


def mark_read_by_visitor(db: Session, conversation: Conversation, last_event_id) -> None:
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
    if read_up_to > conversation.visitor_read_event_id:
        conversation.visitor_read_event_id = read_up_to
    conversation.unread_for_visitor = db.scalar(
        sa.select(sa.func.count()).where(
            ConversationEvent.conversation_id == conversation.id,
            ConversationEvent.id > conversation.visitor_read_event_id,
            ConversationEvent.public.is_(True),
            ConversationEvent.type != "visitor_message",
        )
    )


def leave_offline_message(
    db: Session, visitor: Visitor, name, email, message, client_id=None
) -> tuple[Conversation, ConversationEvent]:
    """The "leave a message" form: a conversation waiting for staff, with the contact."""

    name = _clean_text(single_line(name) if isinstance(name, str) else name, "name", 120)
    try:
        email = normalize_email(email)
    except AccountError:
        raise InvalidInput("email must be a valid email address.") from None
    message = _clean_text(message, "message", MAX_MESSAGE_LENGTH)
    visitor.name, visitor.email = name, email
    conversation, _created = open_conversation(db, visitor)
    event = append_event(
        db,
        conversation,
        "visitor_message",
        message,
        author_name=name,
        data={"offline": True, "name": name, "email": email},
    )
    if conversation.owner != "human":
        conversation.owner = "waiting"
        conversation.waiting_since = conversation.waiting_since or utcnow()
    # The same hook point as any visitor message (leads captures the name and email).
    message_hooks(db).on_visitor_message(db, VisitorMessage(conversation, event))
    return conversation, event


# -- presentation and notification ----------------------------------------------------------


def event_json(event: ConversationEvent) -> dict:
    return {
        "id": event.id,
        "conversation_id": event.conversation_id,
        "type": event.type,
        "author": AUTHOR_OF_TYPE[event.type],
        "author_name": event.author_name,
        "body": event.body,
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
        "client_id": event.client_id,
        "data": {k: v for k, v in (event.data or {}).items() if k in PUBLIC_DATA_KEYS},
    }


# Event data keys a visitor may see; anything else in data stays on the staff side.
PUBLIC_DATA_KEYS = frozenset(
    {
        "reply_id",
        "offline",
        "cut_off",
        "action",
        "card",
        "card_id",
        "fields",
        "values",
        "done",
        "staff_name",
        "booking",
        "payment",
    }
)


def conversation_json(conversation: Conversation) -> dict:
    return {
        "id": conversation.id,
        "status": conversation.status,
        "owner": conversation.owner,
        "created_at": conversation.created_at.isoformat().replace("+00:00", "Z"),
        "unread": conversation.unread_for_visitor,
    }


def publish_after_commit(db: Session, channel: str, message: dict) -> None:
    """Wake streams once the transaction that stored the event has committed."""

    notifier = notifier_for_session(db)
    tm = db.info.get("transaction_manager")
    if notifier is None or tm is None:
        return

    def hook(committed):
        if committed:
            notifier.publish(channel, message)

    tm.get().addAfterCommitHook(hook)


def publish_inbox(db: Session, conversation: Conversation, change: str) -> None:
    publish_after_commit(
        db, INBOX_CHANNEL, {"kind": "conversation", "id": conversation.id, "change": change}
    )

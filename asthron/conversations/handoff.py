"""Who owns a conversation (assistant → waiting → human → assistant) and its lifecycle
(open, closed, reopened).

Every transition is one conditional UPDATE, so two people pressing Join at once cannot both
win; it is audited; it appends a public system event the visitor sees and wakes the inbox.
Decision (documented in docs/architecture.md): a conversation has exactly ONE human owner.
A second person who presses Join is told who owns it; they can still read along and leave
internal notes, and the owner can return the chat or close it.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit, domain_events
from asthron.accounts.models import User
from asthron.audit.service import Actor
from asthron.conversations import service
from asthron.conversations.hooks import HandoffRequested, message_hooks
from asthron.conversations.models import Conversation, ConversationEvent
from asthron.conversations.service import ConversationError, InvalidInput
from asthron.db import utcnow
from asthron.realtime import conversation_channel
from asthron.sites.availability import availability
from asthron.sites.service import site_snapshot

HANDOFF_REQUEST_RE = re.compile(
    r"\b(talk|speak|chat|connect me)\b.{0,30}\b(person|human|someone|agent|representative|staff|"
    r"real person|operator)\b|\b(human|real person|live agent|operator)\s*(please|pls)?[.!?]*$",
    re.IGNORECASE,
)


class AlreadyOwned(ConversationError):
    code = "already_owned"


class NotOwner(ConversationError):
    code = "not_owner"


def asks_for_person(text: str) -> bool:
    return bool(HANDOFF_REQUEST_RE.search(text or ""))


def _system(db: Session, conversation: Conversation, body: str, action: str, **data):
    return service.append_event(
        db, conversation, "system", body, author_name="System", data={"action": action, **data}
    )


def _publish_ownership(db: Session, conversation: Conversation) -> None:
    service.publish_after_commit(
        db,
        conversation_channel(conversation.id),
        {"kind": "ownership", "owner": conversation.owner},
    )


def request_handoff(db: Session, conversation: Conversation, trigger: str, reason: str) -> bool:
    """Move an assistant-owned conversation to waiting. The reason is for staff only (an
    internal note); the visitor is told honestly when to expect an answer. Returns False when
    the conversation was not the assistant's (already waiting, or a person has it)."""
    if conversation.status != "open":
        raise ConversationError("This conversation is closed.", "conversation_closed")
    changed = db.execute(
        sa.update(Conversation)
        .where(Conversation.id == conversation.id, Conversation.owner == "assistant")
        .values(owner="waiting", waiting_since=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        return False
    db.refresh(conversation)
    now = availability(db, site_snapshot(db, conversation.site_id))
    service.append_event(
        db,
        conversation,
        "note",
        f"Handoff requested ({trigger}): {reason}",
        author_name="System",
        public=False,
        data={"handoff_trigger": trigger, "reason": reason},
    )
    if now.someone_available:
        _system(
            db,
            conversation,
            "A person from our team will join this chat shortly.",
            "handoff_waiting",
        )
    else:
        # A messaging channel (WhatsApp...) is itself the way back: no email needed.
        by_channel = conversation.channel != service.WEB_CHANNEL
        _system(
            db,
            conversation,
            "Nobody from our team is available right now."
            f" We'll answer {now.answer_by_text()}"
            + (" here." if by_channel else ". Leave your email and we'll get back to you there."),
            "handoff_waiting" if by_channel else "collect_contact",
        )
    _publish_ownership(db, conversation)
    audit.record(
        db,
        Actor.system(),
        "conversation.handoff",
        "conversation",
        conversation.id,
        {"trigger": trigger, "reason": reason[:200]},
    )
    domain_events.record(
        db,
        "handoff.requested",
        conversation_id=conversation.id,
        site_id=conversation.site_id,
        trigger=trigger,
        reason=reason[:300],
        someone_available=now.someone_available,
    )
    message_hooks(db).on_handoff(
        db, HandoffRequested(conversation, trigger, reason, now.someone_available)
    )
    return True


def join(db: Session, actor: Actor, conversation: Conversation, user: User) -> None:
    if conversation.status != "open":
        raise ConversationError("This conversation is closed.", "conversation_closed")
    won = db.execute(
        sa.update(Conversation)
        .where(
            Conversation.id == conversation.id,
            Conversation.status == "open",
            sa.or_(Conversation.owner != "human", Conversation.assigned_user_id.is_(None)),
        )
        .values(owner="human", assigned_user_id=user.id, waiting_since=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.refresh(conversation)
    if not won:
        if conversation.assigned_user_id == user.id:
            return
        owner = (
            db.get(User, conversation.assigned_user_id) if conversation.assigned_user_id else None
        )
        name = owner.display_name if owner else "someone else"
        raise AlreadyOwned(f"{name} is already handling this chat.")
    _system(
        db,
        conversation,
        f"{user.display_name} joined the chat",
        "joined",
        staff_name=user.display_name,
    )
    _publish_ownership(db, conversation)
    audit.record(db, actor, "conversation.join", "conversation", conversation.id, {})
    domain_events.record(
        db,
        "handoff.joined",
        conversation_id=conversation.id,
        site_id=conversation.site_id,
        user_id=user.id,
    )


def _require_owner(conversation: Conversation, user: User) -> None:
    if conversation.owner != "human" or conversation.assigned_user_id != user.id:
        raise NotOwner("You are not handling this chat (anymore); join it first.")


def staff_reply(
    db: Session, conversation: Conversation, user: User, body, client_id=None
) -> ConversationEvent:
    if conversation.status != "open":
        raise ConversationError("This conversation is closed.", "conversation_closed")
    body = service._clean_text(body, "reply", service.MAX_MESSAGE_LENGTH)
    # Lock the row so a concurrent Return/Join cannot slip between the check and the insert.
    service.lock_conversation(db, conversation)
    _require_owner(conversation, user)
    if client_id is not None and not service.CLIENT_ID_RE.match(str(client_id)):
        raise InvalidInput("client_id must be 8–64 letters, digits, - or _.")
    if client_id:
        existing = service._event_by_client_id(db, conversation.id, client_id)
        if existing is not None:
            return existing
    event = service.append_event(
        db,
        conversation,
        "staff_message",
        body,
        author_name=user.display_name,
        author_user_id=user.id,
        client_id=client_id,
    )
    conversation.staff_read_event_id = event.id
    conversation.unread_for_staff = 0
    return event


def return_to_assistant(db: Session, actor: Actor, conversation: Conversation, user: User) -> None:
    changed = db.execute(
        sa.update(Conversation)
        .where(
            Conversation.id == conversation.id,
            Conversation.owner == "human",
            Conversation.assigned_user_id == user.id,
        )
        .values(owner="assistant", assigned_user_id=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.refresh(conversation)
    if not changed:
        raise NotOwner("Only the person handling this chat can return it to the assistant.")
    _system(
        db,
        conversation,
        f"{user.display_name} returned the chat to the assistant",
        "returned",
        staff_name=user.display_name,
    )
    _publish_ownership(db, conversation)
    audit.record(db, actor, "conversation.return", "conversation", conversation.id, {})
    domain_events.record(
        db,
        "handoff.returned",
        conversation_id=conversation.id,
        site_id=conversation.site_id,
        user_id=user.id,
    )


def close(db: Session, actor: Actor, conversation: Conversation, user: User | None) -> None:
    changed = db.execute(
        sa.update(Conversation)
        .where(Conversation.id == conversation.id, Conversation.status == "open")
        .values(status="closed", open_slot=None, closed_at=utcnow(), waiting_since=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.refresh(conversation)
    if not changed:
        return
    _system(db, conversation, "The conversation was closed", "closed")
    _publish_ownership(db, conversation)
    audit.record(db, actor, "conversation.close", "conversation", conversation.id, {})
    domain_events.record(
        db, "conversation.closed", conversation_id=conversation.id, site_id=conversation.site_id
    )
    message_hooks(db).on_close(db, conversation)


def reopen(db: Session, actor: Actor, conversation: Conversation) -> None:
    if conversation.status == "open":
        return
    try:
        with db.begin_nested():
            changed = db.execute(
                sa.update(Conversation)
                .where(Conversation.id == conversation.id, Conversation.status == "closed")
                .values(
                    status="open",
                    open_slot=1,
                    closed_at=None,
                    owner="assistant",
                    assigned_user_id=None,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
    except sa.exc.IntegrityError:
        raise ConversationError(
            "The visitor has started another conversation; continue there.",
            "visitor_has_open_conversation",
        ) from None
    db.refresh(conversation)
    if changed:
        _system(db, conversation, "The conversation was reopened", "reopened")
        audit.record(db, actor, "conversation.reopen", "conversation", conversation.id, {})


def add_note(db: Session, conversation: Conversation, user: User, body) -> ConversationEvent:
    body = service._clean_text(body, "note", service.MAX_MESSAGE_LENGTH)
    return service.append_event(
        db,
        conversation,
        "note",
        body,
        author_name=user.display_name,
        author_user_id=user.id,
        public=False,
    )

"""The named hook points on the message path.

Features plug into the conversation loop here, from their own ``includeme``, and nowhere
else: ``config.add_message_hook(point, hook, order=...)``. Lower ``order`` runs first; hooks of
equal order run in registration order.

``on_visitor_message(db, message: VisitorMessage) -> bool``
    In the visitor's transaction, right after the message is stored (not for a duplicate).
    Return True when the message was handled and the assistant must not reply (the chat was
    handed to a person); later hooks still run, and see the conversation as it now is.
``prompt_contributors(db, conversation_id) -> PromptContribution | None``
    While the reply is prepared (in the visitor's transaction): extra instructions for the
    model, what the offline built-in responder should add, and data kept with the reply.
``after_reply(registry, reply: StoredReply)``
    After the assistant's reply is stored and committed. Each hook opens its own transaction
    (``asthron.db.new_transaction``); one failing hook never stops the others.
``on_handoff(db, handoff: HandoffRequested)``
    In the transaction that moved the conversation to "waiting".
``on_close(db, conversation)``
    In the transaction that closed the conversation.
``outbound_message(db, message: OutboundMessage)``
    In the transaction that stores a public assistant, staff or system message on a
    conversation that came through another channel than the widget (``conversation.channel``),
    inside a savepoint around the insert: the channel queues the message's delivery, or raises
    a ConversationError (a WhatsApp chat outside its 24-hour window) and nothing is stored.
``side_panels(db, conversation_id) -> SidePanel | None``
    What a feature knows about the conversation, shown to staff beside it (the lead).
``timeline_entries(db, subject: TimelineSubject) -> list[TimelineEntry]``
    What a feature knows about one person, for their timeline (the lead's page): the subject
    names their conversations, email and phone; a feature returns its entries (bookings).
    Not on the message path, but the same registry, so one feature shows its facts on
    another's page without importing it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from asthron.conversations.models import Conversation, ConversationEvent
from asthron.db import registry_of

log = logging.getLogger(__name__)

POINTS = (
    "on_visitor_message",
    "prompt_contributors",
    "after_reply",
    "on_handoff",
    "on_close",
    "outbound_message",
    "side_panels",
    "timeline_entries",
    "usage_sections",
)


@dataclass(frozen=True)
class VisitorMessage:
    conversation: Conversation
    event: ConversationEvent


@dataclass(frozen=True)
class PromptContribution:
    instruction: str = ""  # a system message for the model
    follow_up: str = ""  # what the built-in responder appends to its answer
    reply_data: dict = field(default_factory=dict)  # kept with the reply when it succeeds


@dataclass(frozen=True)
class StoredReply:
    conversation_id: int
    event: ConversationEvent
    outcome: Any  # the responder's ReplyOutcome, or None


@dataclass(frozen=True)
class HandoffRequested:
    conversation: Conversation
    trigger: str  # visitor | assistant | rule
    reason: str
    someone_available: bool


@dataclass(frozen=True)
class OutboundMessage:
    conversation: Conversation
    event: ConversationEvent


@dataclass(frozen=True)
class SidePanel:
    title: str
    facts: list[tuple[str, str]]  # (label, value), shown in order
    # (label, path): a dashboard page of the feature for this conversation.
    link: tuple[str, str] | None = None


@dataclass(frozen=True)
class UsageSection:
    """A table a feature adds to the usage page (payments: money received per month)."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    empty: str = "Nothing yet."
    # (label, path): the feature's own page for more.
    link: tuple[str, str] | None = None


@dataclass(frozen=True)
class TimelineSubject:
    """One person as the timeline's owner knows them."""

    conversation_ids: tuple[int, ...] = ()
    email: str | None = None  # lower-cased
    phone: str | None = None  # E.164


@dataclass(frozen=True)
class TimelineEntry:
    when: dt.datetime
    kind: str  # shown as a label: "booking"
    body: str
    actor: str = "system"
    conversation_id: int | None = None


class UnknownHookPoint(ValueError):
    pass


class MessageHooks:
    """The registered hooks of one application, by point."""

    def __init__(self):
        self._hooks: dict[str, list[tuple[int, int, Callable]]] = {p: [] for p in POINTS}

    def add(self, point: str, hook: Callable, order: int = 100) -> None:
        if point not in self._hooks:
            raise UnknownHookPoint(f"no hook point is called {point!r}; use one of {POINTS}")
        hooks = self._hooks[point]
        hooks.append((order, len(hooks), hook))
        hooks.sort(key=lambda item: item[:2])

    def hooks(self, point: str) -> list[Callable]:
        return [hook for _order, _n, hook in self._hooks[point]]

    def on_visitor_message(self, db: Session, message: VisitorMessage) -> bool:
        handled = False
        for hook in self.hooks("on_visitor_message"):
            handled = bool(hook(db, message)) or handled
        return handled

    def prompt_contributions(self, db: Session, conversation_id: int) -> list[PromptContribution]:
        found = (hook(db, conversation_id) for hook in self.hooks("prompt_contributors"))
        return [c for c in found if c is not None]

    def after_reply(self, registry, reply: StoredReply) -> None:
        for hook in self.hooks("after_reply"):
            try:
                hook(registry, reply)
            except Exception:
                log.exception("after-reply hook %s failed", getattr(hook, "__name__", hook))

    def on_handoff(self, db: Session, handoff: HandoffRequested) -> None:
        for hook in self.hooks("on_handoff"):
            hook(db, handoff)

    def on_close(self, db: Session, conversation: Conversation) -> None:
        for hook in self.hooks("on_close"):
            hook(db, conversation)

    def outbound_message(self, db: Session, message: OutboundMessage) -> None:
        for hook in self.hooks("outbound_message"):
            hook(db, message)

    def side_panels(self, db: Session, conversation_id: int) -> list[SidePanel]:
        found = (hook(db, conversation_id) for hook in self.hooks("side_panels"))
        return [panel for panel in found if panel is not None]

    def timeline_entries(self, db: Session, subject: TimelineSubject) -> list[TimelineEntry]:
        return [entry for hook in self.hooks("timeline_entries") for entry in hook(db, subject)]

    def usage_sections(self, db: Session, permitted) -> list[UsageSection]:
        """The features' tables for the usage page; ``permitted(permission)`` says whether the
        viewer may see a feature's figures."""
        found = (hook(db, permitted) for hook in self.hooks("usage_sections"))
        return [section for section in found if section is not None]


def message_hooks(db: Session) -> MessageHooks:
    return registry_of(db)["message_hooks"]


def _add_message_hook(config, point: str, hook: Callable, order: int = 100) -> None:
    config.registry["message_hooks"].add(point, hook, order)


def includeme(config):
    config.registry["message_hooks"] = MessageHooks()
    config.add_directive("add_message_hook", _add_message_hook)

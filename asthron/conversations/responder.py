"""The responder interface the assistant plugs into, and the offline built-in responder.

A responder turns a conversation into a reply, streamed as text deltas. The runner publishes
the deltas live and stores the joined text as one assistant event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Turn:
    author: str  # visitor | assistant | staff | system
    body: str


@dataclass(frozen=True)
class ReplyContext:
    conversation_id: int
    site_name: str
    business_open: bool
    next_opening: dt.datetime | None
    site_timezone: str
    history: list[Turn] = field(default_factory=list)

    @property
    def visitor_turns(self) -> int:
        return sum(1 for turn in self.history if turn.author == "visitor")


@dataclass(frozen=True)
class ReplyOutcome:
    """The last item a responder may yield: the text to store (when it differs from the
    joined deltas), whether it was cut off, and data to keep with the event (sources...)."""

    text: str
    cut_off: bool = False
    data: dict = field(default_factory=dict)


class Responder(Protocol):
    name: str

    def reply(self, context: ReplyContext) -> Iterator[str | ReplyOutcome]:
        """Yield the reply as text deltas, optionally ending with a ReplyOutcome; without one,
        the joined deltas are the stored message."""


def _chunks(text: str, size: int = 24) -> Iterator[str]:
    # Word-aligned pieces, so the visitor sees the reply build up as it would from a model.
    piece = ""
    for word in text.split(" "):
        candidate = f"{piece} {word}" if piece else word
        if len(candidate) > size and piece:
            yield piece + " "
            piece = word
        else:
            piece = candidate
    if piece:
        yield piece


class BuiltinResponder:
    """No model: greets, acknowledges and says honestly that a person will reply."""

    name = "builtin"

    def reply(self, context: ReplyContext) -> Iterator[str]:
        yield from _chunks(self.compose(context))

    def compose(self, context: ReplyContext) -> str:
        if context.visitor_turns <= 1:
            opening = (
                f"Hi, and thanks for your message! I'm the automated assistant for "
                f"{context.site_name}. "
            )
        else:
            opening = "Thanks, I've added that to the conversation. "
        if context.business_open:
            return opening + "A person from our team will reply here as soon as they can."
        if context.next_opening is not None:
            from zoneinfo import ZoneInfo

            local = context.next_opening.astimezone(ZoneInfo(context.site_timezone))
            when = local.strftime("%A at %H:%M") + f" ({context.site_timezone})"
            return (
                opening + f"We're closed right now; a person will reply when we open, {when}. "
                "You can also leave your email so we can answer you there."
            )
        return opening + "A person from our team will reply here when they are back."

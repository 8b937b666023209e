"""The responder interface the assistant plugs into (asthron.assistant.responder).

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

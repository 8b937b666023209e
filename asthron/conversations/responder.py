"""The responder protocol the reply runner uses; the assistant implements it
(asthron.assistant.responder).

A responder turns a conversation into a reply, streamed as text deltas. The runner calls
``prepare`` in the visitor's transaction (reads only: retrieval, settings, the prompt), then
``reply``, which must start the work at once (the model call) and return a ``ReplyStream``.
The runner waits briefly on ``wait_until_sent`` before it commits, reads the stream in a pool
thread once the commit is known, publishes the deltas live, stores the final text as one
assistant event, and always calls ``close`` (also to cancel a reply nobody will read).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session


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


class ReplyStream(Protocol):
    """The reply as text deltas, optionally ending with a ReplyOutcome (without one, the
    joined deltas are the stored message)."""

    def __iter__(self) -> Iterator[str | ReplyOutcome]: ...

    def __next__(self) -> str | ReplyOutcome: ...

    def wait_until_sent(self, timeout: float) -> None:
        """Return once the model's request is on the wire, or after ``timeout`` seconds."""

    def close(self) -> None:
        """Stop the work (idempotent); a stream closed unread records its cancelled call."""


class Responder(Protocol):
    name: str

    def prepare(self, db: Session, context: ReplyContext) -> Any:
        """Everything the reply needs from the database, read in the caller's transaction."""

    def reply(self, context: ReplyContext, prepared: Any) -> ReplyStream:
        """Start the reply now and return its stream."""


class GeneratorStream:
    """A ReplyStream over a plain generator whose work starts when it is first read."""

    def __init__(self, generator: Iterator[str | ReplyOutcome]):
        self._generator = generator

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._generator)

    def wait_until_sent(self, timeout: float) -> None:
        return None

    def close(self) -> None:
        close = getattr(self._generator, "close", None)
        if close is not None:
            close()

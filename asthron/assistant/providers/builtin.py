"""The built-in offline provider: no model at all.

It answers from the knowledge base by retrieval: the sentences of the best passage that answer
the question, quoted with its article's title (and a second article's when the question asks
two things and the first covers only one). When retrieval judges the question unanswerable
(``Passage.answerable``: its rare words are missing from every passage), it says it does not
know and offers a person instead of quoting a near miss. It is the default on a fresh install
and the last link of every failover chain, so the chat never goes silent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from asthron.assistant.providers.base import (
    ChatMessage,
    Completion,
    Delta,
    GenerationOptions,
    HealthResult,
    StreamItem,
    StructuredOutputError,
    Usage,
)

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
PHONE_RE = re.compile(r"(?<!\w)(\+?\d[\d ().-]{6,}\d)(?!\w)")
MIN_SCORE = 0.0
# At most this many articles quoted: the first, and one for each part of a message asking two
# things (``Passage.answers_part``).
MAX_QUOTED = 3
CLOSE_SECOND = 0.8  # a second passage scoring this close to the first is quoted as well
DONT_KNOW = (
    "I'm not sure about that, and I'd rather not guess. "
    "Would you like me to pass your question to a person on our team?"
)


@dataclass(frozen=True)
class Grounding:
    """What the responder retrieved for this turn: the passages and the visitor's question."""

    question: str
    passages: list = field(default_factory=list)
    business_name: str = ""
    # A qualification question to ask after the answer, one at a time.
    follow_up: str = ""


def _chunks(text: str, size: int = 28) -> Iterator[str]:
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


def _quote(text: str, limit: int = 600) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    cut = text.rfind(". ", 0, limit)
    return text[: cut + 1] if cut > limit // 3 else text[:limit].rstrip() + "…"


class BuiltinProvider:
    kind = "builtin"
    model = "retrieval"

    def compose(self, grounding: Grounding | None) -> str:
        answer = self._answer(grounding)
        if grounding is not None and grounding.follow_up:
            return f"{answer}\n\n{grounding.follow_up}"
        return answer

    def quoted(self, grounding: Grounding | None) -> list:
        """The passages the reply quotes: none when the question is not answerable."""
        passages = [
            p
            for p in (grounding.passages if grounding else [])
            if p.score > MIN_SCORE and getattr(p, "answerable", True)
        ]
        if not passages:
            return []
        best, chosen = passages[0], [passages[0]]
        covered = set(getattr(best, "matched", ()))
        for other in passages[1:2]:
            # A two-part question: quote a second article for the part the first misses; a
            # close second: quote it too rather than bet on one.
            if (covered and set(getattr(other, "matched", ())) - covered) or (
                other.score >= CLOSE_SECOND * best.score
            ):
                chosen.append(other)
        # A message asking two things: the article answering each part is quoted too.
        for other in passages[1:]:
            part = getattr(other, "answers_part", False)
            if part and len(chosen) < MAX_QUOTED and other not in chosen:
                chosen.append(other)
        return chosen

    def _answer(self, grounding: Grounding | None) -> str:
        passages = self.quoted(grounding)
        if not passages:
            if grounding is not None and grounding.follow_up:
                return "Thanks, noted."
            return DONT_KNOW
        parts = []
        for index, passage in enumerate(passages):
            source = passage.title + (f" — {passage.heading}" if passage.heading else "")
            lead = "From our article" if index == 0 else "And from"
            quote = " ".join(getattr(passage, "quote", ()) or ()) or passage.text
            parts.append(f"{lead} “{source}”:\n\n{_quote(quote)}")
        return "\n\n".join(parts)

    def stream_chat(
        self,
        messages: list[ChatMessage],
        options: GenerationOptions,
        grounding: Grounding | None = None,
    ) -> Iterator[StreamItem]:
        text = self.compose(grounding)
        for piece in _chunks(text):
            yield Delta(piece)
        yield Completion(text=text, usage=Usage(0, 0), model=self.model)

    def structured(self, messages, schema, options) -> dict:
        # No model: structured answers come from deterministic code paths, not from here.
        raise StructuredOutputError("the built-in provider does not produce structured output")

    def health(self) -> HealthResult:
        return HealthResult(True, 0.0, "built in")

    def list_models(self) -> list[str]:
        return [self.model]


def extract_contacts(text: str) -> dict:
    """The deterministic parser the built-in provider uses for email and phone."""
    email = EMAIL_RE.search(text or "")
    phone = PHONE_RE.search(text or "")
    return {
        "email": email.group(0).lower() if email else None,
        "phone": re.sub(r"[^\d+]", "", phone.group(1)) if phone else None,
    }

"""The assistant as a conversation responder: retrieve, prompt, stream through the chain,
meter usage, and report which articles the reply used."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

from asthron.assistant import config as ai_config
from asthron.assistant import usage
from asthron.assistant.budget import warn_if_needed
from asthron.assistant.chain import Attempt, FailoverChain, Started
from asthron.assistant.knowledge_gaps import ABSTAINED_KEY
from asthron.assistant.models import AssistantProfile
from asthron.assistant.prompt import build_messages
from asthron.assistant.provider_pool import ProviderPool
from asthron.assistant.providers.base import ChatMessage, Completion, Delta, ProviderError
from asthron.assistant.providers.builtin import BuiltinProvider, Grounding
from asthron.conversations.hooks import PromptContribution, message_hooks
from asthron.conversations.responder import (
    GeneratorStream,
    ReplyContext,
    ReplyOutcome,
    ReplyStream,
)
from asthron.db import new_transaction
from asthron.knowledge.search import answerable, search, terms
from asthron.snapshots import row_snapshot, snapshots

log = logging.getLogger(__name__)

CUT_OFF_NOTICE = "(This reply was cut off by a technical problem. Ask again, or ask for a person.)"
TURN_CAP_REPLY = (
    "We've covered a lot in this chat, so I'll stop here and let a person from our team "
    "follow up with you."
)


MARKDOWN_IMAGE_RE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
HTML_IMAGE_RE = re.compile(r"<img\b[^>]*>", re.IGNORECASE)


def without_remote_images(text: str) -> str:
    """Model output is shown as text, but an image reference could still be rendered by some
    client and leak data through its URL; it is removed from what we store."""
    text = MARKDOWN_IMAGE_RE.sub("[image removed]", text)
    return HTML_IMAGE_RE.sub("[image removed]", text)


def _hours_text(context: ReplyContext) -> str:
    if context.business_open:
        return "Open now."
    if context.next_opening:
        return f"Closed now; next opening {context.next_opening.isoformat()} (UTC)."
    return ""


RETRIEVE_LIMIT = 4


def _asked_something(query: str) -> bool:
    """Whether the visitor's words hold anything to look up ("thanks!" does not)."""
    return bool(terms(query))


def retrieve(db, query: str) -> list:
    """The passages for this turn, best first, each with its answerability (the built-in
    provider quotes only answerable ones; a model is shown only those)."""
    return search(db, query, limit=RETRIEVE_LIMIT)


@dataclass(frozen=True)
class Prepared:
    query: str
    passages: list
    providers: list
    messages: list
    contributions: list[PromptContribution]
    turn_cap: int
    reply_cap: int
    business_name: str


class AssistantResponder:
    name = "assistant"

    def __init__(self, registry, pool: ProviderPool):
        self.registry = registry
        self.pool = pool

    def prepare(self, db, context: ReplyContext) -> Prepared:
        """Everything the reply needs from the database, read in the caller's transaction."""
        query = " ".join([t.body for t in context.history if t.author == "visitor"][-2:])
        profile = row_snapshot(db, "assistant_profile", AssistantProfile, 1)
        passages = retrieve(db, query)
        budget = usage.budget_state(db, spend_if_unbudgeted=False, profile=profile)
        providers = (
            []
            if budget.exhausted
            else snapshots(db).get(
                "providers",
                lambda: ai_config.effective_providers(
                    db, self.registry["app_settings"], self.registry["secret_box"]
                ),
            )
        )
        # The model sees only passages above the answerability threshold; with none, it is
        # told to say it does not know and offer a person (prompt.build_messages). A greeting
        # or a thank-you asks nothing, so it is not told that (the same test as abstaining).
        messages = build_messages(
            profile,
            context.site_name,
            _hours_text(context),
            answerable(passages),
            context.history,
            no_answer=_asked_something(query) and not answerable(passages),
        )
        # Features add to the prompt through hooks (leads: the next qualification question).
        contributions = message_hooks(db).prompt_contributions(db, context.conversation_id)
        messages.extend(
            ChatMessage("system", c.instruction) for c in contributions if c.instruction
        )
        return Prepared(
            query=query,
            passages=passages,
            providers=providers,
            messages=messages,
            contributions=contributions,
            turn_cap=profile.turn_cap if profile else 40,
            reply_cap=profile.reply_max_chars if profile else 1200,
            business_name=profile.business_name if profile else "",
        )

    def reply(self, context: ReplyContext, prepared: Prepared) -> ReplyStream:
        """The reply as text deltas, then a ReplyOutcome. The first provider is called before
        this returns, so the model is already at work while the caller commits."""
        if context.visitor_turns > prepared.turn_cap:
            return GeneratorStream(
                iter([TURN_CAP_REPLY, ReplyOutcome(TURN_CAP_REPLY, data={"turn_cap": True})])
            )
        attempts: list[Attempt] = []
        chain = FailoverChain(self.pool.links(prepared.providers), on_attempt=attempts.append)
        grounding = Grounding(
            follow_up=" ".join(c.follow_up for c in prepared.contributions if c.follow_up),
            question=prepared.query,
            passages=prepared.passages,
            business_name=prepared.business_name,
        )
        stream = chain.stream(prepared.messages, grounding=grounding)
        # Closed unread (the visitor's message was never stored), the relay's own recording
        # never runs: record the cancelled call here.
        return Started(
            self._relay(context, prepared, stream, attempts),
            stream,
            lambda: self._record(attempts, context.conversation_id),
        )

    def _relay(self, context, prepared: Prepared, stream, attempts) -> Iterator[str | ReplyOutcome]:
        passages, reply_cap = prepared.passages, prepared.reply_cap
        sent = 0
        text, cut_off = "", False
        try:
            for item in stream:
                if isinstance(item, Delta):
                    piece = item.text[: max(0, reply_cap - sent)]
                    if piece:
                        sent += len(piece)
                        yield piece
                elif isinstance(item, Completion):
                    text = item.text[:reply_cap]
        except ProviderError as exc:
            cut_off = exc.kind == "cut_off"
            text = (exc.partial_text[:reply_cap] if cut_off else "") or ""
            notice = (
                CUT_OFF_NOTICE
                if cut_off
                else ("Sorry, I can't answer right now. A person from our team will reply here.")
            )
            yield ("\n\n" if text else "") + notice
            text = (text + "\n\n" + notice).strip()
        finally:
            self._record(attempts, context.conversation_id)

        used = attempts[-1] if attempts else None
        sources = []
        if used is not None and used.ok:
            # The articles the reply drew on: those quoted by the built-in provider, or those
            # a model was shown.
            if used.provider == "builtin":
                grounding = Grounding(question=prepared.query, passages=passages)
                shown = BuiltinProvider().quoted(grounding)
            else:
                shown = answerable(passages)
            seen = set()
            for p in shown:
                if p.article_id not in seen:
                    seen.add(p.article_id)
                    sources.append({"article_id": p.article_id, "title": p.title})
        data = {}
        if used is not None and used.ok:
            for contribution in prepared.contributions:
                data.update(contribution.reply_data)
            # Nothing answered the question: the reply said it didn't know (the built-in
            # provider) or was told to (a model); the question is a knowledge gap.
            if _asked_something(prepared.query) and not answerable(passages):
                data[ABSTAINED_KEY] = True
        yield ReplyOutcome(
            without_remote_images(text).strip(),
            cut_off=cut_off,
            data={
                **data,
                "provider": used.provider if used else None,
                "model": used.model if used else None,
                "sources": sources,
            },
        )

    def _record(self, attempts: list[Attempt], conversation_id: int) -> None:
        if not attempts:
            return
        try:
            with new_transaction(self.registry) as db:
                for a in attempts:
                    usage.record(
                        db,
                        provider=a.provider,
                        model=a.model,
                        purpose="reply",
                        input_tokens=a.usage.input_tokens,
                        output_tokens=a.usage.output_tokens,
                        latency_ms=a.latency_ms,
                        first_token_ms=a.first_token_ms,
                        success=a.ok,
                        error_kind=a.error.kind if a.error else None,
                        conversation_id=conversation_id,
                    )
                warn_if_needed(db)
        except Exception:
            log.exception("could not record usage")

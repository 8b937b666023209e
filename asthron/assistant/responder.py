"""The assistant as a conversation responder: retrieve, prompt, stream through the chain,
meter usage, and report which articles the reply used."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import transaction

from asthron.assistant import config as ai_config
from asthron.assistant import usage
from asthron.assistant.chain import Attempt, ChainLink, CircuitBreaker, FailoverChain, Started
from asthron.assistant.fence import Fence
from asthron.assistant.models import AssistantProfile
from asthron.assistant.prompt import build_messages
from asthron.assistant.providers.base import (
    ChatMessage,
    Completion,
    Delta,
    GenerationOptions,
    ProviderError,
    Timeouts,
)
from asthron.assistant.providers.builtin import BuiltinProvider, Grounding
from asthron.conversations.responder import ReplyContext, ReplyOutcome
from asthron.db import get_tm_session
from asthron.knowledge.search import search
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


def question_text(question) -> str:
    options = f" ({', '.join(question.options)})" if question.options else ""
    return question.text + options


def question_instruction(question) -> str:
    return (
        "After answering, ask the visitor this one qualification question in your own words, "
        f"naturally and only this one: {question_text(question)}"
    )


def _hours_text(context: ReplyContext) -> str:
    if context.business_open:
        return "Open now."
    if context.next_opening:
        return f"Closed now; next opening {context.next_opening.isoformat()} (UTC)."
    return ""


@dataclass(frozen=True)
class Prepared:
    query: str
    passages: list
    providers: list
    messages: list
    next_question: object
    turn_cap: int
    reply_cap: int
    business_name: str


class AssistantResponder:
    name = "assistant"

    def __init__(self, registry, provider_factory=None):
        self.registry = registry
        self.builtin = BuiltinProvider()
        self._breakers: dict[tuple, CircuitBreaker] = {}
        self._providers: dict = {}
        self._lock = threading.Lock()
        self.provider_factory = provider_factory

    def _session(self, tm):
        return get_tm_session(self.registry["dbsession_factory"], tm)

    def _allowed_private(self):
        return self.registry["app_settings"].outbound_allowed_private_hosts

    def _provider(self, effective):
        """One client per configuration, reused across replies: building an SDK client (and
        its connection pool) per reply would add tens of milliseconds to every first token.

        A dashboard-configured base URL is checked for SSRF before every use, cached client or
        not (``guard_base_url`` raises ProviderError), since its name may resolve elsewhere now.
        """
        from asthron.assistant.providers.factory import guard_base_url

        guard_base_url(effective, self._allowed_private())
        with self._lock:
            provider = self._providers.get(effective)
        if provider is None:
            provider = self.provider_factory(effective)
            with self._lock:
                if len(self._providers) >= 8:
                    self._providers.clear()
                self._providers[effective] = provider
        return provider

    def _default_factory(self):
        from functools import partial

        from asthron.assistant.providers.factory import build_provider

        return partial(build_provider, allowed_private=self._allowed_private())

    def breaker(self, key: tuple) -> CircuitBreaker:
        with self._lock:
            return self._breakers.setdefault(key, CircuitBreaker())

    def _links(self, providers) -> list[ChainLink]:
        links = []
        if providers and self.provider_factory is None:
            self.provider_factory = self._default_factory()
        for effective in providers:
            try:
                provider = self._provider(effective)
            except ProviderError as exc:
                # Refused (a base URL that reaches a private address): the attempt fails and
                # is recorded like any other failure, and the chain moves on.
                from asthron.assistant.providers.factory import RefusedProvider

                log.warning("provider %s refused: %s", effective.slot, exc)
                provider = RefusedProvider(effective.kind, effective.model, exc)
            except Exception:
                log.exception("cannot build provider %s", effective.kind)
                continue
            options = GenerationOptions(
                temperature=effective.temperature,
                max_tokens=effective.max_tokens,
                timeouts=Timeouts(
                    effective.connect_timeout,
                    effective.first_token_timeout,
                    effective.total_timeout,
                ),
            )
            links.append(ChainLink(provider, options, self.breaker(effective.breaker_key)))
        # The built-in provider never fails and never trips.
        links.append(
            ChainLink(
                self.builtin,
                GenerationOptions(timeouts=Timeouts(1, 5, 10)),
                CircuitBreaker(threshold=10**9),
            )
        )
        return links

    def prepare(self, db, context: ReplyContext) -> Prepared:
        """Everything the reply needs from the database, read in the caller's transaction."""
        query = " ".join([t.body for t in context.history if t.author == "visitor"][-2:])
        profile = row_snapshot(db, "assistant_profile", AssistantProfile, 1)
        passages = search(db, query, limit=4)
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
        messages = build_messages(
            profile, context.site_name, _hours_text(context), passages, context.history
        )
        next_question = self._next_question(db, context.conversation_id)
        if next_question is not None:
            messages.append(ChatMessage("system", question_instruction(next_question)))
        return Prepared(
            query=query,
            passages=passages,
            providers=providers,
            messages=messages,
            next_question=next_question,
            turn_cap=profile.turn_cap if profile else 40,
            reply_cap=profile.reply_max_chars if profile else 1200,
            business_name=profile.business_name if profile else "",
        )

    def reply(
        self, context: ReplyContext, prepared: Prepared | None = None
    ) -> Iterator[str | ReplyOutcome]:
        """The reply as text deltas, then a ReplyOutcome. The first provider is called before
        this returns, so the model is already at work while the caller commits."""
        if prepared is None:
            tm = transaction.TransactionManager(explicit=True)
            with tm:
                prepared = self.prepare(self._session(tm), context)
        if context.visitor_turns > prepared.turn_cap:
            return iter([TURN_CAP_REPLY, ReplyOutcome(TURN_CAP_REPLY, data={"turn_cap": True})])
        attempts: list[Attempt] = []
        chain = FailoverChain(self._links(prepared.providers), on_attempt=attempts.append)
        question = prepared.next_question
        grounding = Grounding(
            follow_up=question_text(question) if question is not None else "",
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
        passages, question, reply_cap = (
            prepared.passages,
            prepared.next_question,
            prepared.reply_cap,
        )
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
            seen = set()
            for p in passages:
                if p.article_id not in seen:
                    seen.add(p.article_id)
                    sources.append({"article_id": p.article_id, "title": p.title})
            if used.provider == "builtin":
                sources = sources[:1] if passages else []
        yield ReplyOutcome(
            without_remote_images(text).strip(),
            cut_off=cut_off,
            data={
                "asked_question": question.key
                if question is not None and used and used.ok
                else None,
                "provider": used.provider if used else None,
                "model": used.model if used else None,
                "sources": sources,
            },
        )

    def _next_question(self, db, conversation_id: int):
        """The next qualification question for this conversation's lead, if any."""
        from asthron.leads.chat import lead_for_conversation
        from asthron.leads.qualification import any_active_question, next_question

        if not any_active_question(db):
            return None
        lead = lead_for_conversation(db, conversation_id)
        return next_question(db, lead.id) if lead is not None else None

    def _record(self, attempts: list[Attempt], conversation_id: int) -> None:
        if not attempts:
            return
        tm = transaction.TransactionManager(explicit=True)
        try:
            with tm:
                db = self._session(tm)
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
                from asthron.assistant.budget import warn_if_needed

                warn_if_needed(db)
        except Exception:
            log.exception("could not record usage")

    # -- structured side tasks: handoff decisions and summaries ---------------------------

    def _first_model(self, db):
        """The first configured model provider, unless the budget is spent."""
        if usage.budget_state(db, spend_if_unbudgeted=False).exhausted:
            return None, None
        providers = ai_config.effective_providers(
            db, self.registry["app_settings"], self.registry["secret_box"]
        )
        for effective in providers:
            breaker = self.breaker(effective.breaker_key)
            if not breaker.allow():
                continue
            if self.provider_factory is None:
                self.provider_factory = self._default_factory()
            try:
                provider = self._provider(effective)
            except ProviderError as exc:
                log.warning("provider %s refused: %s", effective.slot, exc)
                continue
            options = GenerationOptions(
                temperature=0.0,
                max_tokens=300,
                timeouts=Timeouts(
                    effective.connect_timeout,
                    effective.first_token_timeout,
                    effective.total_timeout,
                ),
            )
            return provider, options
        return None, None

    def _transcript(self, events, limit: int = 20) -> str:
        from asthron.conversations.service import AUTHOR_OF_TYPE

        lines = [f"{AUTHOR_OF_TYPE[e.type]}: {e.body}" for e in events[-limit:]]
        return "\n".join(lines)

    def _structured(self, db, conversation_id, purpose, instruction, transcript, schema):
        import time

        from asthron.assistant.providers.base import ChatMessage, ProviderError

        provider, options = self._first_model(db)
        if provider is None:
            return None
        # The transcript is data to classify, not instructions to follow; it holds visitor
        # text, so its fence must be one the visitor cannot close.
        fence = Fence.new("transcript")
        messages = [
            ChatMessage("system", f"{instruction}\n{fence.explanation('The transcript')}"),
            ChatMessage("user", fence.wrap(transcript)),
        ]
        started = time.monotonic()
        try:
            result = provider.structured(messages, schema, options)
            ok, kind = True, None
        except ProviderError as exc:
            result, ok, kind = None, False, exc.kind
        usage.record(
            db,
            provider=provider.kind,
            model=getattr(provider, "model", ""),
            purpose=purpose,
            latency_ms=int((time.monotonic() - started) * 1000),
            success=ok,
            error_kind=kind,
            conversation_id=conversation_id,
        )
        return result

    def decide(self, db, conversation, schema) -> dict | None:
        import sqlalchemy as sa

        from asthron.conversations.models import ConversationEvent

        events = list(
            db.scalars(
                sa.select(ConversationEvent)
                .where(
                    ConversationEvent.conversation_id == conversation.id,
                    ConversationEvent.public.is_(True),
                )
                .order_by(ConversationEvent.id)
            )
        )
        return self._structured(
            db,
            conversation.id,
            "handoff_decision",
            "You review a website chat between a visitor and an AI assistant. Decide whether a "
            "person from the business should take over (the visitor is upset, asks for "
            "something only a person can do, or the assistant cannot help), and whether the "
            "assistant's last reply answered the visitor. Give a short reason for staff.",
            self._transcript(events),
            schema,
        )

    def summarize(self, db, conversation, events) -> tuple[str, str] | None:
        schema = {
            "type": "object",
            "properties": {"summary": {"type": "string", "minLength": 1, "maxLength": 1200}},
            "required": ["summary"],
        }
        result = self._structured(
            db,
            conversation.id,
            "summary",
            "Summarise this website chat for the team member about to join it: who the visitor "
            "is if known, what they want, what was already answered, and what is still open. "
            "At most five short lines.",
            self._transcript(events, 60),
            schema,
        )
        if not result:
            return None
        return result["summary"], "model"

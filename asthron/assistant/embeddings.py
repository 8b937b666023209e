"""The knowledge base's embedder (dense retrieval), from the configured providers.

The first enabled provider slot of an OpenAI-compatible or Ollama kind with an embedding model
(dashboard field, or ``asthron.ai.<slot>.embedding_model`` in the .ini) makes the vectors:
``/v1/embeddings`` or Ollama's ``/api/embed``. Registered in the knowledge layer's slot
(``knowledge.embeddings.EMBEDDER_SLOT``) by ``assistant.includeme``, so knowledge never
imports the assistant. Behind its own circuit breaker: a provider that is down costs the
visitor's message no more than one short timeout, then retrieval is lexical until it is back.
Every call is metered like a reply (usage records of purpose "embedding", with the tokens the
provider counted), and past the monthly budget no embedder is offered: retrieval is lexical.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from asthron.assistant import config as ai_config
from asthron.assistant import usage
from asthron.assistant.chain import BoundedStream, CircuitBreaker
from asthron.assistant.providers.base import (
    ProviderError,
    Timeouts,
    estimated_tokens,
    reported_tokens,
)
from asthron.knowledge.embeddings import NAME_LENGTH
from asthron.snapshots import snapshots

log = logging.getLogger(__name__)

EMBEDDING_KINDS = ("openai", "ollama")
# A question is embedded while the reply is prepared: keep that wait short.
QUERY_TIMEOUTS = Timeouts(2.0, 5.0, 5.0)
BULK_TIMEOUTS = Timeouts(5.0, 60.0, 60.0)


@dataclass(frozen=True)
class EmbeddingCall:
    tokens: int
    latency_ms: int
    success: bool
    error_kind: str | None = None


@dataclass
class ProviderEmbedder:
    name: str
    provider: object  # has embed(texts, model, timeouts), and perhaps embed_with_usage
    model: str
    breaker: CircuitBreaker
    kind: str = ""  # the provider kind, as usage records name it
    # Calls made and not yet recorded (``record_usage``): one embedder serves one request or
    # one background run, so nothing here is shared between threads.
    calls: list[EmbeddingCall] = field(default_factory=list)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not self.breaker.allow():
            raise ProviderError("unavailable", "embeddings: the provider is resting after errors")
        timeouts = QUERY_TIMEOUTS if len(texts) == 1 else BULK_TIMEOUTS
        # For providers that do not say how many tokens they read, or say something unbelievable.
        estimate = max(1, estimated_tokens(sum(len(t) for t in texts)))
        started = time.monotonic()
        try:
            # The total enforced from this side too, as for a reply's stream: the provider
            # bounds the body's arrival, but a server dripping its headers still held the
            # visitor's message. Past the total the helper thread is left to finish alone.
            bounded = BoundedStream(
                lambda: iter([self._call(texts, timeouts)]), timeouts.total, timeouts.total
            )
            [(vectors, tokens)] = list(bounded)
        except ProviderError as exc:
            self.breaker.failure()
            self.calls.append(EmbeddingCall(0, _ms_since(started), False, exc.kind))
            raise
        self.breaker.success()
        tokens = reported_tokens(tokens) or estimate
        self.calls.append(EmbeddingCall(tokens, _ms_since(started), True))
        return vectors

    def _call(self, texts: Sequence[str], timeouts: Timeouts) -> tuple[list, int | None]:
        if hasattr(self.provider, "embed_with_usage"):
            return self.provider.embed_with_usage(list(texts), self.model, timeouts)
        return self.provider.embed(list(texts), self.model, timeouts), None

    def record_usage(self, db) -> None:
        """Meter the calls made so far (purpose "embedding"), in the caller's transaction:
        the knowledge layer calls this with the session the vectors were used in."""
        calls, self.calls = self.calls, []
        for call in calls:
            usage.record(
                db,
                provider=self.kind,
                model=self.model,
                purpose="embedding",
                input_tokens=call.tokens,
                latency_ms=call.latency_ms,
                success=call.success,
                error_kind=call.error_kind,
            )


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def vector_space_name(kind: str, base_url: str, model: str) -> str | None:
    """The name vectors from this model at this address are stored under: "kind|url|model",
    the model always last and whole (``ranking.dense_model_for`` reads it there). Cut to the
    column's length, a long base URL (500 characters are allowed) cut the model off, so a
    change of model kept the name: nothing was embedded again and questions were compared
    with the old model's vectors. Too long, the address is named by a hash of it instead;
    short names stay as they were, so vectors already stored under them are still used.
    None: the model's own name is too long to store (neither the dashboard nor the .ini
    allows one that long)."""
    name = f"{kind}|{base_url}|{model}"
    if len(name) <= NAME_LENGTH:
        return name
    address = hashlib.sha256(base_url.encode()).hexdigest()[:16]
    name = f"{kind}|{address}|{model}"
    return name if len(name) <= NAME_LENGTH else None


def embedding_provider(providers) -> ai_config.EffectiveProvider | None:
    for effective in providers:
        if effective.kind in EMBEDDING_KINDS and effective.embedding_model:
            return effective
    return None


class EmbedderSource:
    """``db -> ProviderEmbedder | None``, the callable the knowledge layer's slot holds."""

    def __init__(self, registry, pool):
        self.registry = registry
        self.pool = pool

    def __call__(self, db):
        providers = snapshots(db).get(
            "providers",
            lambda: ai_config.effective_providers(
                db, self.registry["app_settings"], self.registry["secret_box"]
            ),
        )
        effective = embedding_provider(providers)
        if effective is None:
            return None
        # Embeddings are paid calls like replies: past the monthly budget, retrieval is lexical.
        if usage.budget_state(db, spend_if_unbudgeted=False).exhausted:
            return None
        name = vector_space_name(effective.kind, effective.base_url, effective.embedding_model)
        if name is None:
            log.warning("the embedding model's name is too long; retrieval is lexical")
            return None
        provider = self.pool.provider(effective)  # checks the base URL (SSRF) every time
        return ProviderEmbedder(
            name=name,
            provider=provider,
            model=effective.embedding_model,
            breaker=self.pool.breaker((*effective.breaker_key, "embeddings")),
            kind=effective.kind,
        )

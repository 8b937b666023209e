"""The knowledge base's embedder (dense retrieval), from the configured providers.

The first enabled provider slot of an OpenAI-compatible or Ollama kind with an embedding model
(dashboard field, or ``asthron.ai.<slot>.embedding_model`` in the .ini) makes the vectors:
``/v1/embeddings`` or Ollama's ``/api/embed``. Registered in the knowledge layer's slot
(``knowledge.embeddings.EMBEDDER_SLOT``) by ``assistant.includeme``, so knowledge never
imports the assistant. Behind its own circuit breaker: a provider that is down costs the
visitor's message no more than one short timeout, then retrieval is lexical until it is back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from asthron.assistant import config as ai_config
from asthron.assistant.chain import CircuitBreaker
from asthron.assistant.providers.base import ProviderError, Timeouts
from asthron.snapshots import snapshots

EMBEDDING_KINDS = ("openai", "ollama")
# A question is embedded while the reply is prepared: keep that wait short.
QUERY_TIMEOUTS = Timeouts(2.0, 5.0, 5.0)
BULK_TIMEOUTS = Timeouts(5.0, 60.0, 60.0)


@dataclass
class ProviderEmbedder:
    name: str
    provider: object  # has embed(texts, model, timeouts)
    model: str
    breaker: CircuitBreaker

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not self.breaker.allow():
            raise ProviderError("unavailable", "embeddings: the provider is resting after errors")
        timeouts = QUERY_TIMEOUTS if len(texts) == 1 else BULK_TIMEOUTS
        try:
            vectors = self.provider.embed(list(texts), self.model, timeouts)
        except ProviderError:
            self.breaker.failure()
            raise
        self.breaker.success()
        return vectors


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
        provider = self.pool.provider(effective)  # checks the base URL (SSRF) every time
        name = f"{effective.kind}|{effective.base_url}|{effective.embedding_model}"
        return ProviderEmbedder(
            name=name[:400],
            provider=provider,
            model=effective.embedding_model,
            breaker=self.pool.breaker((*effective.breaker_key, "embeddings")),
        )

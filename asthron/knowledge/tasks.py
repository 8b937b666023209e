"""Background work of the knowledge base: passage vectors for dense retrieval.

Queued after an article is saved (``service``), and run every ten minutes as well: Huey
delivers at most once, and a change of embedding model has no article save to start it. Each
run embeds what has no vector from the current embedder, so it is idempotent."""

from __future__ import annotations

import logging

from huey import crontab

from asthron.jobs.queue import app_task
from asthron.knowledge import embeddings

log = logging.getLogger(__name__)


def embed_now(db) -> int:
    """Embed the passages that need it with the configured embedder (0 without one)."""
    embedder = embeddings.embedder_for(db)
    if embedder is None:
        return 0
    return embeddings.embed_pending(db, embedder)


@app_task(retries=2, retry_delay=60)
def embed_passages(db) -> int:
    return embed_now(db)


@app_task(periodic=crontab(minute="*/10"))
def embed_passages_periodically(db) -> int:
    return embed_now(db)

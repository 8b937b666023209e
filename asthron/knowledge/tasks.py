"""Background work of the knowledge base: website crawls (on demand and on a schedule) and
passage vectors for dense retrieval.

A crawl is not outbox work: losing one to a killed worker loses nothing that the next crawl
does not redo, and the dashboard shows it as stopped (``sources._active_crawl``).

Passage vectors are queued after an article is saved (``service``), and computed every ten
minutes as well: Huey delivers at most once, and a change of embedding model has no article
save to start it. Each run embeds what has no vector from the current embedder, so it is
idempotent; when the provider fails partway, the run keeps what it embedded and metered, and
the ten-minute run carries on from there (``embeddings.embed_pending``).
"""

from __future__ import annotations

import logging

from huey import crontab
from sqlalchemy.orm import Session

from asthron.audit.service import Actor
from asthron.jobs.queue import app_registry, app_task, enqueue_after_commit, huey
from asthron.knowledge import crawling, embeddings, sources
from asthron.knowledge.source_models import KnowledgeCrawl, KnowledgeSource

log = logging.getLogger(__name__)


@huey.task()
def crawl_task(crawl_id: int) -> None:
    # Not an app_task: the crawl writes each page in a transaction of its own, so staff see
    # it advance, and holds none while it downloads.
    crawling.run_crawl(app_registry(), crawl_id)


def queue_crawl(
    db: Session, actor: Actor, source: KnowledgeSource, trigger: str = "manual"
) -> KnowledgeCrawl:
    """Start a crawl of ``source`` (SourceError when one is under way); the worker runs it
    once this transaction commits."""
    crawl = sources.start_crawl(db, actor, source, trigger)
    enqueue_after_commit(crawl_task, crawl.id, db=db)
    return crawl


@app_task(periodic=crontab(minute="*/5"))
def crawl_due_sources(db: Session) -> None:
    for source in sources.due_sources(db):
        queue_crawl(db, Actor.system(), source, trigger="schedule")


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

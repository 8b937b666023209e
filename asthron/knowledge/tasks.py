"""Background work of the knowledge import: website crawls, on demand and on a schedule.

A crawl is not outbox work: losing one to a killed worker loses nothing that the next crawl
does not redo, and the dashboard shows it as stopped (``sources._active_crawl``).
"""

from __future__ import annotations

from huey import crontab
from sqlalchemy.orm import Session

from asthron.audit.service import Actor
from asthron.jobs.queue import app_registry, app_task, enqueue_after_commit, huey
from asthron.knowledge import crawling, sources
from asthron.knowledge.source_models import KnowledgeCrawl, KnowledgeSource


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

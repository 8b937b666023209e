"""Knowledge in: website sources and their crawls, and files imported as articles.

The services here take a session and know nothing of requests. A crawl is queued here and
run by the worker (``knowledge/crawling.py``), which reports each page back through
``record_page``; staff follow it on the dashboard.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit
from asthron.audit.service import Actor
from asthron.db import utcnow
from asthron.knowledge import service
from asthron.knowledge.documents import Document
from asthron.knowledge.fetching import site_key
from asthron.knowledge.models import Article
from asthron.knowledge.source_models import (
    KnowledgeCrawl,
    KnowledgeCrawlPage,
    KnowledgeSource,
    KnowledgeSourcePage,
)
from asthron.security.ssrf import SSRFError, UnresolvableHost, check_url
from asthron.text import single_line

MAX_PAGES_LIMIT = 2000
ACTIVE = ("queued", "running")
# A crawl writes its heartbeat with every page; one silent this long lost its worker.
STALE_AFTER = dt.timedelta(minutes=15)
QUEUED_TOO_LONG = dt.timedelta(hours=2)


class SourceError(ValueError):
    """Invalid source settings or an impossible action; the message is safe to show."""


@dataclass
class SourceInput:
    name: str
    url: str
    max_pages: int = 200
    recrawl_hours: int = 0
    publish_pages: bool = False


def _validated(data: SourceInput, allowed_private) -> SourceInput:
    url = (data.url or "").strip()
    try:
        check_url(url, allowed_private)
    except UnresolvableHost:
        pass  # nothing to refuse yet: each crawl checks every address again
    except SSRFError as exc:
        raise SourceError(str(exc)) from None
    name = " ".join((data.name or "").split())[:120] or url[:120]
    if not 1 <= data.max_pages <= MAX_PAGES_LIMIT:
        raise SourceError(f"Pages per crawl: between 1 and {MAX_PAGES_LIMIT}.")
    if not 0 <= data.recrawl_hours <= 24 * 90:
        raise SourceError("Re-crawl every: 0 (only on demand) to 2160 hours.")
    return SourceInput(name, url, data.max_pages, data.recrawl_hours, bool(data.publish_pages))


def _next_crawl(source: KnowledgeSource, now: dt.datetime) -> dt.datetime | None:
    return now + dt.timedelta(hours=source.recrawl_hours) if source.recrawl_hours else None


def create_source(db: Session, actor: Actor, data: SourceInput, allowed_private) -> KnowledgeSource:
    data = _validated(data, allowed_private)
    source = KnowledgeSource(
        name=data.name,
        url=data.url,
        max_pages=data.max_pages,
        recrawl_hours=data.recrawl_hours,
        publish_pages=data.publish_pages,
    )
    # A scheduled source is due at once: its first crawl starts at the scheduler's next round.
    source.next_crawl_at = utcnow() if data.recrawl_hours else None
    db.add(source)
    db.flush()
    audit.record(
        db, actor, "knowledge.source_create", "knowledge_source", source.id, {"url": source.url}
    )
    return source


def update_source(
    db: Session, actor: Actor, source: KnowledgeSource, data: SourceInput, allowed_private
) -> KnowledgeSource:
    """Change the source's settings. When its address moves to another site, the pages of the
    old one are retired at once (their articles unpublished and marked, kept): no crawl of the
    new address will ever reach them again, so nothing else would."""
    data = _validated(data, allowed_private)
    now = utcnow()
    previous_url = source.url
    moved = site_key(data.url) != site_key(previous_url)
    if moved and _active_crawl(db, source.id, now) is not None:
        raise SourceError(
            "A crawl of this website is under way; change its address when it has finished."
        )
    source.name, source.url, source.max_pages = data.name, data.url, data.max_pages
    source.publish_pages = data.publish_pages
    if data.recrawl_hours != source.recrawl_hours:
        source.recrawl_hours = data.recrawl_hours
        source.next_crawl_at = _next_crawl(source, now)
    summary = {"url": source.url}
    if moved:
        retired = 0
        for page in known_pages(db, source.id).values():
            if page.retired_at is None and site_key(page.url) != site_key(source.url):
                _retire(db, page, now, actor)
                retired += 1
        summary.update(previous_url=previous_url, retired_pages=retired)
    audit.record(db, actor, "knowledge.source_update", "knowledge_source", source.id, summary)
    return source


def delete_source(db: Session, actor: Actor, source: KnowledgeSource) -> None:
    """Forget the source and its crawls; its articles stay (as drafts to review)."""
    for article in db.scalars(sa.select(Article).where(Article.knowledge_source_id == source.id)):
        article.knowledge_source_id = None
    audit.record(
        db, actor, "knowledge.source_delete", "knowledge_source", source.id, {"url": source.url}
    )
    db.delete(source)
    db.flush()


def list_sources(db: Session) -> list[KnowledgeSource]:
    return list(db.scalars(sa.select(KnowledgeSource).order_by(KnowledgeSource.name)))


def crawls_of(db: Session, source_id: int, limit: int = 10) -> list[KnowledgeCrawl]:
    return list(
        db.scalars(
            sa.select(KnowledgeCrawl)
            .where(KnowledgeCrawl.source_id == source_id)
            .order_by(KnowledgeCrawl.id.desc())
            .limit(limit)
        )
    )


def pages_of_crawl(db: Session, crawl_id: int) -> list[KnowledgeCrawlPage]:
    return list(
        db.scalars(
            sa.select(KnowledgeCrawlPage)
            .where(KnowledgeCrawlPage.crawl_id == crawl_id)
            .order_by(KnowledgeCrawlPage.id)
        )
    )


# -- crawls ----------------------------------------------------------------------------------


def _active_crawl(db: Session, source_id: int, now: dt.datetime) -> KnowledgeCrawl | None:
    """The crawl under way for the source; one whose worker died is marked failed instead."""
    crawl = db.scalar(
        sa.select(KnowledgeCrawl)
        .where(KnowledgeCrawl.source_id == source_id, KnowledgeCrawl.status.in_(ACTIVE))
        .order_by(KnowledgeCrawl.id.desc())
        .limit(1)
    )
    if crawl is None:
        return None
    if crawl.status == "running":
        stale = (crawl.heartbeat_at or crawl.started_at or crawl.created_at) < now - STALE_AFTER
    else:
        stale = crawl.created_at < now - QUEUED_TOO_LONG
    if stale:
        crawl.status, crawl.finished_at = "failed", now
        crawl.note = "The worker stopped before the crawl finished."
        return None
    return crawl


def start_crawl(
    db: Session, actor: Actor, source: KnowledgeSource, trigger: str = "manual"
) -> KnowledgeCrawl:
    """A new queued crawl of the source; ``knowledge.tasks.queue_crawl`` hands it to the
    worker after this transaction commits."""
    now = utcnow()
    if _active_crawl(db, source.id, now) is not None:
        raise SourceError("A crawl of this website is already under way.")
    crawl = KnowledgeCrawl(source_id=source.id, status="queued", trigger=trigger, counts={})
    db.add(crawl)
    source.next_crawl_at = _next_crawl(source, now)
    db.flush()
    audit.record(
        db,
        actor,
        "knowledge.crawl",
        "knowledge_source",
        source.id,
        {"url": source.url, "crawl_id": crawl.id, "trigger": trigger},
    )
    return crawl


def due_sources(db: Session) -> list[KnowledgeSource]:
    """Sources whose re-crawl interval has passed and that have no crawl under way."""
    now = utcnow()
    due = sa.select(KnowledgeSource).where(
        KnowledgeSource.recrawl_hours > 0,
        sa.or_(KnowledgeSource.next_crawl_at.is_(None), KnowledgeSource.next_crawl_at <= now),
    )
    return [s for s in db.scalars(due) if _active_crawl(db, s.id, now) is None]


def claim_crawl(db: Session, crawl_id: int) -> bool:
    """Move a queued crawl to running; False when another worker has it or it is gone."""
    now = utcnow()
    claimed = db.execute(
        sa.update(KnowledgeCrawl)
        .where(KnowledgeCrawl.id == crawl_id, KnowledgeCrawl.status == "queued")
        .values(status="running", started_at=now, heartbeat_at=now)
    )
    return claimed.rowcount == 1


def finish_crawl(db: Session, crawl_id: int, status: str, note: str = "") -> None:
    crawl = db.get(KnowledgeCrawl, crawl_id)
    if crawl is None:
        return
    crawl.status, crawl.finished_at, crawl.note = status, utcnow(), note[:500]
    audit.record(
        db,
        Actor.system(),
        "knowledge.crawl_finish",
        "knowledge_source",
        crawl.source_id,
        {"crawl_id": crawl.id, "status": status, "counts": dict(crawl.counts or {})},
    )


# -- pages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageResult:
    url: str
    outcome: str  # new, updated, unchanged, failed, skipped, retired
    reason: str = ""
    title: str | None = None
    body: str | None = None
    source_type: str = "html"
    etag: str | None = None
    last_modified: str | None = None


def known_pages(db: Session, source_id: int) -> dict[str, KnowledgeSourcePage]:
    rows = db.scalars(
        sa.select(KnowledgeSourcePage).where(KnowledgeSourcePage.source_id == source_id)
    )
    return {row.url: row for row in rows}


def content_hash(title: str, body: str) -> str:
    return hashlib.sha256(f"{title}\n\n{body}".encode()).hexdigest()


def _save_page_article(
    db: Session, source: KnowledgeSource, page: KnowledgeSourcePage, result: PageResult
) -> tuple[str, Article]:
    article = db.get(Article, page.article_id) if page.article_id else None
    title = (result.title or PurePath(result.url).name or result.url)[:200]
    if article is None:
        data = service.ArticleInput(
            title=title,
            body=result.body,
            tags=[],
            published=source.publish_pages,
            source_url=result.url,
        )
        article = service.create_article(db, Actor.system(), data)
        outcome = "new"
    else:
        published = source.publish_pages if article.retired_at else article.published
        data = service.ArticleInput(
            title=title,
            body=result.body,
            tags=list(article.tags or []),
            published=published,
            source_url=result.url,
        )
        article = service.update_article(db, Actor.system(), article, data)
        outcome = "updated"
    article.source_kind, article.source_type = "website", result.source_type
    article.knowledge_source_id, article.retired_at = source.id, None
    page.article_id = article.id
    return outcome, article


def _retire(
    db: Session, page: KnowledgeSourcePage, now: dt.datetime, actor: Actor | None = None
) -> None:
    page.retired_at = now
    article = db.get(Article, page.article_id) if page.article_id else None
    if article is not None and article.retired_at is None:
        data = service.ArticleInput(
            title=article.title,
            body=article.body,
            tags=list(article.tags or []),
            published=False,
            source_url=article.source_url,
        )
        service.update_article(db, actor or Actor.system(), article, data)
        article.retired_at = now


def record_page(db: Session, crawl_id: int, result: PageResult) -> str:
    """Store what the crawl found at one address, update its article, count it; returns the
    outcome. A failed page never touches its article, except a page that is gone (404/410):
    its article is retired (unpublished and marked, not deleted)."""
    crawl = db.get(KnowledgeCrawl, crawl_id)
    source = db.get(KnowledgeSource, crawl.source_id)
    now = utcnow()
    page = db.scalar(
        sa.select(KnowledgeSourcePage).where(
            KnowledgeSourcePage.source_id == source.id, KnowledgeSourcePage.url == result.url
        )
    )
    outcome, reason, article_id = result.outcome, result.reason, None
    if outcome == "retired":
        if page is not None and page.retired_at is None:
            _retire(db, page, now)
            article_id = page.article_id
        else:
            outcome = "failed"
    elif outcome == "fetched":
        digest = content_hash(result.title or "", result.body or "")
        if page is None:
            page = KnowledgeSourcePage(source_id=source.id, url=result.url)
            db.add(page)
        page.etag, page.last_modified, page.last_seen_at = (
            result.etag,
            result.last_modified,
            now,
        )
        article = db.get(Article, page.article_id) if page.article_id else None
        if article is not None and page.content_hash == digest and page.retired_at is None:
            outcome = "unchanged"
        else:
            try:
                with db.begin_nested():
                    outcome, article = _save_page_article(db, source, page, result)
            except service.KnowledgeError as exc:
                outcome, reason = "failed", str(exc)
            else:
                page.content_hash, page.retired_at = digest, None
        article_id = page.article_id
    elif outcome == "unchanged" and page is not None:
        page.last_seen_at, article_id = now, page.article_id
    db.add(
        KnowledgeCrawlPage(
            crawl_id=crawl_id,
            url=result.url[:2000],
            outcome=outcome,
            reason=reason[:500],
            article_id=article_id,
        )
    )
    counts = dict(crawl.counts or {})
    counts[outcome] = counts.get(outcome, 0) + 1
    crawl.counts, crawl.heartbeat_at = counts, now
    return outcome


def note_progress(db: Session, crawl_id: int, note: str) -> None:
    crawl = db.get(KnowledgeCrawl, crawl_id)
    if crawl is not None:
        crawl.note, crawl.heartbeat_at = note[:500], utcnow()


# -- files -----------------------------------------------------------------------------------


def file_key(name: str) -> str:
    """The name an imported file is known by: its relative path as plain text, each part one
    plain line (a file name is the uploader's text: no control characters), no "." or ".."
    parts, at most 300 characters (the end kept, where the file's own name is)."""
    parts = (single_line(part) for part in PurePosixPath(name.replace("\\", "/")).parts)
    kept = [part for part in parts if part and part not in (".", "..", "/")]
    return "/".join(kept)[-300:] or "file"


def title_for_file(name: str, document: Document) -> str:
    stem = PurePath(name).stem.replace("-", " ").replace("_", " ").strip()
    return (document.title or stem.title() or name)[:200]


def import_document(
    db: Session, actor: Actor, name: str, document: Document, published: bool = False
) -> tuple[Article, bool]:
    """Make (or update) the article for one imported file, keeping the file's name and type
    on it. ``name`` may be a path within the folder imported ("a/faq.md"), which is how
    a/faq.md and b/faq.md stay two articles. Only the article imported from that same file
    is updated in place: one that merely has the same title (written by hand, or from another
    file) is another article and is left alone. Drafts unless ``published``: nobody has
    reviewed the file yet."""
    name = file_key(name)
    title = title_for_file(PurePosixPath(name).name, document)
    existing = db.scalar(
        sa.select(Article)
        .where(Article.source_kind == "file", Article.source_file == name)
        .order_by(Article.id)
        .limit(1)
    )
    data = service.ArticleInput(title=title, body=document.body, tags=[], published=published)
    if existing is not None:
        data.tags = list(existing.tags or [])
        article = service.update_article(db, actor, existing, data)
    else:
        article = service.create_article(db, actor, data)
    article.source_kind, article.source_file = "file", name
    article.source_type, article.retired_at = document.source_type, None
    audit.record(
        db,
        actor,
        "knowledge.import",
        "article",
        article.id,
        {"file": name, "type": document.source_type, "title": article.title},
    )
    return article, existing is None

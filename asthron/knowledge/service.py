"""Managing knowledge-base articles: validation, chunking, indexing and import."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit
from asthron.audit.service import Actor
from asthron.jobs.queue import enqueue_after_commit
from asthron.knowledge import embeddings, search, tasks
from asthron.knowledge.chunking import chunk_markdown
from asthron.knowledge.models import Article, ArticleChunk

MAX_BODY = 200_000


class KnowledgeError(ValueError):
    """An article is invalid; the message is safe to show."""


@dataclass
class ArticleInput:
    title: str
    body: str
    tags: list[str]
    published: bool = True
    source_url: str | None = None

    def validated(self) -> ArticleInput:
        title = self.title.strip() if isinstance(self.title, str) else ""
        if not title or len(title) > 200:
            raise KnowledgeError("Give the article a title (200 characters at most).")
        if not isinstance(self.body, str) or not self.body.strip():
            raise KnowledgeError("The article needs some text.")
        if len(self.body) > MAX_BODY:
            raise KnowledgeError(f"The article is too long ({MAX_BODY:,} characters at most).")
        tags = sorted({t.strip().lower()[:40] for t in (self.tags or []) if t and t.strip()})
        if len(tags) > 30:
            raise KnowledgeError("At most 30 tags.")
        source_url = (self.source_url or "").strip() or None
        if source_url:
            parts = urlsplit(source_url)
            if parts.scheme not in ("http", "https") or not parts.netloc or len(source_url) > 2000:
                raise KnowledgeError("The source URL must be an http(s) address.")
        return ArticleInput(
            title, self.body.replace("\r\n", "\n").strip(), tags, bool(self.published), source_url
        )


def _reindex(db: Session, article: Article) -> None:
    old_ids = [c.id for c in article.chunks]
    search.unindex_chunks(db, old_ids)
    article.chunks.clear()
    db.flush()
    for position, chunk in enumerate(chunk_markdown(article.body)):
        article.chunks.append(
            ArticleChunk(position=position, heading=chunk.heading, text=chunk.text)
        )
    db.flush()
    search.index_chunks(db, article.chunks, article.title)
    _embed_after_commit(db)


def _embed_after_commit(db: Session) -> None:
    """New passages get their vectors in the background (dense retrieval), when an embedder
    is configured; outside the application (a bare session) there is no queue to use."""
    if db.info.get("registry") is not None and embeddings.embedder_for(db) is not None:
        enqueue_after_commit(tasks.embed_passages, db=db)


def create_article(db: Session, actor: Actor, data: ArticleInput) -> Article:
    data = data.validated()
    article = Article(
        title=data.title,
        body=data.body,
        tags=data.tags,
        published=data.published,
        source_url=data.source_url,
    )
    db.add(article)
    db.flush()
    _reindex(db, article)
    audit.record(db, actor, "knowledge.create", "article", article.id, {"title": article.title})
    return article


def update_article(db: Session, actor: Actor, article: Article, data: ArticleInput) -> Article:
    data = data.validated()
    article.title, article.body, article.tags = data.title, data.body, data.tags
    article.published, article.source_url = data.published, data.source_url
    _reindex(db, article)
    audit.record(db, actor, "knowledge.update", "article", article.id, {"title": article.title})
    return article


def delete_article(db: Session, actor: Actor, article: Article) -> None:
    search.unindex_chunks(db, [c.id for c in article.chunks])
    audit.record(db, actor, "knowledge.delete", "article", article.id, {"title": article.title})
    db.delete(article)
    db.flush()


def list_articles(db: Session) -> list[Article]:
    return list(db.scalars(sa.select(Article).order_by(Article.title)))


def title_from_markdown(text: str, fallback: str) -> tuple[str, str]:
    """Use a leading '# Title' line as the title, and the rest as the body."""
    lines = text.lstrip("\ufeff").split("\n")
    first = lines[0].strip() if lines else ""
    if first.startswith("# "):
        return first[2:].strip()[:200], "\n".join(lines[1:]).strip()
    return fallback[:200], text.strip()


def import_text(
    db: Session, actor: Actor, name: str, text: str, published: bool = False
) -> tuple[Article, bool]:
    """Import one file's text (read by ``knowledge.importing``); an article with the same title
    is updated in place. Imported articles are drafts unless ``published``: a file on disk has
    had no one's review yet, and a published article is quoted to anonymous visitors."""
    stem = Path(name).stem
    title, body = title_from_markdown(text, stem.replace("-", " ").replace("_", " ").title())
    existing = db.scalar(sa.select(Article).where(Article.title == title))
    data = ArticleInput(title=title, body=body, tags=[], published=published)
    if existing is not None:
        return update_article(db, actor, existing, data), False
    return create_article(db, actor, data), True

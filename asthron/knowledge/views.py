"""Dashboard → Knowledge: list, write, edit and delete articles, and test retrieval.

Article bodies are markdown kept as text: the dashboard shows them in a text area and never
renders them to HTML.
"""

from __future__ import annotations

from pyramid.httpexceptions import HTTPBadRequest, HTTPNotFound
from pyramid.view import view_config

from asthron.forms import field, matched_id, notice, parse_id, query_field, redirect
from asthron.knowledge import gaps, service
from asthron.knowledge.models import Article
from asthron.knowledge.search import search
from asthron.security.permissions import Permission

# Generous limits for reading the form; the service gives the precise messages.
FIELD_LIMITS = {"title": 1000, "body": service.MAX_BODY + 10_000, "tags": 4000, "source_url": 4000}
QUERY_LIMIT = 400


def _values_of(article: Article | None) -> dict:
    if article is None:
        return {"title": "", "body": "", "tags": "", "published": True, "source_url": ""}
    return {
        "title": article.title,
        "body": article.body,
        "tags": ", ".join(article.tags or []),
        "published": article.published,
        "source_url": article.source_url or "",
    }


def _form_input(request) -> tuple[service.ArticleInput, dict]:
    """The posted article and its form values; unreadable input is a KnowledgeError."""
    values = {}
    try:
        for name, limit in FIELD_LIMITS.items():
            values[name] = field(request, name, limit)
        values["published"] = field(request, "published", 5) == "1"
    except HTTPBadRequest as exc:
        raise service.KnowledgeError(exc.detail) from None
    tags = [t for t in values["tags"].replace("\n", ",").split(",") if t.strip()]
    data = service.ArticleInput(
        title=values["title"],
        body=values["body"],
        tags=tags,
        published=values["published"],
        source_url=values["source_url"],
    )
    return data, values


def _form_page(request, article, values, error=None, status=200, asked=()):
    request.response.status_code = status
    return {
        "article": article,
        "values": values,
        "error": error,
        "notice": notice(request),
        "asked": list(asked),  # what visitors asked, when written from a knowledge gap
    }


@view_config(
    route_name="knowledge.list",
    renderer="knowledge/list.html",
    permission=Permission.KNOWLEDGE,
    request_method="GET",
)
def article_list(request):
    error, query, passages = None, "", None
    try:
        query = query_field(request, "q", QUERY_LIMIT).strip()
    except HTTPBadRequest as exc:
        error = exc.detail
        request.response.status_code = 400
    if query:
        passages = search(request.db, query, limit=6)
    return {
        "articles": service.list_articles(request.db),
        "query": query,
        "passages": passages,
        "notice": notice(request),
        "error": error,
    }


@view_config(
    route_name="knowledge.create",
    renderer="knowledge/edit.html",
    permission=Permission.KNOWLEDGE,
    request_method="GET",
)
def article_new(request):
    """The new-article form; ``?gap=<id>`` (from the knowledge gaps page) starts it with that
    group's question as the title and shows what visitors asked."""
    values, asked = _values_of(None), []
    gap_id = parse_id(request.GET.get("gap"))
    group = gaps.group_of(request.db, gap_id) if gap_id else None
    if group is not None:
        values["title"] = group.question[:200]
        asked = group.questions[:10]
    return _form_page(request, None, values, asked=asked)


@view_config(
    route_name="knowledge.create",
    renderer="knowledge/edit.html",
    permission=Permission.KNOWLEDGE,
    request_method="POST",
)
def article_create(request):
    try:
        data, _values = _form_input(request)
        article = service.create_article(request.db, request.actor, data)
    except service.KnowledgeError as exc:
        values = dict(_values_of(None), **_posted(request))
        return _form_page(request, None, values, str(exc), 400)
    return redirect(request, "knowledge.edit", "article_saved", article_id=article.id)


def _article(request) -> Article:
    article = request.db.get(Article, matched_id(request, "article_id"))
    if article is None:
        raise HTTPNotFound()
    return article


def _posted(request) -> dict:
    """What was posted, to show again after a refusal (one value per field)."""
    values = {}
    for name in FIELD_LIMITS:
        posted = request.POST.getall(name)
        values[name] = posted[0] if len(posted) == 1 and isinstance(posted[0], str) else ""
    values["published"] = request.POST.get("published") == "1"
    return values


@view_config(
    route_name="knowledge.edit",
    renderer="knowledge/edit.html",
    permission=Permission.KNOWLEDGE,
    request_method="GET",
)
def article_edit(request):
    article = _article(request)
    return _form_page(request, article, _values_of(article))


@view_config(
    route_name="knowledge.edit",
    renderer="knowledge/edit.html",
    permission=Permission.KNOWLEDGE,
    request_method="POST",
)
def article_update(request):
    article = _article(request)
    try:
        data, _values = _form_input(request)
        service.update_article(request.db, request.actor, article, data)
    except service.KnowledgeError as exc:
        values = dict(_values_of(article), **_posted(request))
        return _form_page(request, article, values, str(exc), 400)
    return redirect(request, "knowledge.edit", "article_saved", article_id=article.id)


@view_config(
    route_name="knowledge.delete",
    permission=Permission.KNOWLEDGE,
    request_method="POST",
)
def article_delete(request):
    article = _article(request)
    service.delete_article(request.db, request.actor, article)
    return redirect(request, "knowledge.list", "article_deleted")

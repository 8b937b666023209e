"""Dashboard → Knowledge → Sources: website sources and their crawls, and file uploads.

A crawl runs in the worker; its page here shows the counts and every page's result, and
reloads itself while the crawl is under way (a meta refresh: no script needed).
"""

from __future__ import annotations

from pathlib import PurePath

from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config

from asthron.forms import FormError, matched_id, notice, parse_form, redirect
from asthron.knowledge import sources
from asthron.knowledge.documents import DocumentError, read_document
from asthron.knowledge.service import KnowledgeError
from asthron.knowledge.source_forms import SourceForm
from asthron.knowledge.source_models import KnowledgeCrawl, KnowledgeSource
from asthron.knowledge.tasks import queue_crawl
from asthron.security.permissions import Permission
from asthron.text import single_line

MAX_FILES = 20
BLANK_SOURCE = {
    "name": "",
    "url": "",
    "max_pages": "200",
    "recrawl_hours": "0",
    "publish_pages": "",
}


def _allowed_private(request):
    return request.app_settings.outbound_allowed_private_hosts


def _page(request, status=200, **values):
    request.response.status_code = status
    return {
        "sources": sources.list_sources(request.db),
        "values": BLANK_SOURCE,
        "errors": {},
        "upload_results": None,
        "upload_error": None,
        "max_upload_mb": request.app_settings.knowledge_max_upload_size // (1024 * 1024),
        "notice": notice(request),
        **values,
    }


@view_config(
    route_name="knowledge.sources",
    renderer="knowledge/sources.html",
    permission=Permission.KNOWLEDGE,
    request_method="GET",
)
def source_list(request):
    return _page(request)


@view_config(
    route_name="knowledge.sources",
    renderer="knowledge/sources.html",
    permission=Permission.KNOWLEDGE,
    request_method="POST",
)
def source_create(request):
    try:
        form = parse_form(SourceForm, request.POST)
        source = sources.create_source(
            request.db, request.actor, form.as_input(), _allowed_private(request)
        )
    except FormError as exc:
        return _page(request, 400, values={**BLANK_SOURCE, **exc.values}, errors=exc.errors)
    except sources.SourceError as exc:
        values = {**BLANK_SOURCE, **{k: request.POST.get(k, "") for k in BLANK_SOURCE}}
        return _page(request, 400, values=values, errors={"url": str(exc)})
    return redirect(request, "knowledge.source", "source_saved", source_id=source.id)


def _source(request) -> KnowledgeSource:
    source = request.db.get(KnowledgeSource, matched_id(request, "source_id"))
    if source is None:
        raise HTTPNotFound()
    return source


def _source_page(request, source, status=200, values=None, errors=None, error=None):
    request.response.status_code = status
    crawls = sources.crawls_of(request.db, source.id)
    return {
        "source": source,
        "crawls": crawls,
        "values": values
        or {
            "name": source.name,
            "url": source.url,
            "max_pages": str(source.max_pages),
            "recrawl_hours": str(source.recrawl_hours),
            "publish_pages": source.publish_pages,
        },
        "errors": errors or {},
        "error": error,
        "notice": notice(request),
    }


@view_config(
    route_name="knowledge.source",
    renderer="knowledge/source.html",
    permission=Permission.KNOWLEDGE,
    request_method="GET",
)
def source_show(request):
    return _source_page(request, _source(request))


@view_config(
    route_name="knowledge.source",
    renderer="knowledge/source.html",
    permission=Permission.KNOWLEDGE,
    request_method="POST",
)
def source_update(request):
    source = _source(request)
    try:
        form = parse_form(SourceForm, request.POST)
        sources.update_source(
            request.db, request.actor, source, form.as_input(), _allowed_private(request)
        )
    except FormError as exc:
        return _source_page(request, source, 400, exc.values, exc.errors)
    except sources.SourceError as exc:
        values = {k: request.POST.get(k, "") for k in BLANK_SOURCE}
        return _source_page(request, source, 400, values, {"url": str(exc)})
    return redirect(request, "knowledge.source", "source_saved", source_id=source.id)


@view_config(
    route_name="knowledge.source_crawl",
    renderer="knowledge/source.html",
    permission=Permission.KNOWLEDGE,
    request_method="POST",
)
def source_crawl(request):
    source = _source(request)
    try:
        crawl = queue_crawl(request.db, request.actor, source)
    except sources.SourceError as exc:
        return _source_page(request, source, 409, error=str(exc))
    return redirect(request, "knowledge.crawl", "crawl_queued", crawl_id=crawl.id)


@view_config(
    route_name="knowledge.source_delete",
    permission=Permission.KNOWLEDGE,
    request_method="POST",
)
def source_delete(request):
    sources.delete_source(request.db, request.actor, _source(request))
    return redirect(request, "knowledge.sources", "source_deleted")


@view_config(
    route_name="knowledge.crawl",
    renderer="knowledge/sources_crawl.html",
    permission=Permission.KNOWLEDGE,
    request_method="GET",
)
def crawl_show(request):
    crawl = request.db.get(KnowledgeCrawl, matched_id(request, "crawl_id"))
    if crawl is None:
        raise HTTPNotFound()
    return {
        "crawl": crawl,
        "source": request.db.get(KnowledgeSource, crawl.source_id),
        "pages": sources.pages_of_crawl(request.db, crawl.id),
        "notice": notice(request),
    }


# -- file upload -----------------------------------------------------------------------------


def _uploads(request) -> list:
    return [f for f in request.POST.getall("files") if getattr(f, "filename", None)]


@view_config(
    route_name="knowledge.upload",
    renderer="knowledge/sources.html",
    permission=Permission.KNOWLEDGE,
    request_method="POST",
)
def upload(request):
    """Import the uploaded files; if any cannot be read, none is imported and each refusal
    is listed with its file."""
    files = _uploads(request)
    if not files:
        return _page(request, 400, upload_error="Choose one or more files to import.")
    if len(files) > MAX_FILES:
        return _page(request, 400, upload_error=f"At most {MAX_FILES} files at once.")
    cap = request.app_settings.knowledge_max_upload_size
    documents, refused = [], []
    for upload_file in files:
        name = single_line(PurePath(str(upload_file.filename).replace("\\", "/")).name)[:300]
        name = name or "upload"
        data = upload_file.file.read(cap + 1)
        try:
            documents.append((name, read_document(name, data, max_bytes=cap)))
        except DocumentError as exc:
            refused.append((name, str(exc)))
    if refused:
        return _page(
            request,
            400,
            upload_error="Nothing was imported: fix or leave out the files below.",
            upload_results=[(name, "refused", reason) for name, reason in refused],
        )
    published = request.POST.get("published") == "1"
    results = []
    try:
        with request.db.begin_nested():
            for name, document in documents:
                article, created = sources.import_document(
                    request.db, request.actor, name, document, published=published
                )
                results.append((name, "created" if created else "updated", article.title))
    except KnowledgeError as exc:
        return _page(
            request,
            400,
            upload_error="Nothing was imported.",
            upload_results=[(name, "refused", str(exc))],
        )
    return _page(request, upload_results=results)

"""Serving widget.js (cached, gzipped) and the development demo page."""

from __future__ import annotations

import gzip
import hashlib
from functools import cache
from pathlib import Path

from pyramid.httpexceptions import HTTPNotFound
from pyramid.response import Response
from pyramid.view import view_config

from asthron.sites import service as sites

WIDGET_PATH = Path(__file__).resolve().parent.parent / "static" / "widget.js"


@cache
def _bundle(mtime: float) -> tuple[bytes, bytes, str]:
    raw = WIDGET_PATH.read_bytes()
    return raw, gzip.compress(raw, compresslevel=9, mtime=0), hashlib.sha256(raw).hexdigest()[:20]


@view_config(route_name="widget.script", request_method="GET", require_csrf=False)
def widget_script(request):
    raw, compressed, digest = _bundle(WIDGET_PATH.stat().st_mtime)
    etag = f'"{digest}"'
    response = Response(content_type="text/javascript", charset="utf-8")
    response.headers["ETag"] = etag
    # The snippet's URL never changes, so the cache is long but revalidated by ETag.
    response.cache_control = "public, max-age=86400, stale-while-revalidate=604800"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.vary = ("Accept-Encoding",)
    if request.headers.get("If-None-Match") == etag:
        response.status_code = 304
        return response
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response.body = compressed
        response.content_encoding = "gzip"
    else:
        response.body = raw
    request.csp_disabled = True
    return response


@view_config(route_name="widget.avatar", request_method="GET", require_csrf=False)
def widget_avatar(request):
    """The avatar the widget's header shows, on any website: its URL names its digest, so it
    is cached for good; an image type checked at upload, never sniffed, never a document."""
    site = sites.get_by_key(request.db, request.matchdict["site_key"])
    avatar = site and sites.avatar_of(request.db, site, request.matchdict["digest"])
    if not avatar:
        raise HTTPNotFound()
    response = Response(body=avatar.data, content_type=avatar.content_type)
    response.cache_control = "public, max-age=31536000, immutable"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    request.csp.update({"default-src": ["'none'"], "frame-ancestors": ["'none'"]})
    return response


@view_config(route_name="widget.demo", request_method="GET", renderer="sites/demo.html")
def demo_page(request):
    """A page that embeds the widget, so a newcomer sees the whole loop (development only)."""
    if not request.app_settings.demo_page:
        raise HTTPNotFound()
    site = next(iter(sites.list_sites(request.db)), None)
    if site is None:
        raise HTTPNotFound()
    request.csp["frame-ancestors"] = ["'none'"]
    return {"site": site}

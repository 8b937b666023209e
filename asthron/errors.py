"""Error pages: anonymous users are sent to log in, the API answers JSON, nothing leaks."""

from __future__ import annotations

import logging

from pyramid.exceptions import BadCSRFOrigin, BadCSRFToken, PredicateMismatch
from pyramid.httpexceptions import HTTPException, HTTPForbidden, HTTPNotFound, HTTPSeeOther
from pyramid.view import exception_view_config, forbidden_view_config, notfound_view_config

from asthron.security.methods import route_methods

log = logging.getLogger(__name__)

# Domain errors carry a stable code for clients and never an HTTP status: this table is the
# one place that turns a code into a status, for every edge that answers them (the widget
# API's JSON, the inbox's htmx and JSON answers). A code not listed is a 400.
ERROR_STATUS = {
    "invalid_request": 400,
    "malformed_json": 400,
    "invalid_filter": 400,
    "unauthenticated": 401,
    "origin_not_allowed": 403,
    "not_allowed": 403,
    "not_found": 404,
    "unknown_site": 404,
    "already_owned": 409,
    "not_owner": 409,
    "conversation_closed": 409,
    "template_required": 409,
    "visitor_has_open_conversation": 409,
    "slot_unavailable": 409,
    "payload_too_large": 413,
    "invalid_input": 422,
    "too_long": 422,
    "invalid_identity": 422,
    "rate_limited": 429,
    "too_many_streams": 429,
}


def status_of(error) -> int:
    """The HTTP status of a domain error (anything with a ``code``)."""
    return ERROR_STATUS.get(getattr(error, "code", ""), 400)


CSRF_MESSAGE = (
    "The security token (CSRF) of this form is missing or out of date. "
    "Reload the page and try again."
)


def _wants_json(request) -> bool:
    # The raw WSGI path: decoding it could fail on a path that is not UTF-8.
    if request.environ.get("PATH_INFO", "").startswith("/api/"):
        return True
    offers = request.accept.acceptable_offers(["text/html", "application/json"])
    return bool(offers) and offers[0][0] == "application/json"


def _error(request, status: int, code: str, message: str):
    if not hasattr(request, "context"):
        # The request failed before routing (a path that is not UTF-8): the page layout still
        # asks request.has_permission, which needs a context.
        request.context = None
    request.response.status_code = status
    if _wants_json(request):
        request.override_renderer = "json"
        return {"error": {"code": code, "message": message}}
    request.override_renderer = "error.html"
    return {"status": status, "message": message}


@forbidden_view_config(renderer="error.html")
def forbidden(exc, request):
    if request.user is None and request.method == "GET" and not _wants_json(request):
        return HTTPSeeOther(request.route_url("accounts.login", _query={"next": request.path_qs}))
    if request.user is None:
        return _error(request, 401, "unauthenticated", "Log in first.")
    return _error(request, 403, "forbidden", "Your role does not allow this.")


@notfound_view_config(renderer="error.html")
def not_found(exc, request):
    if isinstance(exc, PredicateMismatch) and getattr(request, "matched_route", None):
        # Views here differ only by method, so a route with no view for this one is a 405.
        allowed = route_methods(request)
        if allowed and request.method not in allowed:
            request.response.headers["Allow"] = ", ".join(allowed)
            return _error(request, 405, "method_not_allowed", "This method is not allowed here.")
    return _error(request, 404, "not_found", "Not found.")


@exception_view_config(HTTPException, renderer="error.html")
def http_error(exc, request):
    if exc.code < 400:
        return exc
    if isinstance(exc, HTTPForbidden | HTTPNotFound):
        return exc
    if isinstance(exc, BadCSRFToken | BadCSRFOrigin):
        return _error(request, exc.code, "bad_csrf_token", CSRF_MESSAGE)
    if "Allow" in exc.headers:
        request.response.headers["Allow"] = exc.headers["Allow"]
    code = exc.title.lower().replace(" ", "_")
    return _error(request, exc.code, code, exc.detail or exc.explanation or exc.title)


@exception_view_config(UnicodeDecodeError, renderer="error.html")
def undecodable(exc, request):
    # A query string, path or form body that is not UTF-8 is the client's mistake, not ours.
    return _error(request, 400, "bad_request", "The request is not valid UTF-8.")


@exception_view_config(Exception, renderer="error.html")
def server_error(exc, request):
    # Logged in full for the operator; the response never carries a traceback.
    log.exception("unhandled error on %s %s", request.method, request.path)
    return _error(request, 500, "internal_error", "Something went wrong on our side.")

"""How the inbox answers: htmx partials, JSON or plain pages, and its JSON errors."""

from __future__ import annotations

from pyramid.renderers import render_to_response

from asthron.conversations.service import ConversationError
from asthron.errors import status_of


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def wants_json(request) -> bool:
    if is_htmx(request):
        return False
    offers = request.accept.acceptable_offers(["text/html", "application/json"])
    return bool(offers) and offers[0][0] == "application/json"


def json_error(request, error: ConversationError):
    response = render_to_response(
        "json", {"error": {"code": error.code, "message": error.message}}, request=request
    )
    response.status_code = status_of(error)
    return response

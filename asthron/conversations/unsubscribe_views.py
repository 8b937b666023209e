"""The unsubscribe link of reply emails: a page with one button, and RFC 8058 one-click.

No cookies and no CSRF token: the signed link is the authority (a mail client posts to it
with nothing else), and the only thing it can do is stop emails to that one visitor.
"""

from __future__ import annotations

from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config

from asthron.conversations import unsubscribe
from asthron.forms import parse_id


def _checked(request) -> int:
    visitor_id = parse_id(request.matchdict.get("visitor_id"))
    supplied = request.matchdict.get("token", "")
    if visitor_id is None or not unsubscribe.check(
        request.registry["secrets"], visitor_id, supplied
    ):
        raise HTTPNotFound()
    return visitor_id


@view_config(
    route_name="unsubscribe.visitor",
    renderer="conversations/unsubscribe.html",
    request_method="GET",
    require_csrf=False,
)
def unsubscribe_page(request):
    _checked(request)
    return {"done": False}


@view_config(
    route_name="unsubscribe.visitor",
    renderer="conversations/unsubscribe.html",
    request_method="POST",
    require_csrf=False,
)
def unsubscribe_post(request):
    if not unsubscribe.opt_out(request.db, _checked(request), request.client_addr):
        raise HTTPNotFound()
    return {"done": True}

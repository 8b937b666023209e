"""The old dashboard pages of conversations, now served by the live inbox (asthron.inbox):
their addresses redirect there, so bookmarks and links keep working."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config

from asthron.forms import matched_id
from asthron.security.permissions import Permission


@view_config(
    route_name="conversations.list", permission=Permission.CONVERSATIONS, request_method="GET"
)
def conversation_list(request):
    return HTTPSeeOther(request.route_url("inbox.list"))


@view_config(
    route_name="conversations.detail", permission=Permission.CONVERSATIONS, request_method="GET"
)
def conversation_detail(request):
    conversation_id = matched_id(request, "conversation_id")
    return HTTPSeeOther(request.route_url("inbox.detail", conversation_id=conversation_id))

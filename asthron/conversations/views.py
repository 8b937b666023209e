"""Dashboard: the list of conversations and a transcript (the live inbox builds on this)."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config

from asthron.accounts.permissions import Permission
from asthron.conversations import inbox
from asthron.conversations.models import Conversation


@view_config(
    route_name="conversations.list",
    renderer="conversations/list.html",
    permission=Permission.CONVERSATIONS,
    request_method="GET",
)
def conversation_list(request):
    return {"rows": inbox.recent_conversations(request.db)}


@view_config(
    route_name="conversations.detail",
    renderer="conversations/detail.html",
    permission=Permission.CONVERSATIONS,
    request_method="GET",
)
def conversation_detail(request):
    conversation = request.db.get(Conversation, int(request.matchdict["conversation_id"]))
    if conversation is None:
        raise HTTPNotFound()
    return {"conversation": conversation, "events": inbox.transcript(request.db, conversation.id)}

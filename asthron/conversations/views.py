"""The old dashboard pages of conversations, now served by the live inbox (asthron.inbox):
their addresses redirect there, so bookmarks and links keep working. And staff marking an
assistant reply wrong (the button on the message in the inbox)."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from asthron.conversations import feedback
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


@view_config(
    route_name="conversations.mark_wrong",
    permission=Permission.CONVERSATIONS,
    request_method="POST",
)
def mark_reply_wrong(request):
    """Staff mark an assistant reply wrong from the conversation view (a button on the
    message); back to the conversation, whose question is now a knowledge gap."""
    conversation_id = matched_id(request, "conversation_id")
    try:
        feedback.mark_reply_wrong(
            request.db, request.actor, conversation_id, matched_id(request, "event_id")
        )
    except feedback.NotAnAssistantReply:
        raise HTTPNotFound() from None
    return HTTPSeeOther(request.route_url("inbox.detail", conversation_id=conversation_id))

"""The live staff inbox: the conversation list, one conversation, and the staff actions.

Pages are rendered on the server (autoescaped). Live updates come over SSE: the list as
server-rendered partials the htmx SSE extension swaps in, a conversation's events as JSON
that inbox.js inserts as text. Every POST needs the CSRF token (form field or the
X-CSRF-Token header) and answers in the form it was asked in:

- htmx (``HX-Request``): the conversation's controls partial, with the error in it and a
  4xx status when the action was refused;
- JSON (``Accept: application/json``): ``{"conversation": ...}`` or ``{"error": ...}``;
- a plain form post: a redirect back to the conversation, or the page with the error.

Ownership rules (asthron.conversations.handoff): one human owner. Anyone with the
conversations permission may read, join an unowned chat and add internal notes; only the
owner replies, signals typing and returns the chat; a chat someone else is handling can be
closed only by them or by an admin/owner.
"""

from __future__ import annotations

import uuid

from pyramid.httpexceptions import HTTPBadRequest, HTTPNoContent, HTTPNotFound, HTTPSeeOther
from pyramid.renderers import render, render_to_response
from pyramid.view import exception_view_config, view_config

from asthron.accounts.models import StaffPresence
from asthron.conversations import handoff, service
from asthron.conversations.history import history
from asthron.conversations.models import Conversation
from asthron.conversations.service import ConversationError
from asthron.db import utcnow
from asthron.errors import status_of
from asthron.forms import field, matched_id
from asthron.inbox import service as inbox
from asthron.inbox import streams as inbox_streams
from asthron.inbox import tasks, visitor_details
from asthron.inbox.answers import is_htmx, json_error, wants_json
from asthron.realtime import conversation_channel
from asthron.security.permissions import Permission

MAX_REPLY_FIELD = 20_000
TYPING_PER_MINUTE = 60
# Results of plain (no-JS) form posts, shown after the redirect; a link cannot inject text.
DONE = {
    "joined": "You joined the chat.",
    "returned": "The chat is back with the assistant.",
    "closed": "The conversation was closed.",
    "reopened": "The conversation was reopened.",
    "replied": "Your reply was sent.",
    "noted": "The internal note was added.",
    "presence": "Your status was saved.",
    "visitor_saved": "The visitor's details were saved.",
}


class NotAllowed(ConversationError):
    code = "not_allowed"


# -- helpers --------------------------------------------------------------------------------


def _conversation(request) -> Conversation:
    conversation = request.db.get(Conversation, matched_id(request, "conversation_id"))
    if conversation is None:
        raise HTTPNotFound()
    return conversation


def _presence(request) -> StaffPresence | None:
    return request.db.get(StaffPresence, request.user.id)


def _is_manager(request) -> bool:
    return bool(request.has_permission(Permission.TEAM))


def _done(request) -> str | None:
    values = request.GET.getall("done")
    return DONE.get(values[0]) if len(values) == 1 else None


def _waiting_values() -> dict:
    return {"now": utcnow(), "waited": inbox.waited}


def conversation_json(request, conversation: Conversation) -> dict:
    return {
        "id": conversation.id,
        "status": conversation.status,
        "owner": conversation.owner,
        "assigned_user_id": conversation.assigned_user_id,
        "assigned_name": inbox.owner_name(request.db, conversation),
        "unread": conversation.unread_for_staff,
    }


def _panel_values(request, conversation: Conversation, **extra) -> dict:
    detail = inbox.detail(request.db, conversation)
    user = request.user
    return {
        "conversation": conversation,
        "detail": detail,
        "is_owner": conversation.owner == "human" and conversation.assigned_user_id == user.id,
        "channel_label": inbox.CHANNELS.get(conversation.channel, conversation.channel),
        "may_close": _may_close(request, conversation),
        "local_time": inbox.visitor_local_time(detail.visitor),
        "reply_body": "",
        "note_body": "",
        "client_id": _new_client_id(),
        "error": None,
        "oob": False,
        **_waiting_values(),
        **extra,
    }


def _new_client_id() -> str:
    return uuid.uuid4().hex


def _may_close(request, conversation: Conversation) -> bool:
    if conversation.status != "open":
        return False
    others = conversation.owner == "human" and conversation.assigned_user_id not in (
        None,
        request.user.id,
    )
    return not others or _is_manager(request)


def _respond(request, conversation, done: str, error: ConversationError | None = None, **extra):
    """Answer an action as htmx, JSON or a plain form post (see the module docstring)."""
    status = status_of(error) if error else 200
    request.db.flush()
    request.db.refresh(conversation)
    if is_htmx(request):
        values = _panel_values(
            request, conversation, error=error.message if error else None, oob=True, **extra
        )
        response = render_to_response("inbox/_panel.html", values, request=request)
        response.status_code = status
        response.headers["X-Inbox-Partial"] = "1"
        return response
    if wants_json(request):
        if error:
            return json_error(request, error)
        data = {"conversation": conversation_json(request, conversation), **extra.get("json", {})}
        return render_to_response("json", data, request=request)
    if error:
        values = _detail_values(request, conversation)
        values.update(error=error.message, **extra)
        response = render_to_response("inbox/detail.html", values, request=request)
        response.status_code = status
        return response
    return HTTPSeeOther(
        request.route_url("inbox.detail", conversation_id=conversation.id, _query={"done": done})
    )


def _act(request, action, done: str, on_error: dict | None = None):
    """Run ``action(conversation)``; a refused action (ConversationError) is answered with
    its status and message, and ``on_error`` (what was typed) goes back into the form."""
    conversation = _conversation(request)
    try:
        result = action(conversation)
    except ConversationError as error:
        return _respond(request, conversation, done, error, **(on_error or {}))
    return _respond(request, conversation, done, **(result or {}))


# -- the list -------------------------------------------------------------------------------


def _list_values(request, query: inbox.InboxQuery) -> dict:
    db = request.db
    page = inbox.list_conversations(db, request.user.id, query)
    return {
        "page": page,
        "query": query,
        "filters": inbox.FILTERS,
        "sites": inbox.site_choices(db),
        "channels": inbox.CHANNELS,
        "waiting": inbox.waiting_conversations(db),
        "presence": _presence(request),
        "live": query.before is None,
        "stream_url": request.route_url(
            "inbox.stream",
            _query=query.params() if query.before is None else {"view": "badge"},
        ),
        "error": None,
        "notice": _done(request),
        **_waiting_values(),
    }


@view_config(
    route_name="inbox.list",
    renderer="inbox/list.html",
    permission=Permission.CONVERSATIONS,
    request_method="GET",
)
def inbox_list(request):
    try:
        query = inbox.parse_query(request.db, request.GET)
    except ConversationError as error:
        request.response.status_code = status_of(error)
        values = _list_values(request, inbox.InboxQuery())
        values["error"] = error.message
        return values
    return _list_values(request, query)


@view_config(route_name="inbox.stream", permission=Permission.CONVERSATIONS, request_method="GET")
def inbox_stream(request):
    """SSE of server-rendered partials: ``list`` (the first page of this filter) and
    ``waiting`` (the chats waiting for a person). ``?view=badge`` sends only ``waiting``."""
    view = request.GET.get("view", "list")
    if view not in ("list", "badge"):
        raise HTTPBadRequest("view must be list or badge.")
    try:
        query = inbox.parse_query(request.db, request.GET)
    except ConversationError as error:
        raise HTTPBadRequest(error.message) from None
    if query.before is not None:
        raise HTTPBadRequest("Only the first page is live.")
    registry = request.registry
    user_id = request.user.id
    key = inbox_streams.stream_key(user_id)
    counter = registry["stream_counter"]
    if not counter.acquire(
        key, inbox_streams.STREAMS_PER_STAFF, request.app_settings.stream_capacity
    ):
        return _too_many_streams(request)

    def render_partials():
        with registry["dbsession_factory"]() as db:
            out = []
            values = {"query": query, **_waiting_values()}
            if view == "list":
                page = inbox.list_conversations(db, user_id, query)
                out.append(("list", render("inbox/_rows.html", {**values, "page": page}, request)))
            waiting = inbox.waiting_conversations(db)
            out.append(
                ("waiting", render("inbox/_waiting.html", {**values, "waiting": waiting}, request))
            )
            return out

    response = _sse_response(request)
    response.app_iter = inbox_streams.inbox_stream(
        registry,
        render_partials,
        release=lambda: counter.release(key),
        disconnected=request.environ.get("waitress.client_disconnected"),
    )
    return response


def _sse_response(request):
    response = request.response
    response.content_type = "text/event-stream"
    response.charset = "utf-8"
    response.cache_control = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


def _too_many_streams(request):
    response = request.response
    response.status_code = 429
    response.content_type = "text/plain"
    response.headers["Retry-After"] = "10"
    response.text = "Too many open live views; close a tab and try again."
    return response


# -- one conversation -----------------------------------------------------------------------


def _detail_values(request, conversation: Conversation) -> dict:
    # Every event, internal notes included (staff only).
    events = history(request.db, conversation.id)
    values = _panel_values(request, conversation)
    values.update(
        events=events,
        last_event_id=events[-1].id if events else 0,
        waiting=inbox.waiting_conversations(request.db),
        presence=_presence(request),
        notice=_done(request),
    )
    return values


@view_config(
    route_name="inbox.detail",
    renderer="inbox/detail.html",
    permission=Permission.CONVERSATIONS,
    request_method="GET",
)
def conversation_detail(request):
    return _detail_values(request, _conversation(request))


@view_config(route_name="inbox.panel", permission=Permission.CONVERSATIONS, request_method="GET")
def conversation_panel(request):
    """The controls and the visitor context, for htmx to refresh after ownership changes."""
    conversation = _conversation(request)
    values = _panel_values(request, conversation, oob=True)
    response = render_to_response("inbox/_panel.html", values, request=request)
    response.headers["X-Inbox-Partial"] = "1"
    return response


@view_config(route_name="inbox.events", permission=Permission.CONVERSATIONS, request_method="GET")
def conversation_events(request):
    """The staff SSE stream of one conversation (JSON frames; inbox.js renders them as
    text). ``?after=N`` or the Last-Event-ID header resumes after event N."""
    conversation = _conversation(request)
    after = 0
    for value in (request.GET.get("after", ""), request.headers.get("Last-Event-ID", "")):
        value = value.strip()
        if value:
            if not (value.isascii() and value.isdigit() and len(value) <= 18):
                raise HTTPBadRequest("after must be a non-negative integer.")
            after = max(after, int(value))
    registry = request.registry
    key = inbox_streams.stream_key(request.user.id)
    counter = registry["stream_counter"]
    if not counter.acquire(
        key, inbox_streams.STREAMS_PER_STAFF, request.app_settings.stream_capacity
    ):
        return _too_many_streams(request)
    response = _sse_response(request)
    response.app_iter = inbox_streams.conversation_stream(
        registry,
        conversation.id,
        after,
        release=lambda: counter.release(key),
        disconnected=request.environ.get("waitress.client_disconnected"),
    )
    return response


# -- actions --------------------------------------------------------------------------------


@view_config(route_name="inbox.join", permission=Permission.CONVERSATIONS, request_method="POST")
def join(request):
    return _act(
        request,
        lambda c: handoff.join(request.db, request.actor, c, request.user),
        "joined",
    )


@view_config(route_name="inbox.return", permission=Permission.CONVERSATIONS, request_method="POST")
def return_to_assistant(request):
    return _act(
        request,
        lambda c: handoff.return_to_assistant(request.db, request.actor, c, request.user),
        "returned",
    )


@view_config(route_name="inbox.close", permission=Permission.CONVERSATIONS, request_method="POST")
def close(request):
    def action(conversation):
        # Decide on the current owner, with the row locked, not on what was read earlier.
        service.lock_conversation(request.db, conversation)
        if conversation.status == "open" and not _may_close(request, conversation):
            name = inbox.owner_name(request.db, conversation) or "Someone else"
            raise NotAllowed(f"{name} is handling this chat; only they or an admin can close it.")
        handoff.close(request.db, request.actor, conversation, request.user)

    return _act(request, action, "closed")


@view_config(route_name="inbox.reopen", permission=Permission.CONVERSATIONS, request_method="POST")
def reopen(request):
    return _act(request, lambda c: handoff.reopen(request.db, request.actor, c), "reopened")


@view_config(route_name="inbox.reply", permission=Permission.CONVERSATIONS, request_method="POST")
def reply(request):
    body = field(request, "body", MAX_REPLY_FIELD)
    client_id = field(request, "client_id", 100) or None

    def action(conversation):
        service.lock_conversation(request.db, conversation)
        event = handoff.staff_reply(request.db, conversation, request.user, body, client_id)
        # One email per batch of replies, if the visitor has left and gave an address.
        tasks.schedule_visitor_email(request.db, conversation.id)
        return {"json": {"event": inbox.staff_event_json(event)}}

    return _act(request, action, "replied", on_error={"reply_body": body})


@view_config(route_name="inbox.note", permission=Permission.CONVERSATIONS, request_method="POST")
def add_note(request):
    body = field(request, "body", MAX_REPLY_FIELD)

    def action(conversation):
        event = handoff.add_note(request.db, conversation, request.user, body)
        return {"json": {"event": inbox.staff_event_json(event)}}

    return _act(request, action, "noted", on_error={"note_body": body})


@view_config(route_name="inbox.visitor", permission=Permission.CONVERSATIONS, request_method="POST")
def update_visitor(request):
    """Correct the visitor's name, email or phone (audited; all three validated first)."""
    typed = {
        "name": field(request, "name", 400),
        "email": field(request, "email", 400),
        "phone": field(request, "phone", 100),
    }

    def action(conversation):
        changed = visitor_details.update_visitor(request.db, request.actor, conversation, **typed)
        return {"json": {"changed": changed}}

    return _act(request, action, "visitor_saved", on_error={"visitor_form": typed})


@view_config(route_name="inbox.typing", permission=Permission.CONVERSATIONS, request_method="POST")
def typing(request):
    """The owner is typing a reply: the visitor's widget shows it. Clients throttle; this
    also caps it per person."""
    conversation = _conversation(request)
    active = field(request, "active", 8) in ("1", "true", "on")
    user = request.user
    if conversation.status != "open" or not (
        conversation.owner == "human" and conversation.assigned_user_id == user.id
    ):
        return json_error(
            request, handoff.NotOwner("Only the person handling this chat types in it.")
        )
    limiter = request.registry["rate_limiter"]
    if not limiter.hit("staff-typing", str(user.id), TYPING_PER_MINUTE, 60):
        return json_error(request, ConversationError("Slow down.", "rate_limited"))
    request.notifier.publish(
        conversation_channel(conversation.id),
        {"kind": "typing", "author": "staff", "name": user.display_name, "active": active},
    )
    return HTTPNoContent()


@view_config(route_name="inbox.read", permission=Permission.CONVERSATIONS, request_method="POST")
def mark_read(request):
    conversation = _conversation(request)
    text = field(request, "last_event_id", 18)
    if not (text.isascii() and text.isdigit()):
        return json_error(
            request, ConversationError("last_event_id must be a non-negative integer.")
        )
    unread = inbox.mark_read_by_staff(request.db, conversation, int(text))
    return render_to_response("json", {"unread": unread}, request=request)


@exception_view_config(ConversationError, path_info=r"^/inbox(/|$)")
def inbox_error(error, request):
    """A refusal the views did not answer themselves: a 4xx with its message, never a 500."""
    if wants_json(request) or is_htmx(request):
        return json_error(request, error)
    response = render_to_response(
        "error.html", {"status": status_of(error), "message": error.message}, request=request
    )
    response.status_code = status_of(error)
    return response

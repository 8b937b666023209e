"""Staff presence from the dashboard: the heartbeat, online/away by hand, the new-chat sound."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPBadRequest, HTTPSeeOther
from pyramid.renderers import render_to_response
from pyramid.view import view_config

from asthron.accounts import presence as presence_service
from asthron.accounts.models import StaffPresence
from asthron.conversations.service import ConversationError
from asthron.forms import field
from asthron.inbox.answers import is_htmx, json_error, wants_json
from asthron.security.permissions import Permission


def _presence_json(row: StaffPresence) -> dict:
    return {"status": row.status, "manual": bool(row.manual), "sound": bool(row.sound)}


@view_config(
    route_name="inbox.heartbeat", permission=Permission.CONVERSATIONS, request_method="POST"
)
def heartbeat(request):
    """The dashboard is open (every 30 s); ``idle=1`` after a while without input."""
    idle = field(request, "idle", 8) in ("1", "true")
    row = presence_service.heartbeat(request.db, request.user, idle)
    request.db.flush()  # column defaults (sound) are filled in on insert
    return render_to_response("json", _presence_json(row), request=request)


@view_config(
    route_name="inbox.presence", permission=Permission.CONVERSATIONS, request_method="POST"
)
def set_presence(request):
    """Online/away by hand, and the new-chat sound on or off."""
    status = field(request, "status", 16)
    sound = field(request, "sound", 8)
    if status and status not in ("online", "away"):
        return _presence_error(request, "status must be online or away.")
    if sound and sound not in ("on", "off"):
        return _presence_error(request, "sound must be on or off.")
    row = request.db.get(StaffPresence, request.user.id)
    if status or row is None:
        row = presence_service.set_status(request.db, request.user, status or "online")
    if sound:
        row.sound = sound == "on"
    request.db.flush()
    if is_htmx(request):
        response = render_to_response("inbox/_presence.html", {"presence": row}, request=request)
        response.headers["X-Inbox-Partial"] = "1"
        return response
    if wants_json(request):
        return render_to_response("json", _presence_json(row), request=request)
    return HTTPSeeOther(request.route_url("inbox.list", _query={"done": "presence"}))


def _presence_error(request, message: str):
    if wants_json(request) or is_htmx(request):
        return json_error(request, ConversationError(message, "invalid_request"))
    raise HTTPBadRequest(message)

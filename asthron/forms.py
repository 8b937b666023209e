"""Small helpers the dashboard views share for reading form input safely."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPBadRequest, HTTPSeeOther

MAX_FIELD = 10_000


def field(request, name: str, max_length: int = MAX_FIELD) -> str:
    """One text field from a form post; repeated or oversized fields are a 400."""
    values = request.POST.getall(name)
    if len(values) > 1:
        raise HTTPBadRequest(f"The field {name} was sent more than once.")
    value = values[0] if values else ""
    if not isinstance(value, str):
        raise HTTPBadRequest(f"The field {name} must be text.")
    if len(value) > max_length:
        raise HTTPBadRequest(f"The field {name} is too long.")
    return value


def redirect(request, route_name: str, notice: str | None = None, **kw) -> HTTPSeeOther:
    query = {"notice": notice} if notice else None
    return HTTPSeeOther(request.route_url(route_name, _query=query, **kw))


# Notices shown after a redirect come from this list only, so a link cannot inject text.
NOTICES = {
    "password_changed": "Your password was changed. Your other sessions were signed out.",
    "session_revoked": "The session was signed out.",
    "sessions_revoked": "All of this member's sessions were signed out.",
    "invited": "The invitation was sent.",
    "invitation_revoked": "The invitation was revoked.",
    "role_changed": "The role was changed.",
    "deactivated": "The member was deactivated and signed out everywhere.",
    "reactivated": "The member was reactivated.",
    "email_saved": "Email settings were saved.",
    "welcome": "Welcome to Asthron.",
}


def notice(request) -> str | None:
    return NOTICES.get(request.GET.get("notice", ""))

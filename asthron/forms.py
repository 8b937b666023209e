"""Small helpers the dashboard views share for reading form input safely."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPBadRequest, HTTPNotFound, HTTPSeeOther

MAX_FIELD = 10_000
# Ids in URLs are ASCII digits that fit a 32-bit signed integer column on every database.
MAX_ID = 2**31 - 1


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


def query_field(request, name: str, max_length: int = 400) -> str:
    """One query-string parameter; repeated or oversized parameters are a 400."""
    values = request.GET.getall(name)
    if len(values) > 1:
        raise HTTPBadRequest(f"The parameter {name} was sent more than once.")
    value = values[0] if values else ""
    if len(value) > max_length:
        raise HTTPBadRequest(f"The parameter {name} is too long.")
    return value


def parse_id(value) -> int | None:
    """A positive database id from text, or None (not digits, not ASCII, or out of range)."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return None
    if len(value) > 10:
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


def matched_id(request, name: str) -> int:
    """An id from the URL; anything that cannot be an id is simply not found."""
    number = parse_id(request.matchdict.get(name))
    if number is None:
        raise HTTPNotFound()
    return number


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
    "site_saved": "The site was saved.",
    "article_saved": "The article was saved.",
    "article_deleted": "The article was deleted.",
    "assistant_saved": "The assistant's profile was saved.",
    "provider_saved": "The provider settings were saved.",
    "provider_removed": "The provider was removed.",
    "budget_saved": "The monthly budget was saved.",
    "prices_saved": "The price table was saved.",
    "retention_saved": "The retention windows were saved.",
    "subject_erased": "Everything about that person was erased or anonymised.",
}


def notice(request) -> str | None:
    values = request.GET.getall("notice")
    return NOTICES.get(values[0]) if len(values) == 1 else None

"""Login, logout, password, my sessions, invitation acceptance and the dashboard home."""

from __future__ import annotations

from urllib.parse import urlparse

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from asthron.accounts import passwords
from asthron.accounts import service as accounts
from asthron.accounts.permissions import Permission
from asthron.forms import field, notice, redirect
from asthron.security.policy import (
    DEVICE_COOKIE,
    clear_session_cookie,
    set_session_cookie,
)


def _safe_next(value: str) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    parsed = urlparse(value or "")
    if (
        value.startswith("/")
        and not value.startswith("//")
        and not parsed.netloc
        and "\\" not in value
    ):
        return value
    return "/"


@view_config(
    route_name="dashboard.home",
    renderer="dashboard/home.html",
    permission=Permission.DASHBOARD,
    request_method="GET",
)
def home(request):
    return {"notice": notice(request)}


@view_config(route_name="accounts.login", renderer="accounts/login.html", request_method="GET")
def login_form(request):
    if request.user is not None:
        return HTTPSeeOther(request.route_url("dashboard.home"))
    return {"error": None, "email": "", "next": _safe_next(request.GET.get("next", "/"))}


@view_config(route_name="accounts.login", renderer="accounts/login.html", request_method="POST")
def login(request):
    email = field(request, "email", 320)
    password = field(request, "password", 1024)
    next_url = _safe_next(field(request, "next", 2000))
    secret = request.registry["secrets"]["session_secret"]
    trusted = accounts.device_cookie_valid(secret, email, request.cookies.get(DEVICE_COOKIE))
    try:
        user = accounts.authenticate(
            request.db, request.app_settings, email, password, request.client_addr, trusted
        )
    except accounts.AccountError as exc:
        request.response.status_code = 429 if isinstance(exc, accounts.LoginThrottled) else 400
        return {"error": str(exc), "email": email, "next": next_url}

    # A new token on every login, so a planted session id is never promoted (fixation).
    old_token = request.cookies.get("asthron_session")
    if old_token:
        old = accounts.load_session(request.db, request.app_settings, old_token)
        if old is not None:
            accounts.revoke_session(request.db, request.actor, old, "replaced by login")
    new = accounts.start_session(request.db, user, request.client_addr, request.user_agent)
    response = HTTPSeeOther(next_url)
    set_session_cookie(request, response, new.token)
    response.set_cookie(
        DEVICE_COOKIE,
        accounts.device_cookie_value(secret, user.email),
        max_age=accounts.DEVICE_COOKIE_LIFETIME,
        httponly=True,
        samesite="Strict",
        secure=request.app_settings.cookie_secure,
        path="/login",
    )
    return response


@view_config(route_name="accounts.logout", request_method="POST")
def logout(request):
    if request.user_session is not None:
        accounts.revoke_session(request.db, request.actor, request.user_session, "logout")
    response = HTTPSeeOther(request.route_url("accounts.login"))
    clear_session_cookie(request, response)
    return response


@view_config(
    route_name="accounts.password",
    renderer="accounts/password.html",
    permission=Permission.DASHBOARD,
    request_method="GET",
)
def password_form(request):
    return {"error": None, "min_length": passwords.MIN_LENGTH}


@view_config(
    route_name="accounts.password",
    renderer="accounts/password.html",
    permission=Permission.DASHBOARD,
    request_method="POST",
)
def password_change(request):
    current = field(request, "current_password", 1024)
    new = field(request, "new_password", 1024)
    if new != field(request, "confirm_password", 1024):
        request.response.status_code = 400
        return {"error": "The two new passwords differ.", "min_length": passwords.MIN_LENGTH}
    try:
        accounts.change_password(
            request.db, request.actor, request.user, current, new, request.user_session.id
        )
    except (accounts.AccountError, passwords.PasswordPolicyError) as exc:
        request.response.status_code = 400
        return {"error": str(exc), "min_length": passwords.MIN_LENGTH}
    return redirect(request, "accounts.sessions", "password_changed")


@view_config(
    route_name="accounts.sessions",
    renderer="accounts/sessions.html",
    permission=Permission.DASHBOARD,
    request_method="GET",
)
def my_sessions(request):
    return {
        "sessions": accounts.active_sessions(request.db, request.user, request.app_settings),
        "current_id": request.user_session.id,
        "notice": notice(request),
    }


@view_config(
    route_name="accounts.session_revoke", permission=Permission.DASHBOARD, request_method="POST"
)
def revoke_my_session(request):
    from asthron.accounts.models import UserSession

    session = request.db.get(UserSession, int(request.matchdict["session_id"]))
    # Another user's session id is simply not found here (no IDOR).
    if session is None or session.user_id != request.user.id:
        raise HTTPNotFound()
    accounts.revoke_session(request.db, request.actor, session, "revoked by user")
    if session.id == request.user_session.id:
        response = HTTPSeeOther(request.route_url("accounts.login"))
        clear_session_cookie(request, response)
        return response
    return redirect(request, "accounts.sessions", "session_revoked")


@view_config(
    route_name="accounts.invitation", renderer="accounts/invitation.html", request_method="GET"
)
def invitation_form(request):
    invitation = accounts.find_invitation(request.db, request.matchdict["token"])
    if invitation is None:
        request.response.status_code = 404
    return {"invitation": invitation, "error": None, "min_length": passwords.MIN_LENGTH}


@view_config(
    route_name="accounts.invitation", renderer="accounts/invitation.html", request_method="POST"
)
def invitation_accept(request):
    token = request.matchdict["token"]
    invitation = accounts.find_invitation(request.db, token)
    if invitation is None:
        request.response.status_code = 404
        return {"invitation": None, "error": None, "min_length": passwords.MIN_LENGTH}
    password = field(request, "password", 1024)
    if password != field(request, "confirm_password", 1024):
        request.response.status_code = 400
        return {
            "invitation": invitation,
            "error": "The two passwords differ.",
            "min_length": passwords.MIN_LENGTH,
        }
    try:
        user = accounts.accept_invitation(
            request.db, token, field(request, "display_name", 120), password, request.client_addr
        )
    except (accounts.AccountError, passwords.PasswordPolicyError) as exc:
        request.response.status_code = 400
        return {"invitation": invitation, "error": str(exc), "min_length": passwords.MIN_LENGTH}
    new = accounts.start_session(request.db, user, request.client_addr, request.user_agent)
    response = redirect(request, "dashboard.home", "welcome")
    set_session_cookie(request, response, new.token)
    return response

"""Login, logout, password, my sessions, the dashboard theme and invitation acceptance."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from asthron.accounts import invitations, passwords
from asthron.accounts import service as accounts
from asthron.accounts.policy import (
    DEVICE_COOKIE,
    SESSION_COOKIE,
    clear_session_cookie,
    set_session_cookie,
)
from asthron.forms import field, matched_id, notice, query_field, redirect
from asthron.security.permissions import Permission
from asthron.security.redirects import safe_next


def _client_ip(request) -> str:
    return request.client_addr or "unknown"


def _start_login(request, user, response):
    """A new session with a new token; a session cookie the browser already had (maybe one an
    attacker planted) is ended, never promoted (session fixation)."""
    old_token = request.cookies.get(SESSION_COOKIE)
    if old_token:
        old = accounts.load_session(request.db, request.app_settings, old_token)
        if old is not None:
            accounts.revoke_session(request.db, request.actor, old, "replaced by login")
    new = accounts.start_session(request.db, user, _client_ip(request), request.user_agent)
    set_session_cookie(request, response, new.token)
    return response


@view_config(route_name="accounts.login", renderer="accounts/login.html", request_method="GET")
def login_form(request):
    if request.user is not None:
        return HTTPSeeOther(request.route_url("dashboard.home"))
    return {"error": None, "email": "", "next": safe_next(query_field(request, "next", 2000))}


@view_config(route_name="accounts.login", renderer="accounts/login.html", request_method="POST")
def login(request):
    email = field(request, "email", 320)
    password = field(request, "password", 1024)
    next_url = safe_next(field(request, "next", 2000))
    secret = request.registry["secrets"]["session_secret"]
    trusted = accounts.device_cookie_valid(secret, email, request.cookies.get(DEVICE_COOKIE))
    try:
        user = accounts.authenticate(
            request.db, request.app_settings, email, password, _client_ip(request), trusted
        )
    except accounts.AccountError as exc:
        # The same message and status for unknown emails, wrong passwords and inactive users.
        request.response.status_code = 429 if isinstance(exc, accounts.LoginThrottled) else 400
        return {"error": str(exc), "email": email, "next": next_url}

    response = _start_login(request, user, HTTPSeeOther(next_url))
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
    # Another user's session id is simply not found here (no IDOR).
    session = accounts.get_own_session(request.db, request.user, matched_id(request, "session_id"))
    if session is None:
        raise HTTPNotFound()
    accounts.revoke_session(request.db, request.actor, session, "revoked by user")
    if session.id == request.user_session.id:
        response = HTTPSeeOther(request.route_url("accounts.login"))
        clear_session_cookie(request, response)
        return response
    return redirect(request, "accounts.sessions", "session_revoked")


@view_config(
    route_name="accounts.theme",
    renderer="accounts/sessions.html",
    permission=Permission.DASHBOARD,
    request_method="POST",
)
def theme(request):
    try:
        accounts.set_theme(request.db, request.actor, request.user, field(request, "theme", 8))
    except accounts.AccountError as exc:
        request.response.status_code = 400
        values = my_sessions(request)
        values["error"] = str(exc)
        return values
    return redirect(request, "accounts.sessions", "theme_changed")


@view_config(
    route_name="accounts.invitation", renderer="accounts/invitation.html", request_method="GET"
)
def invitation_form(request):
    invitation = invitations.find_invitation(request.db, request.matchdict["token"])
    if invitation is None:
        request.response.status_code = 404
    return {"invitation": invitation, "error": None, "min_length": passwords.MIN_LENGTH}


@view_config(
    route_name="accounts.invitation", renderer="accounts/invitation.html", request_method="POST"
)
def invitation_accept(request):
    token = request.matchdict["token"]
    invitation = invitations.find_invitation(request.db, token)
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
        # The role comes from the invitation row; nothing in the form can change it.
        user = invitations.accept_invitation(
            request.db, token, field(request, "display_name", 120), password, _client_ip(request)
        )
    except (accounts.AccountError, passwords.PasswordPolicyError) as exc:
        request.response.status_code = 400
        return {"invitation": invitation, "error": str(exc), "min_length": passwords.MIN_LENGTH}
    return _start_login(request, user, redirect(request, "dashboard.home", "welcome"))

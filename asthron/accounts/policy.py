"""The Pyramid security policy: server-side sessions for identity, one role table for access."""

from __future__ import annotations

from pyramid.interfaces import ICSRFStoragePolicy
from pyramid.security import Allowed, Denied
from zope.interface import implementer

from asthron.accounts import service as accounts
from asthron.security.csrf import BoundPreLoginCSRF
from asthron.security.permissions import has_permission

SESSION_COOKIE = "asthron_session"
DEVICE_COOKIE = "asthron_device"


def _user_session(request):
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return accounts.load_session(request.db, request.app_settings, token)


class SessionSecurityPolicy:
    def identity(self, request):
        return request.user_session

    def authenticated_userid(self, request):
        session = request.user_session
        return session.user_id if session else None

    def permits(self, request, context, permission):
        session = request.user_session
        if session is None:
            return Denied("not logged in")
        if has_permission(session.user.role, permission):
            return Allowed(f"role {session.user.role} has {permission}")
        return Denied(f"role {session.user.role} lacks {permission}")

    def remember(self, request, userid, **kw):
        return []

    def forget(self, request, **kw):
        return []


def set_session_cookie(request, response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=request.app_settings.cookie_secure,
        path="/",
    )


def clear_session_cookie(request, response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


@implementer(ICSRFStoragePolicy)
class SessionCSRFStoragePolicy:
    """The CSRF token of a logged-in user lives in their server-side session row; before
    login (the login and invitation forms) it is bound to a cookie (``security.csrf``)."""

    def __init__(self, secret: str, secure: bool):
        self._anonymous = BoundPreLoginCSRF(secret, secure)

    def new_csrf_token(self, request):
        session = request.user_session
        if session is not None:
            return session.csrf_token
        return self._anonymous.new_csrf_token(request)

    def get_csrf_token(self, request):
        session = request.user_session
        if session is not None:
            return session.csrf_token
        return self._anonymous.get_csrf_token(request)

    def check_csrf_token(self, request, supplied_token):
        import hmac

        if request.user_session is None:
            return self._anonymous.check_csrf_token(request, supplied_token)
        expected = self.get_csrf_token(request)
        return bool(
            isinstance(supplied_token, str)
            and expected
            and hmac.compare_digest(expected.encode(), supplied_token.encode())
        )


def includeme(config):
    config.add_request_method(_user_session, "user_session", reify=True)
    config.add_request_method(
        lambda r: r.user_session.user if r.user_session else None, "user", reify=True
    )
    config.set_security_policy(SessionSecurityPolicy())
    config.set_csrf_storage_policy(
        SessionCSRFStoragePolicy(
            config.registry["secrets"]["session_secret"],
            secure=config.registry["app_settings"].cookie_secure,
        )
    )
    # Every unsafe method on every view needs a valid token, unless the view opts out (the
    # public widget API, which uses bearer tokens and no cookies).
    config.set_default_csrf_options(
        require_csrf=True,
        token="csrf_token",  # noqa: S106 (a form field name, not a secret)
        header="X-CSRF-Token",
    )

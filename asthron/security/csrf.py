"""The CSRF token of the forms shown before login (login, invitation), bound to its cookie.

A plain double submit (the cookie and the form field carry the same value) accepts any value
at all: whoever can plant a cookie on the browser (a sibling subdomain, a network attacker
on plain HTTP) picks a value and submits the same one, logging the victim into the
attacker's account (login CSRF). Here the cookie holds a random value and the form token is
an HMAC of it under the server's session secret, so a token cannot be made up, nor moved to
another cookie, without the secret. Over HTTPS the cookie has the ``__Host-`` prefix, which
browsers refuse to let another host (or plain HTTP) set at all.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

COOKIE_VALUE_RE = re.compile(r"[A-Za-z0-9_-]{32,100}")
# The cookie's name over HTTPS (the __Host- prefix) and over plain HTTP (development).
CSRF_COOKIE_SECURE = "__Host-asthron_csrf"
CSRF_COOKIE_PLAIN = "asthron_csrf"
CSRF_COOKIE_NAMES = (CSRF_COOKIE_SECURE, CSRF_COOKIE_PLAIN)


class BoundPreLoginCSRF:
    def __init__(self, secret: str, secure: bool):
        self._key = hashlib.sha256(f"asthron pre-login csrf:{secret}".encode()).digest()
        self.cookie_name = CSRF_COOKIE_SECURE if secure else CSRF_COOKIE_PLAIN
        self._secure = secure

    def token_for(self, cookie_value: str) -> str:
        return hmac.new(self._key, cookie_value.encode(), "sha256").hexdigest()

    def _cookie_value(self, request) -> str | None:
        value = request.environ.get("asthron.csrf_cookie") or request.cookies.get(self.cookie_name)
        return value if isinstance(value, str) and COOKIE_VALUE_RE.fullmatch(value) else None

    def new_csrf_token(self, request) -> str:
        value = secrets.token_urlsafe(32)
        # The page rendered by this very request must carry the token of the new cookie.
        request.environ["asthron.csrf_cookie"] = value

        def set_cookie(_request, response):
            response.set_cookie(
                self.cookie_name,
                value,
                path="/",
                secure=self._secure,
                httponly=True,
                samesite="Strict",
            )

        request.add_response_callback(set_cookie)
        return self.token_for(value)

    def get_csrf_token(self, request) -> str:
        value = self._cookie_value(request)
        if value is None:
            return self.new_csrf_token(request)
        return self.token_for(value)

    def check_csrf_token(self, request, supplied_token) -> bool:
        value = self._cookie_value(request)
        return bool(
            value is not None
            and isinstance(supplied_token, str)
            and hmac.compare_digest(self.token_for(value).encode(), supplied_token.encode())
        )

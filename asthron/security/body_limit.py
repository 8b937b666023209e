"""The largest request body the application reads, whatever server runs it.

waitress refuses a larger body itself (``asthron serve`` sets its ``max_request_body_size``),
but behind another server nothing would: pyramid_retry copies every body before any view
runs, and WebOb parses a whole form into memory, so one anonymous 150 MB ``POST /login`` grew
the process by half a gigabyte. This middleware answers 413 before anything reads the body.
One route takes uploads (the knowledge import's files): it has its own, larger allowance
(``allowances``, by exact path); WebOb spools such a body to a temporary file, not memory.
"""

from __future__ import annotations

import io
import json

SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
    ("Cache-Control", "no-store"),
]


class RequestBodyLimit:
    """WSGI middleware around the Pyramid router; other attributes (``registry``) pass
    through to it."""

    def __init__(self, app, limit: int, allowances: dict[str, int] | None = None):
        self.app = app
        self.limit = limit
        self.allowances = dict(allowances or {})

    @property
    def largest(self) -> int:
        """The largest body any path accepts (what waitress must let through)."""
        return max([self.limit, *self.allowances.values()])

    def __getattr__(self, name):
        return getattr(self.app, name)

    def __call__(self, environ, start_response):
        limit = self.allowances.get(environ.get("PATH_INFO", ""), self.limit)
        length = environ.get("CONTENT_LENGTH") or ""
        if length:
            if not (length.isascii() and length.isdigit()):
                return self._refuse(environ, start_response, 400, "bad_request", "Bad length.")
            if int(length) > limit:
                return self._too_large(environ, start_response, limit)
        elif (
            environ.get("wsgi.input_terminated")
            and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        ):
            # A chunked body has no length to check: read at most one byte past the limit.
            body = environ["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return self._too_large(environ, start_response, limit)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)

    def _too_large(self, environ, start_response, limit):
        if limit != self.limit:
            message = (
                f"The upload is too large: files of at most {limit // (1024 * 1024):,} MB "
                "in all can be sent at once."
            )
        else:
            message = f"The request body is too large ({limit:,} bytes at most)."
        return self._refuse(environ, start_response, 413, "payload_too_large", message)

    @staticmethod
    def _refuse(environ, start_response, status: int, code: str, message: str):
        wants_json = environ.get("PATH_INFO", "").startswith("/api/") or (
            "application/json" in environ.get("HTTP_ACCEPT", "")
        )
        if wants_json:
            body = json.dumps({"error": {"code": code, "message": message}}).encode()
            content_type = "application/json"
        else:
            body = (message + "\n").encode()
            content_type = "text/plain; charset=utf-8"
        reason = {400: "Bad Request", 413: "Content Too Large"}[status]
        start_response(
            f"{status} {reason}",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(body))),
                *SECURITY_HEADERS,
            ],
        )
        return [body]

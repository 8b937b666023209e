"""A local fake of Google's OAuth 2.0 token endpoint, on 127.0.0.1, speaking its wire
protocol (RFC 6749 form posts in, JSON out), so google-auth-oauthlib's code exchange and
google-auth's refresh run for real against it.

* ``grant_type=authorization_code``: the code must be ``GOOD_CODE`` and carry a PKCE
  ``code_verifier`` (kept in ``verifiers``); answers an access and a refresh token.
* ``POST /revoke``: records the token (RFC 7009).
* ``grant_type=refresh_token``: a refresh token in ``revoked`` gets 400 ``invalid_grant``, as
  Google answers for a revoked or expired grant; any other a new access token.

Any other path answers 200 with text that is neither JSON nor XML (a server answering garbage).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

GOOD_CODE = "good-code"
SCOPES = (
    "https://www.googleapis.com/auth/calendar.freebusy "
    "https://www.googleapis.com/auth/calendar.events "
    "https://www.googleapis.com/auth/calendar.calendarlist.readonly"
)


@dataclass
class FakeGoogleOAuth:
    revoked: set[str] = field(default_factory=lambda: {"revoked-refresh"})
    verifiers: list[str] = field(default_factory=list)
    grants: list[str] = field(default_factory=list)
    refreshes: int = 0
    revoked_at_google: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def start(self) -> FakeGoogleOAuth:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, body: dict | str) -> None:
                data = (json.dumps(body) if isinstance(body, dict) else body).encode()
                self.send_response(status)
                kind = "application/json" if isinstance(body, dict) else "text/plain"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if self.path == "/revoke":
                    fake.revoked_at_google.append(form.get("token", ""))
                    return self._answer(200, {})
                if self.path != "/token":
                    return self._answer(200, "garbage")
                grant = form.get("grant_type", "")
                fake.grants.append(grant)
                if grant == "authorization_code":
                    if form.get("code") != GOOD_CODE or not form.get("code_verifier"):
                        return self._answer(400, {"error": "invalid_grant"})
                    fake.verifiers.append(form["code_verifier"])
                    return self._answer(
                        200,
                        {
                            "access_token": "access-1",
                            "refresh_token": "refresh-1",
                            "expires_in": 3599,
                            "token_type": "Bearer",
                            "scope": SCOPES,
                        },
                    )
                if grant == "refresh_token":
                    fake.refreshes += 1
                    if form.get("refresh_token") in fake.revoked:
                        return self._answer(
                            400,
                            {
                                "error": "invalid_grant",
                                "error_description": "Token has been expired or revoked.",
                            },
                        )
                    return self._answer(
                        200,
                        {
                            "access_token": f"access-refreshed-{fake.refreshes}",
                            "expires_in": 3599,
                            "token_type": "Bearer",
                            "scope": SCOPES,
                        },
                    )
                return self._answer(400, {"error": "unsupported_grant_type"})

            def do_GET(self):
                self._answer(200, "garbage")

            def do_REPORT(self):
                self._answer(200, "garbage")

            do_PROPFIND = do_REPORT

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

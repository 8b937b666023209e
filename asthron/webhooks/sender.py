"""One HTTP attempt to a webhook URL, behind the SSRF guard.

The URL is checked on every attempt (``asthron.security.ssrf.check_url``: http(s) only, every
resolved address public unless the operator allowed it) and the connection goes to the address
that was checked, with the Host header and the TLS server name kept, so a second DNS answer
cannot send it elsewhere. Redirects are never followed, the whole attempt has a time limit and
at most ``max_bytes`` of the response body are read.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx

from asthron.security.ssrf import SSRFError, check_url

USER_AGENT = "Asthron-Webhooks/1"


@dataclass
class Outcome:
    status: int | None = None
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False
    error: str | None = None
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


def post(
    url: str,
    body: bytes,
    headers: dict,
    *,
    allowlist: Iterable[str],
    timeout: float,
    max_bytes: int,
) -> Outcome:
    started = time.monotonic()

    def done(outcome: Outcome) -> Outcome:
        outcome.duration_ms = int((time.monotonic() - started) * 1000)
        return outcome

    try:
        resolved = check_url(url, allowlist)
    except SSRFError as exc:
        return done(Outcome(error=f"refused: {exc}"))
    request_headers = {
        **headers,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "host": resolved.host_header,
    }
    extensions = {"sni_hostname": resolved.host} if resolved.scheme == "https" else {}
    try:
        with httpx.Client(
            timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False
        ) as client:
            request = client.build_request(
                "POST",
                resolved.pinned_url,
                content=body,
                headers=request_headers,
                extensions=extensions,
            )
            response = client.send(request, stream=True)
            try:
                outcome = Outcome(status=response.status_code, headers=dict(response.headers))
                chunks, size = [], 0
                for chunk in response.iter_raw():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > max_bytes:
                        outcome.truncated = True
                        break
                    if time.monotonic() - started > timeout:
                        outcome.error = f"timed out after {timeout:g} s reading the response"
                        break
                outcome.body = b"".join(chunks)[:max_bytes]
                return done(outcome)
            finally:
                response.close()
    except httpx.TimeoutException:
        return done(Outcome(error=f"timed out after {timeout:g} s"))
    except httpx.HTTPError as exc:
        return done(Outcome(error=f"{type(exc).__name__}: {exc}"[:500]))
    except OSError as exc:
        return done(Outcome(error=f"connection failed: {exc}"[:500]))

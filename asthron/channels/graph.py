"""A small client for Meta's Graph API: send a message, ask who a token belongs to.

The base address and version come from the .ini (``asthron.channels.graph_url``,
``asthron.channels.graph_version``), never from the dashboard, so tests point it at a loopback
fake and no typed URL reaches it. Errors keep Graph's own message and code, and say whether a
retry can help (server errors, throttling, timeouts) or not (a bad token, a closed window).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx

DEFAULTS = {
    "graph_url": "https://graph.facebook.com",
    "graph_version": "v21.0",
    "timeout_seconds": "10",
}
MAX_RESPONSE_BYTES = 64 * 1024
# Graph error codes that mean "later": temporary errors and rate limits.
RETRYABLE_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 80007, 130429, 131000, 131016, 131056})
USER_AGENT = "Asthron-Channels/1"


class GraphError(Exception):
    def __init__(self, message: str, *, status: int | None = None, code=None, retryable: bool):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retryable = retryable


@dataclass(frozen=True)
class GraphConfig:
    base_url: str
    version: str
    timeout: float

    @classmethod
    def from_settings(cls, settings) -> GraphConfig:
        def get(name):
            value = settings.extra.get(f"asthron.channels.{name}")
            return value if value not in (None, "") else DEFAULTS[name]

        return cls(
            get("graph_url").rstrip("/"), get("graph_version"), float(get("timeout_seconds"))
        )

    def url(self, path: str) -> str:
        return f"{self.base_url}/{self.version}/{path.lstrip('/')}"


def _answer(response: httpx.Response, body: bytes) -> dict:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        data = None
    if 200 <= response.status_code < 300 and isinstance(data, dict):
        return data
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        message = f"Graph API error {code}: {error.get('message', '')}"[:500]
    else:
        code = None
        message = f"Graph API answered HTTP {response.status_code}"
    retryable = (
        response.status_code >= 500 or response.status_code == 429 or code in RETRYABLE_CODES
    )
    raise GraphError(message, status=response.status_code, code=code, retryable=retryable)


def request(config: GraphConfig, method: str, path: str, token: str, payload=None) -> dict:
    """One call; the token goes in the Authorization header, never in the address."""
    headers = {"authorization": f"Bearer {token}", "user-agent": USER_AGENT}
    try:
        with (
            httpx.Client(
                timeout=httpx.Timeout(config.timeout), follow_redirects=False, trust_env=False
            ) as client,
            client.stream(method, config.url(path), json=payload, headers=headers) as resp,
        ):
            chunks, size = [], 0
            for chunk in resp.iter_raw():
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    break
            return _answer(resp, b"".join(chunks)[:MAX_RESPONSE_BYTES])
    except httpx.TimeoutException:
        raise GraphError(
            f"the Graph API did not answer within {config.timeout:g} s", retryable=True
        ) from None
    except httpx.HTTPError as exc:
        raise GraphError(f"{type(exc).__name__}: {exc}"[:500], retryable=True) from None

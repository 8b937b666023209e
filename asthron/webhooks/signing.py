"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

``webhook-signature`` holds space-separated ``v1,<base64 HMAC-SHA256>`` entries, each over
``{webhook-id}.{webhook-timestamp}.{body}`` with the key being the base64-decoded part of the
secret after ``whsec_``. During a secret rotation there is one entry per valid secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60


class SignatureError(ValueError):
    pass


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def _key(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise SignatureError("a webhook secret starts with whsec_")
    return base64.b64decode(secret[len(PREFIX) :])


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<signature>`` entry."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(sign(s, message_id, timestamp, body) for s in secrets_)


def headers(secrets_: list[str], message_id: str, body: bytes, now: int | None = None) -> dict:
    timestamp = int(time.time()) if now is None else now
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_, message_id, timestamp, body),
    }


def verify(secret: str, request_headers: dict, body: bytes, now: int | None = None) -> None:
    """What a receiver does (docs/webhooks.md): raise ``SignatureError`` unless one ``v1``
    signature matches and the timestamp is within five minutes."""
    lowered = {k.lower(): v for k, v in request_headers.items()}
    try:
        message_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        offered = lowered["webhook-signature"].split()
    except (KeyError, ValueError):
        raise SignatureError("missing or malformed webhook headers") from None
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError("timestamp outside the tolerance")
    expected = sign(secret, message_id, timestamp, body)
    if not any(hmac.compare_digest(expected, entry) for entry in offered):
        raise SignatureError("no matching signature")

"""Random tokens that are shown once and stored only as a hash."""

import hashlib
import secrets

TOKEN_BYTES = 32  # 256 bits, well above the 128-bit floor


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()

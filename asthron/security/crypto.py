"""Encryption of integration secrets at rest (Fernet, with MultiFernet for key rotation).

The keys live in the secrets file written by ``asthron setup``: outside the database and
outside backups. The first key encrypts; every key decrypts, so a new key can be put first and
old values re-encrypted with ``rotate``.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretDecryptionError(ValueError):
    pass


class SecretBox:
    def __init__(self, keys: list[str]):
        if not keys:
            raise ValueError("at least one Fernet key is required")
        self._fernet = MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretDecryptionError(
                "a stored secret cannot be decrypted with the keys in the secrets file"
            ) from None

    def rotate(self, token: str) -> str:
        return self._fernet.rotate(token.encode()).decode()


def new_key() -> str:
    return Fernet.generate_key().decode()


def masked(secret: str | None) -> str:
    """How a stored secret is shown back: never in full."""
    if not secret:
        return ""
    if len(secret) <= 8:
        return "••••"
    return "••••" + secret[-4:]

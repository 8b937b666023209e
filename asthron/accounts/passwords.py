"""Password hashing (argon2id) and the password policy.

Common passwords are rejected against the 30,000-entry password frequency list that ships
with the ``zxcvbn`` package (the Dropbox zxcvbn lists), so no word list is downloaded.
"""

from __future__ import annotations

import contextlib
from functools import cache

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10
MAX_LENGTH = 256

# OWASP's floor is memory >= 19 MiB with t >= 2; we use 64 MiB, t=3 (RFC 9106 low-memory).
HASHER = argon2.PasswordHasher(
    time_cost=3, memory_cost=64 * 1024, parallelism=4, type=argon2.Type.ID
)


class PasswordPolicyError(ValueError):
    pass


@cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def _is_common(lowered: str) -> bool:
    """A listed password, or one with only digits and symbols added at the end
    ("password123", "Manchester2024!")."""
    common = _common_passwords()
    stem = lowered.rstrip("0123456789!@#$%^&*()-_=+.,?~ ")
    return lowered in common or (len(stem) >= 4 and stem in common)


def check_policy(password: str, email: str | None = None) -> None:
    if not isinstance(password, str):
        raise PasswordPolicyError("Enter a password.")
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    if _is_common(lowered) or len(set(password)) < 4:
        raise PasswordPolicyError("This password is too common; choose another.")
    if email and lowered in {email.lower(), email.lower().split("@")[0]}:
        raise PasswordPolicyError("Do not use your email address as your password.")


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash or not isinstance(password, str) or len(password) > MAX_LENGTH:
        # No password can be longer than the policy allows, so such input never matches;
        # it is not truncated either, or "the real password + anything" would log in.
        # Spend the same time as a real check, so unknown emails are not revealed by timing.
        with contextlib.suppress(VerificationError):
            HASHER.verify(_dummy_hash(), str(password)[:MAX_LENGTH])
        return False
    try:
        return HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return HASHER.check_needs_rehash(password_hash)


@cache
def _dummy_hash() -> str:
    return HASHER.hash("not-a-real-password-for-timing")

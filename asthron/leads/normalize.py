"""Cleaning lead data: emails lower-cased, phones in E.164 (with the phonenumbers library)."""

from __future__ import annotations

import phonenumbers

from asthron.accounts.service import AccountError, normalize_email
from asthron.text import single_line


class LeadDataError(ValueError):
    """A field is invalid; ``field`` names it for the form."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def email(value) -> str | None:
    if value in (None, ""):
        return None
    try:
        return normalize_email(value)
    except AccountError:
        raise LeadDataError("email", "Enter a valid email address.") from None


def phone(value, region: str = "US") -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise LeadDataError("phone", "Enter a valid phone number.")
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise LeadDataError("phone", "Enter a valid phone number.") from None
    if not phonenumbers.is_valid_number(parsed):
        raise LeadDataError("phone", "Enter a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def text(value, field: str, max_length: int) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise LeadDataError(field, f"{field} must be text.")
    # One line, no control characters: lead fields end up on terminals and in spreadsheets.
    value = single_line(value)
    if len(value) > max_length:
        raise LeadDataError(field, f"{field} is too long ({max_length} characters at most).")
    return value or None

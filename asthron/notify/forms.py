"""The SMTP settings form (Integrations → Email), read with ``asthron.forms.parse_form``."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar

from pydantic import PlainValidator

from asthron.accounts.service import AccountError, normalize_email
from asthron.forms import Checkbox, Choice, FormModel, WholeNumber, refuse
from asthron.notify.models import SMTP_SECURITY

HOST_RE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$|^\[?[0-9A-Fa-f:.]+\]?$"
)


def _has_control(value: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


def _host(value: Any) -> str:
    host = value.strip() if isinstance(value, str) else ""
    if not host:
        refuse("Enter the SMTP server's host name.")
    if len(host) > 255 or not HOST_RE.match(host):
        refuse("The SMTP host must be a host name or an IP address.")
    return host


def _from_address(value: Any) -> str:
    try:
        return normalize_email(value.strip() if isinstance(value, str) else "")
    except AccountError:
        refuse("Enter a valid sender address.")


def _optional_line(max_length: int, message: str):
    """One line of text, or None when blank."""

    def check(value: Any) -> str | None:
        text = value.strip() if isinstance(value, str) else ""
        if len(text) > max_length or _has_control(text):
            refuse(message)
        return text or None

    return Annotated[str | None, PlainValidator(check)]


def _password(value: Any) -> str:
    # Not trimmed: a password may begin or end with a space.
    if not isinstance(value, str):
        refuse("The password must be text.")
    if len(value) > 1024 or _has_control(value):
        refuse("The password must be at most 1024 characters on one line.")
    return value


class SmtpSettingsForm(FormModel):
    read_limit: ClassVar[int] = 255
    read_limits: ClassVar[dict[str, int]] = {
        "from_address": 320,
        "security": 16,
        "port": 16,
        "timeout_seconds": 16,
        "password": 1024,
        "clear_password": 5,
    }

    host: Annotated[str, PlainValidator(_host)]
    port: WholeNumber("The port", 1, 65535)
    security: Choice(SMTP_SECURITY, "Security must be none, starttls or tls.", blank="starttls")
    username: _optional_line(255, "The username must be at most 255 characters.") = None
    from_address: Annotated[str, PlainValidator(_from_address)]
    from_name: _optional_line(120, "The sender name must be at most 120 characters on one line.")
    timeout_seconds: WholeNumber("The timeout", 1, 120, default=15) = 15
    password: Annotated[str, PlainValidator(_password)] = ""
    clear_password: Checkbox("1") = False

    @property
    def new_password(self) -> str | None:
        """None keeps the stored password; "" clears it."""
        return "" if self.clear_password else (self.password or None)

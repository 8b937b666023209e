"""The public booking form, read with ``asthron.forms.parse_form``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar

from email_validator import EmailNotValidError, validate_email
from pydantic import PlainValidator

from asthron.forms import FormModel, Text, refuse
from asthron.text import international_phone


def _slot(value: Any) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        refuse("Please pick a time.")
    return moment.astimezone(dt.UTC)


def _email(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        refuse("Your email address is required.")
    try:
        # Syntax only: never a DNS lookup while a visitor waits.
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        refuse("That email address does not look right.")


def _phone(value: Any) -> str:
    """Optional; stored as E.164 (+4930123456), the form the privacy search looks for."""
    try:
        return international_phone(value if isinstance(value, str) else "") or ""
    except ValueError:
        refuse("Please give the phone number with its country code, like +49 30 123456.")


class BookingForm(FormModel):
    read_limits: ClassVar = {"notes": 2000, "phone": 40}

    slot: Annotated[dt.datetime, PlainValidator(_slot)]
    name: Text("Your name", 120, one_line=True, required=True)
    email: Annotated[str, PlainValidator(_email)]
    phone: Annotated[str, PlainValidator(_phone)]
    notes: Text("Notes", 2000)

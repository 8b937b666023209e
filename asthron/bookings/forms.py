"""The booking forms, read with ``asthron.forms.parse_form``: the public booking form, the
customer's and the staff's reschedule, and the dashboard's list filters and calendar query
(read from the query string the same way)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar

from email_validator import EmailNotValidError, validate_email
from pydantic import PlainValidator

from asthron.bookings.models import BOOKING_STATUSES
from asthron.forms import Choice, FormModel, Text, WholeNumber, refuse
from asthron.text import international_phone


def _slot(value: Any) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        refuse("Please pick a time.")
    return moment.astimezone(dt.UTC)


def _date(value: Any) -> dt.date | None:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        refuse("Give a date like 2026-03-31.")


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


class RescheduleForm(FormModel):
    """The customer's new time (a radio button of the free slots)."""

    slot: Annotated[dt.datetime, PlainValidator(_slot)]


def _starts_at(value: Any) -> dt.datetime:
    """An instant with its offset (``2026-03-03T10:00+01:00``), or a local time
    (``2026-03-03T10:00``, from a datetime-local input) in the zone the form names."""
    text = value.strip() if isinstance(value, str) else ""
    try:
        moment = dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        moment = None
    if moment is None:
        refuse("Give the new time like 2026-03-03T10:00.")
    return moment


class StaffRescheduleForm(FormModel):
    """The staff's new time; a time without an offset is in the site's zone (the view adds
    it, ``service.in_zone``)."""

    starts_at: Annotated[dt.datetime, PlainValidator(_starts_at)]


LIST_STATUSES = ("open", *BOOKING_STATUSES)


class BookingFilters(FormModel):
    """The list's filters (query string). ``status`` "open": pending and confirmed."""

    status: Choice(LIST_STATUSES, "Pick a status from the list.", blank="open")
    service: WholeNumber("Service", 1, 10**9, optional=True)
    resource: WholeNumber("Staff member", 1, 10**9, optional=True)
    since: Annotated[dt.date | None, PlainValidator(_date)]
    until: Annotated[dt.date | None, PlainValidator(_date)]


class CalendarQuery(FormModel):
    """The calendar's day or week (query string)."""

    date: Annotated[dt.date | None, PlainValidator(_date)]
    view: Choice(("day", "week"), "The view is day or week.", blank="week")
    resource: WholeNumber("Staff member", 1, 10**9, optional=True)

"""The owner's booking setup forms (services, staff members and resources, their weekly
hours, date overrides and holidays), as pydantic models read with ``asthron.forms.parse_form``.

Working hours are a grid, not JSON: for each weekday up to ``RANGES_PER_DAY`` ranges, each a
start and an end typed as HH:MM (an end not after its start runs past midnight, as the
availability engine reads it).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import PlainValidator, ValidationInfo, create_model, field_validator, model_validator

from asthron.bookings.availability import TIME_RE, parse_range
from asthron.forms import MAX_ID, Amount, Checkbox, Choice, FormModel, Text, WholeNumber, refuse
from asthron.sites.hours import DAYS, HoursError, validate_holidays

RANGES_PER_DAY = 3
OVERRIDE_RANGES = 3
MAX_OVERRIDES = 366
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")
MAX_PRICE = Decimal("1000000")
DAY_NAMES = dict(
    zip(
        DAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)

Flag = Checkbox("1")


def slugify(name: str) -> str:
    """ "Coupe & brushing" → "coupe-brushing": what a slug left blank becomes."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:80].strip("-")


def _slug(value: Any) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    if text and not SLUG_RE.match(text):
        refuse("The address name is lower-case letters, digits and dashes, like haircut-long.")
    return text


def _currency(value: Any) -> str:
    text = value.strip().upper() if isinstance(value, str) else ""
    if not text:
        return "EUR"
    if not re.fullmatch(r"[A-Z]{3}", text):
        refuse("The currency is a three-letter code such as EUR, USD or GBP.")
    return text


def _cents(amount: Decimal | None) -> int | None:
    return None if amount is None else int(amount * 100)


class ServiceForm(FormModel):
    read_limit: ClassVar[int] = 200
    read_limits: ClassVar = {"description": 2000}

    name: Text("The name", 120, one_line=True, required=True)
    slug: Annotated[str, PlainValidator(_slug)] = ""
    description: Text("The description", 2000) = ""
    duration_minutes: WholeNumber(
        "The duration", 5, 1440, message="The duration is 5 to 1,440 minutes."
    )
    interval_minutes: WholeNumber(
        "The slot interval",
        5,
        1440,
        optional=True,
        message="The slot interval is 5 to 1,440 minutes.",
    ) = None
    buffer_before_minutes: WholeNumber("The buffer before", 0, 720, default=0) = 0
    buffer_after_minutes: WholeNumber("The buffer after", 0, 720, default=0) = 0
    min_notice_minutes: WholeNumber("The minimum notice", 0, 525_600, default=0) = 0
    window_days: WholeNumber("The booking window", 1, 730, default=60) = 60
    daily_limit: WholeNumber("The daily limit", 1, 1000, optional=True) = None
    weekly_limit: WholeNumber("The weekly limit", 1, 5000, optional=True) = None
    price: Amount("The price", MAX_PRICE, 2) = None
    deposit: Amount("The deposit", MAX_PRICE, 2) = None
    currency: Annotated[str, PlainValidator(_currency)] = "EUR"
    requires_approval: Flag = False
    active: Flag = False

    @model_validator(mode="after")
    def _consistent(self):
        if not self.slug:
            self.slug = slugify(self.name)
            if not self.slug:
                refuse("Give an address name made of letters and digits.", field="slug")
        if self.interval_minutes is None:
            self.interval_minutes = self.duration_minutes
        return self

    # Checks across fields run as field validators (on the later field), so they are shown
    # together with every other field's problem, not only once the rest is right.
    @field_validator("deposit")
    @classmethod
    def _deposit_within_price(cls, deposit, info: ValidationInfo):
        price = info.data.get("price")
        if deposit is not None and "price" in info.data and (price is None or deposit > price):
            refuse("The deposit cannot be more than the price.")
        return deposit

    @field_validator("weekly_limit")
    @classmethod
    def _week_holds_a_day(cls, weekly, info: ValidationInfo):
        daily = info.data.get("daily_limit")
        if weekly is not None and daily is not None and weekly < daily:
            refuse("The weekly limit cannot be below the daily limit.")
        return weekly

    def values(self) -> dict:
        """The service's columns."""
        return {
            "name": self.name,
            "slug": self.slug,
            "description": self.description,
            "duration_minutes": self.duration_minutes,
            "interval_minutes": self.interval_minutes,
            "buffer_before_minutes": self.buffer_before_minutes,
            "buffer_after_minutes": self.buffer_after_minutes,
            "min_notice_minutes": self.min_notice_minutes,
            "window_days": self.window_days,
            "daily_limit": self.daily_limit,
            "weekly_limit": self.weekly_limit,
            "price_cents": _cents(self.price),
            "deposit_cents": _cents(self.deposit),
            "currency": self.currency,
            "requires_approval": self.requires_approval,
            "active": self.active,
        }


class SiteChoice(FormModel):
    read_limit: ClassVar[int] = 12

    site_id: WholeNumber("The site", 1, MAX_ID, message="Choose a site.")


class ResourceForm(FormModel):
    read_limit: ClassVar[int] = 200

    name: Text("The name", 120, one_line=True, required=True)
    kind: Choice(("staff", "resource"), "Choose a staff member or a resource.")
    user_id: WholeNumber("The team member", 1, MAX_ID, optional=True) = None
    active: Flag = False


# -- hours ---------------------------------------------------------------------------------


def _time(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if text and not TIME_RE.match(text):
        refuse("Use a time like 09:30.")
    return text


TimeText = Annotated[str, PlainValidator(_time)]


def _ranges(model, names: list[tuple[str, str]]) -> list[list[str]]:
    """The filled-in (start, end) pairs named by ``names``, checked: both halves given, no
    overlap. Each problem is shown at the field it concerns."""
    ranges, spans = [], []
    for start_name, end_name in names:
        start, end = getattr(model, start_name), getattr(model, end_name)
        if not start and not end:
            continue
        if not start or not end:
            refuse("Give both a start and an end.", field=end_name if start else start_name)
        try:
            span = parse_range([start, end])
        except HoursError as error:
            refuse(f"{str(error)[0].upper()}{str(error)[1:]}.", field=start_name)
        for other in spans:
            if span[0] < other[1] and other[0] < span[1]:
                refuse("This range overlaps another one of the same day.", field=start_name)
        spans.append(span)
        ranges.append([start, end])
    return sorted(ranges, key=lambda pair: pair[0])


def hours_field(day: str, number: int, edge: str) -> str:
    return f"{day}_{number}_{edge}"


_HoursFields = create_model(
    "HoursFields",
    __base__=FormModel,
    use_site_hours=(Flag, False),
    **{
        hours_field(day, number, edge): (TimeText, "")
        for day in DAYS
        for number in range(1, RANGES_PER_DAY + 1)
        for edge in ("start", "end")
    },
)


class HoursForm(_HoursFields):
    """The weekly grid; ``use_site_hours`` follows the site's business hours instead."""

    read_limit: ClassVar[int] = 10

    @model_validator(mode="after")
    def _check(self):
        self.week()
        return self

    def week(self) -> dict[str, list[list[str]]] | None:
        if self.use_site_hours:
            return None
        week = {}
        for day in DAYS:
            names = [
                (hours_field(day, n, "start"), hours_field(day, n, "end"))
                for n in range(1, RANGES_PER_DAY + 1)
            ]
            ranges = _ranges(self, names)
            if ranges:
                week[day] = ranges
        return week


def _date(value: Any) -> dt.date:
    text = value.strip() if isinstance(value, str) else ""
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    refuse("Give a date like 2026-12-24.")


_OverrideFields = create_model(
    "OverrideFields",
    __base__=FormModel,
    date=(Annotated[dt.date, PlainValidator(_date)], ...),
    closed=(Flag, False),
    **{
        f"{edge}_{number}": (TimeText, "")
        for number in range(1, OVERRIDE_RANGES + 1)
        for edge in ("start", "end")
    },
)


class OverrideForm(_OverrideFields):
    """One date's hours instead of its weekday's, or closed all day."""

    read_limit: ClassVar[int] = 10

    @model_validator(mode="after")
    def _check(self):
        if not self.closed and not self.ranges():
            refuse("Give the hours of that day, or tick “Closed all day”.", field="start_1")
        return self

    def ranges(self) -> list[list[str]]:
        if self.closed:
            return []
        return _ranges(self, [(f"start_{n}", f"end_{n}") for n in range(1, OVERRIDE_RANGES + 1)])


class RemoveOverrideForm(FormModel):
    read_limit: ClassVar[int] = 10

    date: Annotated[dt.date, PlainValidator(_date)]


def _holidays(value: Any) -> list[str]:
    text = value if isinstance(value, str) else ""
    days = [part.strip() for part in re.split(r"[\s,;]+", text) if part.strip()]
    if len(days) > 366:
        refuse("At most 366 holidays.")
    for day in days:
        try:
            if len(day) != 10:
                raise ValueError
            dt.date.fromisoformat(day)
        except ValueError:
            refuse(f"“{day[:20]}” is not a date like 2026-12-25.")
    return validate_holidays(days)


class HolidaysForm(FormModel):
    """The staff member's own holidays, or the site's (``use_site_holidays``)."""

    read_limits: ClassVar = {"holidays": 6000, "use_site_holidays": 10}

    use_site_holidays: Flag = False
    holidays: Annotated[list[str], PlainValidator(_holidays)] = []

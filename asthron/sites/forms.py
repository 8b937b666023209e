"""A site's settings as pydantic models: the one set of rules for the dashboard form, the
``asthron sites`` command and the service (``SiteInput.validated``)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, create_model, field_validator, model_validator

from asthron.forms import FormError, FormModel, refuse
from asthron.sites import hours as hours_module
from asthron.sites.rules import COLOR_RE, LANGUAGE_RE, MAX_ORIGINS, SiteError, normalize_origin
from asthron.text import has_controls

THEMES = ("auto", "light", "dark")
# Opening ranges per day in the editor's weekly grid: three shown (the day's hours and up to
# two breaks), more when stored hours have them; validate_hours allows six.
GRID_SLOTS = 3
MAX_SLOTS = 6
DAY_NAMES = dict(
    zip(
        hours_module.DAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)


class SiteSettings(BaseModel):
    """Valid site settings, normalised (origins sorted and canonical, colour lower case)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    name: str
    origins: list[str]
    title: str = "Chat with us"
    greeting: str = "Hi! How can we help?"
    accent_color: str = "#2f5bea"
    position: str = "right"
    theme: str = "auto"
    launcher_text: str = ""
    reply_time: str = ""
    language: str = "en"
    timezone: str = "UTC"
    # Checked by hours.validate_hours / validate_holidays, whose messages say what is wrong.
    business_hours: Any = None
    holidays: Any = None
    privacy_notice: str = ""
    privacy_url: str = ""

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value):
        name = value.strip() if isinstance(value, str) else ""
        if not name or len(name) > 120:
            refuse("Give the site a name (120 characters at most).")
        return name

    @field_validator("origins", mode="before")
    @classmethod
    def _origins(cls, value):
        if not isinstance(value, list) or not value:
            refuse("Add at least one allowed origin.")
        if len(value) > MAX_ORIGINS:
            refuse(f"At most {MAX_ORIGINS} origins.")
        try:
            return sorted({normalize_origin(origin) for origin in value})
        except SiteError as exc:
            refuse(str(exc))

    @field_validator("title", "greeting", "privacy_notice", mode="before")
    @classmethod
    def _text(cls, value, info):
        label, limit = {
            "title": ("title", 80),
            "greeting": ("greeting", 500),
            "privacy_notice": ("privacy notice", 4000),
        }[info.field_name]
        if not isinstance(value, str) or len(value) > limit:
            refuse(f"The {label} must be text of at most {limit} characters.")
        return value.strip()

    @field_validator("title", mode="after")
    @classmethod
    def _title_default(cls, value):
        return value or "Chat with us"

    @field_validator("launcher_text", "reply_time", mode="before")
    @classmethod
    def _short_text(cls, value, info):
        label = {"launcher_text": "launcher text", "reply_time": "reply time"}[info.field_name]
        if not isinstance(value, str) or len(value.strip()) > 40 or has_controls(value):
            refuse(f"The {label} must be text of at most 40 characters.")
        return value.strip()

    @field_validator("theme", mode="before")
    @classmethod
    def _theme(cls, value):
        if value not in THEMES:
            refuse("The theme must be auto, light or dark.")
        return value

    @field_validator("accent_color", mode="before")
    @classmethod
    def _color(cls, value):
        if not isinstance(value, str) or not COLOR_RE.match(value):
            refuse("The accent colour must look like #2f5bea.")
        return value.lower()

    @field_validator("position", mode="before")
    @classmethod
    def _position(cls, value):
        if value not in ("right", "left"):
            refuse("Position must be right or left.")
        return value

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, value):
        if not isinstance(value, str) or not LANGUAGE_RE.match(value):
            refuse("Language must be a code like en or pt-BR.")
        return value

    @field_validator("privacy_url", mode="before")
    @classmethod
    def _privacy_url(cls, value):
        url = (value or "").strip() if isinstance(value, str) else None
        if url is None:
            refuse("The privacy page URL must be an http(s) address.")
        if url:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2000:
                refuse("The privacy page URL must be an http(s) address.")
        return url

    @model_validator(mode="after")
    def _hours(self):
        try:
            hours_module.zone(self.timezone)
            self.business_hours = hours_module.validate_hours(self.business_hours or {})
            self.holidays = hours_module.validate_holidays(self.holidays or [])
        except hours_module.HoursError as exc:
            refuse(str(exc))
        return self


class _SiteForm(FormModel):
    """The dashboard's site form, as posted: text fields, origins one per line, business
    hours as the editor's weekly grid (``hours_grid`` is posted with it: ``{day}_open`` and
    ``{day}_from_{n}``/``{day}_to_{n}``) or, from older forms and scripts, as JSON, and
    holidays separated by spaces, commas or lines."""

    read_limit = 4000
    read_limits = {"origins": 6000, "business_hours": 4000, "holidays": 8000}

    name: str = ""
    origins: str = ""
    title: str = ""
    greeting: str = ""
    accent_color: str = ""
    position: str = ""
    theme: str = ""
    launcher_text: str = ""
    reply_time: str = ""
    hours_grid: str = ""
    hours_mode: str = ""
    language: str = ""
    timezone: str = ""
    business_hours: str = ""
    holidays: str = ""
    privacy_notice: str = ""
    privacy_url: str = ""

    @field_validator("business_hours")
    @classmethod
    def _hours_json(cls, value):
        try:
            json.loads(value or "{}")
        except ValueError:
            refuse('Business hours must be JSON like {"mon": [["09:00", "17:00"]]}.')
        return value

    def _grid_hours(self) -> dict:
        """The weekly grid as hours.validate_hours' shape: an open day's filled ranges (none
        filled: open all day); "Always open" is no hours at all."""
        if self.hours_mode == "always":
            return {}
        week = {}
        for day in hours_module.DAYS:
            if not getattr(self, f"{day}_open"):
                continue
            ranges = []
            for slot in range(MAX_SLOTS):
                start = getattr(self, f"{day}_from_{slot}").strip()
                end = getattr(self, f"{day}_to_{slot}").strip()
                if not start and not end:
                    continue
                if not start or not end:
                    raise FormError(
                        {"hours": f"{DAY_NAMES[day]}: give each range a start and an end."}
                    )
                # A time input cannot say 24:00; an end at 00:00 means midnight.
                ranges.append([start, "24:00" if end == "00:00" else end])
            week[day] = ranges or [["00:00", "24:00"]]
        if not week:
            raise FormError({"hours": 'Open at least one day, or choose "Always open".'})
        return week

    def settings_input(self) -> dict:
        """The posted values as SiteInput's fields (not yet validated)."""
        return {
            "name": self.name,
            "origins": [o for o in self.origins.split() if o],
            "title": self.title,
            "greeting": self.greeting,
            "accent_color": self.accent_color,
            "position": self.position,
            "theme": self.theme or "auto",
            "launcher_text": self.launcher_text,
            "reply_time": self.reply_time,
            "language": self.language,
            "timezone": self.timezone or "UTC",
            "business_hours": (
                self._grid_hours() if self.hours_grid else json.loads(self.business_hours or "{}")
            ),
            "holidays": [d for d in self.holidays.replace(",", " ").split() if d],
            "privacy_notice": self.privacy_notice,
            "privacy_url": self.privacy_url,
        }


SiteForm = create_model(
    "SiteForm",
    __base__=_SiteForm,
    **{
        name: (str, "")
        for day in hours_module.DAYS
        for name in (
            f"{day}_open",
            *(f"{day}_{end}_{slot}" for slot in range(MAX_SLOTS) for end in ("from", "to")),
        )
    },
)


def grid_of(hours: dict | None) -> list[dict]:
    """The editor's weekly grid for stored hours: per day its name, whether it is open, and
    GRID_SLOTS ranges (empty ones to fill). No hours (always open) shows weekdays 9 to 5 as a
    starting point."""
    week = hours or {day: [["09:00", "17:00"]] for day in hours_module.DAYS[:5]}
    rows = []
    for day in hours_module.DAYS:
        ranges = [[a, "00:00" if b == "24:00" else b] for a, b in week.get(day, [])]
        if ranges == [["00:00", "00:00"]]:
            ranges = []  # open all day: the grid says so with an open day and no ranges
        ranges += [["", ""]] * (GRID_SLOTS - len(ranges))
        rows.append({"day": day, "name": DAY_NAMES[day], "open": day in week, "ranges": ranges})
    return rows

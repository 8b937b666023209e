"""A site's settings as pydantic models: the one set of rules for the dashboard form, the
``asthron sites`` command and the service (``SiteInput.validated``)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from asthron.forms import FormModel, refuse
from asthron.sites import hours as hours_module
from asthron.sites.rules import COLOR_RE, LANGUAGE_RE, MAX_ORIGINS, SiteError, normalize_origin


class SiteSettings(BaseModel):
    """Valid site settings, normalised (origins sorted and canonical, colour lower case)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    name: str
    origins: list[str]
    title: str = "Chat with us"
    greeting: str = "Hi! How can we help?"
    accent_color: str = "#2f5bea"
    position: str = "right"
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


class SiteForm(FormModel):
    """The dashboard's site form, as posted: text fields, origins one per line, business
    hours as JSON and holidays separated by spaces or commas."""

    read_limit = 4000
    read_limits = {"origins": 6000, "business_hours": 4000, "holidays": 8000}

    name: str = ""
    origins: str = ""
    title: str = ""
    greeting: str = ""
    accent_color: str = ""
    position: str = ""
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

    def settings_input(self) -> dict:
        """The posted values as SiteInput's fields (not yet validated)."""
        return {
            "name": self.name,
            "origins": [o for o in self.origins.split() if o],
            "title": self.title,
            "greeting": self.greeting,
            "accent_color": self.accent_color,
            "position": self.position,
            "language": self.language,
            "timezone": self.timezone or "UTC",
            "business_hours": json.loads(self.business_hours or "{}"),
            "holidays": [d for d in self.holidays.replace(",", " ").split() if d],
            "privacy_notice": self.privacy_notice,
            "privacy_url": self.privacy_url,
        }

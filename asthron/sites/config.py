"""The configuration the widget loads: look, hours, strings and availability."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from asthron.conversations.service import MAX_MESSAGE_LENGTH
from asthron.db import utcnow
from asthron.inbox.presence import online_staff
from asthron.sites import hours
from asthron.sites.models import Site

I18N_DIR = Path(__file__).parent / "i18n"


@cache
def strings_for(language: str) -> dict:
    """English is built into the widget; other languages come from translation files."""
    base = language.split("-")[0]
    for name in (language, base):
        path = I18N_DIR / f"{name}.json"
        if path.exists():
            return json.loads(path.read_text(encoding="utf-8"))
    return {}


def iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def site_availability(site: Site, now=None) -> dict:
    now = now or utcnow()
    open_now = hours.is_open(site.business_hours, site.holidays, site.timezone, now)
    return {
        "open_now": open_now,
        "next_open_at": None
        if open_now
        else iso(hours.next_opening(site.business_hours, site.holidays, site.timezone, now)),
    }


def widget_config(request, site: Site) -> dict:
    availability = site_availability(site)
    return {
        "site_key": site.public_key,
        "title": site.title,
        "greeting": site.greeting,
        "accent_color": site.accent_color,
        "position": site.position,
        "language": site.language,
        "strings": strings_for(site.language),
        "privacy": {"notice": site.privacy_notice, "url": site.privacy_url or None},
        "hours": {
            "timezone": site.timezone,
            "schedule": site.business_hours,
            "holidays": site.holidays,
            **availability,
        },
        # Someone is available when the business is open and a person is online.
        "available": availability["open_now"] and bool(online_staff(request.db)),
        "limits": {"max_message_length": MAX_MESSAGE_LENGTH},
    }

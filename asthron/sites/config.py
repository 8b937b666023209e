"""The configuration the widget loads: look, hours, strings and availability."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from asthron.sites.availability import availability
from asthron.sites.models import Site

I18N_DIR = Path(__file__).parent / "i18n"
# The longest chat message a visitor may send: the widget enforces it, the API refuses more.
MAX_MESSAGE_LENGTH = 4000


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


def widget_config(request, site: Site) -> dict:
    now = availability(request.db, site)
    return {
        "site_key": site.public_key,
        "title": site.title,
        "greeting": site.greeting,
        "accent_color": site.accent_color,
        "position": site.position,
        "theme": site.theme or "auto",
        "launcher_text": site.launcher_text or "",
        "reply_time": site.reply_time or "",
        "avatar_url": (
            request.route_url("widget.avatar", site_key=site.public_key, digest=site.avatar_digest)
            if site.avatar_digest
            else None
        ),
        "language": site.language,
        "strings": strings_for(site.language),
        # The owner's own page, else the one Asthron serves (privacy/public_page.py).
        "privacy": {
            "notice": site.privacy_notice,
            "url": site.privacy_url
            or request.route_url("privacy.public", site_key=site.public_key),
        },
        "hours": {
            "timezone": site.timezone,
            "schedule": site.business_hours,
            "holidays": site.holidays,
            "open_now": now.open_now,
            "next_open_at": iso(now.next_open_at),
        },
        "available": now.someone_available,
        "limits": {"max_message_length": MAX_MESSAGE_LENGTH},
    }

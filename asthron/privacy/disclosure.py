"""What Asthron stores in browsers, for the public privacy page: the dashboard's cookies and
the widget's localStorage entries.

The names come from the code that sets them (the cookie constants) or, for the widget, are
kept here and checked against ``widget/src`` by ``tests/privacy/test_public_page.py``, which
also fails when any code sets a cookie or storage key this list does not name.
"""

from __future__ import annotations

from dataclasses import dataclass

from asthron.accounts.policy import DEVICE_COOKIE, SESSION_COOKIE
from asthron.security.csrf import CSRF_COOKIE_NAMES


@dataclass(frozen=True)
class Stored:
    name: str
    kind: str  # "cookie" | "localStorage"
    who: str  # whose browser: "visitors" | "staff"
    purpose: str
    lasts: str


COOKIES: tuple[Stored, ...] = (
    Stored(
        SESSION_COOKIE,
        "cookie",
        "staff",
        "Keeps a team member logged in to the dashboard (a random token; strictly necessary).",
        "until logout or the session expires",
    ),
    Stored(
        DEVICE_COOKIE,
        "cookie",
        "staff",
        "Remembers a browser a team member has logged in from, so login throttling spares it.",
        "up to 90 days",
    ),
    *(
        Stored(
            name,
            "cookie",
            "staff",
            "Protects the login and invitation forms against cross-site request forgery.",
            "until the browser closes",
        )
        for name in CSRF_COOKIE_NAMES
    ),
)

# The widget keeps one entry per site: "asthron:" + the site key (widget/src/index.js,
# ``storageKey``). It sets no cookies.
WIDGET_STORAGE_PREFIX = "asthron:"
WIDGET_STORAGE: tuple[Stored, ...] = (
    Stored(
        WIDGET_STORAGE_PREFIX + "{site key}",
        "localStorage",
        "visitors",
        "Lets the chat continue across pages: the visitor's chat token, the open "
        "conversation, whether the privacy notice was acknowledged, the last message read "
        "and the signed-in user the chat belongs to.",
        "until the visitor clears their browser's site data",
    ),
)


def entries(site_key: str | None = None) -> list[Stored]:
    """Everything stored, the widget's key spelled out for one site when given."""
    widget = [
        Stored(
            WIDGET_STORAGE_PREFIX + site_key if site_key else s.name,
            s.kind,
            s.who,
            s.purpose,
            s.lasts,
        )
        for s in WIDGET_STORAGE
    ]
    return [*widget, *COOKIES]

"""Does a visitor's message ask for an appointment, and for when?

Word lists, no model call: the card is only an offer the visitor may ignore, so a cheap,
predictable test that errs on the side of silence is the right trade. Each language the
widget is translated into (``asthron/sites/i18n``: English built in, Spanish) has its own
phrases; every message is checked against all of them, because visitors do not always write
in the site's language.

``detect(text)`` answers a ``BookingIntent`` (or None): whether the message asks to book, and
the day and part of the day it names ("Thursday afternoon", "mañana por la tarde"), which
``resolve`` turns into a date and wall-clock hours in the visitor's time zone.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

# The visitor's wall clock: what "morning", "afternoon" and "evening" cover.
PARTS_OF_DAY = {"morning": (6, 12), "afternoon": (12, 17), "evening": (17, 22)}


def _fold(text: str) -> str:
    """Lower case without accents: "Miércoles" → "miercoles", "mañana" → "manana"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _any(*patterns: str) -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# Asking to book (already folded: lower case, no accents).
ASKS = _any(
    # English
    r"\b(book|reserve|schedule)\s+(a|an|me|in|for|my|myself|us|the|some|it|time|slot|"
    r"appointment|session|visit|table)\b",
    r"\b(can|could|may|want to|wanna|like to|i'?d like to|need to|let me|how do i|how can i)"
    r"\s+(book|reserve|schedule)\b",
    r"\b(make|get|set up|need|want|like)\s+(an?|my)\s+(appointment|booking|reservation)\b",
    r"\bappointments?\b",
    r"\b(free|available|open)\s+(slots?|times?|spots?|appointments?|dates?)\b",
    r"\b(any|have)\s+(slots?|openings?|availability)\b",
    r"\bavailability\b",
    r"\b(can|could|may)\s+(i|we)\s+(come|drop|pop|stop)\s+(in|by|over|round)\b",
    r"\b(are you|is anyone|is someone)\s+(free|available)\b",
    # Spanish
    r"\breserv(ar|arme|arnos|o|a|amos|e)\b",
    r"\b(una|pedir|tener|agendar|programar|mi|la)\s+(cita|hora|turno|reserva)\b",
    r"\bcitas?\b",
    r"\bhuecos?\b",
    r"\bdisponibilidad\b",
    r"\b(puedo|podria|podemos|podriamos|quiero|quisiera)\s+(ir|pasar|pasarme|venir|acudir)\b",
    r"\b(teneis|tienen|tienes|hay)\s+(algo|sitio|hueco|huecos|hora|horas)\s+(libre|libres|"
    r"disponible|disponibles)?\b",
)
# Not a new booking: cancelling or moving one is for the links in the confirmation.
REFUSES = _any(
    r"\b(cancel|cancell?ing|cancell?ation|reschedul\w*|postpone|refund)\b",
    r"\b(cancelar|cancelo|cancelacion|anular|anulo|aplazar|cambiar mi cita|reembolso)\b",
    r"\b(booked|reserved)\b.*\b(last|yesterday|ago)\b",
)

WEEKDAYS = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
    "lunes": 0,
    "martes": 1,
    "miercoles": 2,
    "jueves": 3,
    "viernes": 4,
    "sabado": 5,
    "domingo": 6,
}
WEEKDAY_RE = re.compile(r"\b(" + "|".join(WEEKDAYS) + r")\b")
# (pattern, days from today); the longer phrases first.
RELATIVE_DAYS = (
    (re.compile(r"\b(day after tomorrow|pasado manana)\b"), 2),
    (re.compile(r"\b(tomorrow|tmrw)\b"), 1),
    # "mañana" is tomorrow, but "por/de la mañana" is the morning.
    (re.compile(r"(?<!la )(?<!esta )\bmanana\b"), 1),
    (re.compile(r"\b(today|tonight|this (morning|afternoon|evening)|hoy|esta (tarde|noche))\b"), 0),
)
PARTS = (
    (re.compile(r"\b(morning|(por|de|en) la manana|esta manana)\b"), "morning"),
    (re.compile(r"\b(afternoon|after lunch|(por|de|en) la tarde|esta tarde)\b"), "afternoon"),
    (re.compile(r"\b(evening|tonight|after work|(por|de|en) la noche|esta noche)\b"), "evening"),
)


@dataclass(frozen=True)
class BookingIntent:
    weekday: int | None = None  # 0 = Monday
    days_ahead: int | None = None  # 0 today, 1 tomorrow
    part: str | None = None  # a key of PARTS_OF_DAY

    def as_data(self) -> dict:
        return {k: v for k, v in vars(self).items() if v is not None}


def asks_to_book(text: str) -> bool:
    folded = _fold(text)
    return bool(ASKS.search(folded)) and not REFUSES.search(folded)


def when(text: str) -> BookingIntent:
    """The day and part of the day a message names, if any."""
    folded = _fold(text)
    weekday = None
    if match := WEEKDAY_RE.search(folded):
        weekday = WEEKDAYS[match.group(1)]
    days_ahead = next((days for pattern, days in RELATIVE_DAYS if pattern.search(folded)), None)
    part = next((name for pattern, name in PARTS if pattern.search(folded)), None)
    return BookingIntent(weekday=weekday, days_ahead=days_ahead, part=part)


def detect(text: str, service_named: bool = False) -> BookingIntent | None:
    """The message's booking intent, or None. Naming one of the site's services together
    with a day ("a haircut on Friday?") counts as asking too."""
    if not isinstance(text, str) or len(text) > 2000:
        return None
    wanted = when(text)
    named_with_a_day = service_named and (
        wanted.weekday is not None or wanted.days_ahead is not None
    )
    if not (asks_to_book(text) or named_with_a_day):
        return None
    if named_with_a_day and REFUSES.search(_fold(text)):
        return None
    return wanted


def mentions(text: str, name: str) -> bool:
    """Whether ``text`` names the service ``name`` ("haircuts" names "Haircut")."""
    words = [w for w in re.findall(r"\w+", _fold(name)) if len(w) > 2]
    if not words:
        return False
    folded = _fold(text)
    return all(re.search(rf"\b{re.escape(w)}(e?s)?\b", folded) for w in words)


@dataclass(frozen=True)
class Window:
    """Where a booking intent points, in the visitor's time zone."""

    day: dt.date | None
    hours: tuple[int, int] | None  # wall-clock hours [from, to)


def resolve(intent: dict, today: dt.date) -> Window:
    """``intent`` (as stored with the card) relative to the visitor's ``today``: a weekday is
    its next occurrence, today included."""
    day = None
    if isinstance(intent.get("days_ahead"), int) and 0 <= intent["days_ahead"] <= 7:
        day = today + dt.timedelta(days=intent["days_ahead"])
    elif isinstance(intent.get("weekday"), int) and 0 <= intent["weekday"] <= 6:
        day = today + dt.timedelta(days=(intent["weekday"] - today.weekday()) % 7)
    return Window(day=day, hours=PARTS_OF_DAY.get(intent.get("part")))

"""The booking-intent detector: a few phrasings a visitor writes, in the site's languages."""

from __future__ import annotations

import datetime as dt

import pytest

from asthron.bookings import intent

ASKS = [
    ("can I come in Thursday afternoon?", {"weekday": 3, "part": "afternoon"}),
    ("Book a haircut", {}),
    ("I'd like to make an appointment for tomorrow morning", {"days_ahead": 1, "part": "morning"}),
    ("Do you have any free slots on Friday?", {"weekday": 4}),
    ("Could we drop by this evening?", {"days_ahead": 0, "part": "evening"}),
    ("Quiero reservar una cita el jueves por la tarde", {"weekday": 3, "part": "afternoon"}),
    ("¿Puedo pasarme mañana?", {"days_ahead": 1}),
    ("¿Tenéis hueco el sábado por la mañana?", {"weekday": 5, "part": "morning"}),
    ("Quisiera pedir cita", {}),
]
NOT_ASKS = [
    "What are your opening hours?",
    "How much is a haircut?",
    "I read a great book about hair care",
    "Find us on Facebook",
    "I need to cancel my appointment on Thursday",
    "Quiero cancelar mi cita",
    "¿Dónde estáis?",
    "Thanks, see you Thursday afternoon!",
]


@pytest.mark.parametrize(("text", "wanted"), ASKS)
def test_asking_for_an_appointment_is_detected_with_when(text, wanted):
    found = intent.detect(text)
    assert found is not None, text
    assert found.as_data() == wanted


@pytest.mark.parametrize("text", NOT_ASKS)
def test_other_messages_are_not(text):
    assert intent.detect(text) is None, text


def test_a_service_named_with_a_day_counts_and_plurals_match():
    assert intent.detect("a haircut on friday?") is None
    assert intent.detect("a haircut on friday?", service_named=True).as_data() == {"weekday": 4}
    assert intent.mentions("Do you do haircuts?", "Haircut")
    assert intent.mentions("corte de pelo mañana", "Corte de pelo")
    assert not intent.mentions("hair colour", "Haircut")


def test_resolving_against_the_visitors_today():
    thursday = dt.date(2026, 3, 5)
    assert intent.resolve({"weekday": 3}, thursday).day == thursday  # today included
    assert intent.resolve({"weekday": 0}, thursday).day == dt.date(2026, 3, 9)
    window = intent.resolve({"days_ahead": 1, "part": "afternoon"}, thursday)
    assert (window.day, window.hours) == (dt.date(2026, 3, 6), (12, 17))
    assert intent.resolve({"weekday": 9}, thursday).day is None  # stored data, checked

"""The calendar connection forms, read with ``asthron.forms.parse_form``."""

from __future__ import annotations

from typing import ClassVar

from asthron.forms import Checkbox, FormModel, Text


class CaldavForm(FormModel):
    read_limits: ClassVar = {"url": 2000}

    url: Text("The calendar address", 2000, one_line=True, required=True)
    username: Text("The username", 200, one_line=True)
    password: Text("The app password", 500, one_line=True)


class GoogleAppForm(FormModel):
    client_id: Text("The client id", 300, one_line=True, required=True)
    client_secret: Text("The client secret", 300, one_line=True, required=True)


class CalendarChoiceForm(FormModel):
    """Which calendars count as busy (``busy_<n>`` boxes, one per listed calendar, read
    separately) and which one receives bookings (its number in the list, or blank)."""

    write: Text("The calendar for bookings", 10, one_line=True)
    write_bookings: Checkbox()

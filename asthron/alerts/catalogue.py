"""What the business can be emailed about, and the facts a rule's conditions can test.

A feature that raises an alert (``service.send_alert``) passes the facts named here; the rules
page offers these fields. Lists (tags) match "contains" by membership.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AlertEvent:
    label: str
    # fact name -> what it holds (shown on the rules page)
    fields: dict[str, str]


_LEAD_FIELDS = {
    "name": "the lead's name",
    "email": "the lead's email address",
    "phone": "the lead's phone number",
    "company": "the lead's company",
    "source": "where it came from: lead form, offline form or chat",
    "status": "the pipeline status: new, contacted, won, lost…",
    "qualified": "yes or no",
    "tags": "the lead's tags",
    "custom.<field>": "a custom field of the lead form, e.g. custom.budget",
}

ALERT_EVENTS: dict[str, AlertEvent] = {
    "lead.new": AlertEvent("A new lead", _LEAD_FIELDS),
    "lead.qualified": AlertEvent("A lead qualifies", _LEAD_FIELDS),
    "chat.waiting": AlertEvent(
        "A chat has waited for a person",
        {"minutes": "how long it has waited (the inbox's alert setting)"},
    ),
    "booking.new": AlertEvent(
        "A new booking or booking request",
        {
            "service": "the service's name",
            "staff": "the staff member or resource booked",
            "status": "confirmed, requested (needs approval) or held (awaiting payment)",
            "price": "the service's price, in the currency's main unit",
        },
    ),
    "booking.cancelled": AlertEvent(
        "A booking is cancelled",
        {"service": "the service's name", "staff": "the staff member or resource booked"},
    ),
    "booking.rescheduled": AlertEvent(
        "A customer moves their booking",
        {"service": "the service's name", "staff": "the staff member or resource booked"},
    ),
    "payment.received": AlertEvent(
        "A payment is received",
        {"amount": "the amount, in the currency's main unit", "currency": "e.g. EUR"},
    ),
}

DELIVERIES = {
    "immediate": "At once, one email per event",
    "hourly": "Hourly digest",
    "daily": "Daily digest (08:00 in the site's time zone)",
}

OPERATORS = {
    "is": "is",
    "is_not": "is not",
    "contains": "contains",
    "is_set": "is filled in",
    "at_least": "is at least",
}

# The longest value a condition compares with.
MAX_VALUE = 200

"""The customer's calendar invitation: an iCalendar (RFC 5545) file sent with the booking's
emails, as an iTIP (RFC 5546) ``REQUEST`` (booked, moved) or ``CANCEL`` (cancelled, declined).

Times are written in UTC (``DTSTART:20260303T090000Z``), which every calendar shows in its
owner's own zone; no VTIMEZONE is needed. The UID is the booking's (the same one its event
in the business's calendar carries), and SEQUENCE is ``Booking.ical_sequence``, raised by
every change, so a calendar replaces the earlier version instead of adding a second event.
"""

from __future__ import annotations

import datetime as dt

import icalendar

from asthron.bookings.models import Booking, BookingService
from asthron.notify.service import Attachment

PRODID = "-//Asthron//bookings//EN"


def invitation_uid(booking: Booking) -> str:
    # The format of asthron.bookings.calendars.booking_uid: one event, one UID everywhere.
    return f"booking-{booking.reference}@asthron"


def invitation(
    booking: Booking,
    service: BookingService,
    *,
    business_name: str,
    organizer_email: str | None,
    location: str = "",
    stamp: dt.datetime,
    method: str = "REQUEST",
) -> str:
    """The .ics text for the customer; ``method`` is REQUEST or CANCEL."""
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError("method is REQUEST or CANCEL")
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = icalendar.Event()
    event.add("uid", invitation_uid(booking))
    event.add("sequence", booking.ical_sequence)
    event.add("dtstamp", stamp.astimezone(dt.UTC))
    event.add("dtstart", booking.starts_at.astimezone(dt.UTC))
    event.add("dtend", booking.ends_at.astimezone(dt.UTC))
    event.add("summary", f"{service.name} ({business_name})" if business_name else service.name)
    if location:
        event.add("location", location)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    if organizer_email:
        organizer = icalendar.vCalAddress(f"mailto:{organizer_email}")
        if business_name:
            organizer.params["cn"] = icalendar.vText(business_name)
        event.add("organizer", organizer)
    if booking.customer_email:
        attendee = icalendar.vCalAddress(f"mailto:{booking.customer_email}")
        if booking.customer_name:
            attendee.params["cn"] = icalendar.vText(booking.customer_name)
        attendee.params["role"] = icalendar.vText("REQ-PARTICIPANT")
        attendee.params["partstat"] = icalendar.vText("ACCEPTED")
        event.add("attendee", attendee)
    calendar.add_component(event)
    return calendar.to_ical().decode()


def invitation_attachment(text: str, method: str) -> Attachment:
    name = "cancel.ics" if method == "CANCEL" else "invite.ics"
    return Attachment(name, "text/calendar", text, {"method": method})

"""Bookings: services, staff and resources with their hours, free slots, booking without
double booking, external calendars (CalDAV, Google), the public booking page, and the
booking's life after it is made: emails with the invitation, the customer's links, reminders,
approval, no-shows, the staff's list and calendar.

It imports no other feature; it plugs into the message path through hooks.
"""

# tasks registers the outbox handler and the periodic tasks.
from asthron.bookings import chat, notices, panels, payment_events, tasks
from asthron.bookings.models import BookingService
from asthron.security.permissions import Permission
from asthron.snapshots import watch


def includeme(config):
    config.add_email_template(
        "booking_customer",
        "To the customer when their booking is confirmed, requested, moved, cancelled or "
        "declined, and as a reminder (the invitation .ics is attached, not worded here)",
        notices.CUSTOMER_SAMPLE,
    )
    config.add_email_template(
        "booking_staff",
        "To the staff member booked (else owners and admins) and routing rules: a new "
        "booking or request, or a customer's cancellation or move",
        notices.STAFF_SAMPLE,
    )
    config.add_email_template(
        "calendar_broken",
        "To the staff member whose connected calendar can no longer be read",
        {
            "provider": "Google Calendar",
            "resource_name": "Sam",
            "reason": "invalid_grant: the access was revoked",
            "link": "https://example.com/bookings/calendars",
        },
    )
    config.add_nav_item(
        "Conversations",
        "Bookings",
        "bookings.list",
        Permission.BOOKINGS,
        match=(
            "bookings.list",
            "bookings.agenda",
            "bookings.approve",
            "bookings.decline",
            "bookings.cancel",
            "bookings.no_show",
            "bookings.reschedule",
        ),
        order=20,
    )
    config.add_nav_item(
        "Settings",
        "Booking setup",
        "bookings.setup",
        Permission.SETTINGS,
        match=("bookings.service_", "bookings.resource_"),
        order=45,
    )
    config.add_nav_item(
        # Staff connect their own calendar here, so it sits beside Bookings, not in Settings.
        "Conversations",
        "Calendars",
        "bookings.calendars",
        Permission.BOOKINGS,
        match=("bookings.calendar", "bookings.google_app"),
        order=21,
    )
    # The assistant may offer the next free times (and the booking link) in its reply.
    config.add_message_hook("prompt_contributors", chat.open_slots_prompt)
    # Staff see the conversation's bookings beside it, and a lead's bookings on its timeline.
    config.add_message_hook("side_panels", panels.booking_panel)
    config.add_message_hook("timeline_entries", panels.booking_timeline)
    # A visitor asking for an appointment gets the booking card (after the inbox's and the
    # leads' hooks, which may hand the chat over or read a qualification answer).
    config.add_message_hook("on_visitor_message", chat.offer_booking_card, order=70)
    # A booking's calendar event follows it when it moves or is cancelled, whoever did it.
    config.add_domain_event_subscriber("booking.rescheduled", tasks.calendar_event_follows)
    config.add_domain_event_subscriber("booking.cancelled", tasks.calendar_event_follows)
    # Whether any service is active is read on every visitor message, through a snapshot.
    watch(BookingService)
    # Paid services: payments confirms or releases the hold through domain events.
    payment_events.subscribe(config)

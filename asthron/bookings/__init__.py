"""Bookings: services, staff and resources with their hours, free slots, booking without
double booking, external calendars (CalDAV), the public booking page, and the booking's life
after it is made: emails with the invitation, the customer's links, reminders, approval,
no-shows, the staff's list and calendar.

It imports no other feature; it plugs into the message path through hooks.
"""

# tasks registers the outbox handler and the periodic tasks.
from asthron.bookings import chat, tasks  # noqa: F401
from asthron.bookings.models import BookingService
from asthron.snapshots import watch


def includeme(config):
    # The assistant may offer the next free times (and the booking link) in its reply.
    config.add_message_hook("prompt_contributors", chat.open_slots_prompt)
    # Staff see the conversation's bookings beside it, and a lead's bookings on its timeline.
    config.add_message_hook("side_panels", chat.booking_panel)
    config.add_message_hook("timeline_entries", chat.booking_timeline)
    # Whether any service is active is read on every visitor message, through a snapshot.
    watch(BookingService)

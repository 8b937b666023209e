"""Bookings: services, staff and resources with their hours, free slots, booking without
double booking, external calendars (CalDAV), the public booking page.

It imports no other feature; it plugs into the message path through hooks.
"""

from asthron.bookings import chat, tasks  # noqa: F401 - tasks registers the outbox handler
from asthron.bookings.models import BookingService
from asthron.security.permissions import Permission
from asthron.snapshots import watch


def includeme(config):
    config.add_nav_item("Conversations", "Bookings", "bookings.list", Permission.BOOKINGS, order=20)
    # The assistant may offer the next free times (and the booking link) in its reply.
    config.add_message_hook("prompt_contributors", chat.open_slots_prompt)
    # Whether any service is active is read on every visitor message, through a snapshot.
    watch(BookingService)

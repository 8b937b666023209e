"""Bookings: services, staff and resources with their hours, free slots, booking without
double booking, external calendars (CalDAV), the public booking page.

It imports no other feature; it plugs into the message path through hooks.
"""

from asthron.bookings import chat, payment_events, tasks  # noqa: F401 - tasks: outbox handler
from asthron.bookings.models import BookingService
from asthron.snapshots import watch


def includeme(config):
    # The assistant may offer the next free times (and the booking link) in its reply.
    config.add_message_hook("prompt_contributors", chat.open_slots_prompt)
    # Whether any service is active is read on every visitor message, through a snapshot.
    watch(BookingService)
    # Paid services: payments confirms or releases the hold through domain events.
    payment_events.subscribe(config)

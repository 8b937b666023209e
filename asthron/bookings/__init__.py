"""Bookings: services, staff and resources with their hours, free slots, booking without
double booking, external calendars (CalDAV, Google), the public booking page.

It imports no other feature; it plugs into the message path through hooks.
"""

from asthron.bookings import chat, payment_events, tasks
from asthron.bookings.models import BookingService
from asthron.snapshots import watch


def includeme(config):
    # The assistant may offer the next free times (and the booking link) in its reply.
    config.add_message_hook("prompt_contributors", chat.open_slots_prompt)
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

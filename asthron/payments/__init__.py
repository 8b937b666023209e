"""Payments with Stripe: deposits and prepaid bookings, payment requests in the chat,
refunds, and Stripe's signed webhooks.

It imports no other feature. Bookings tell it about a held, paid booking with
``booking.held`` and about a cancellation with ``booking.cancelled``; it answers with
``payment.succeeded`` / ``expired`` / ``failed`` / ``refunded``, which bookings and the chat
subscribe to.
"""

from asthron.payments import chat, service, tasks  # noqa: F401 - tasks: outbox handlers
from asthron.payments.stripe_api import StripeOptions


def includeme(config):
    extra = config.registry["app_settings"].extra
    config.registry["stripe_options"] = StripeOptions.from_extra(extra)
    config.add_domain_event_subscriber("booking.held", service.payment_for_held_booking)
    config.add_domain_event_subscriber("booking.cancelled", service.refund_cancelled_booking)
    # The card in the chat, the state changes told there, the inbox's side panel.
    chat.subscribe(config)

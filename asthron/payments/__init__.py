"""Payments with Stripe: deposits and prepaid bookings, payment requests in the chat,
refunds, and Stripe's signed webhooks.

It imports no other feature. Bookings tell it about a held, paid booking with
``booking.held`` and about a cancellation with ``booking.cancelled``; it answers with
``payment.succeeded`` / ``expired`` / ``failed`` / ``refunded``, which bookings and the chat
subscribe to.
"""

from asthron.payments import alerts, chat, service, tasks  # noqa: F401 - tasks: outbox handlers
from asthron.payments.stripe_api import StripeOptions
from asthron.security.permissions import Permission


def includeme(config):
    config.add_nav_item(
        "Conversations",
        "Payments",
        "payments.list",
        Permission.PAYMENTS,
        match=("payments.detail", "payments.refund", "payments.request"),
        order=30,
    )
    config.add_nav_item(
        "Settings",
        "Stripe",
        "payments.settings",
        Permission.INTEGRATIONS,
        match=("payments.check",),
        order=45,
    )
    extra = config.registry["app_settings"].extra
    config.registry["stripe_options"] = StripeOptions.from_extra(extra)
    config.add_domain_event_subscriber("booking.held", service.payment_for_held_booking)
    config.add_domain_event_subscriber("booking.cancelled", service.refund_cancelled_booking)
    # The card in the chat, the state changes told there, the inbox's side panel.
    chat.subscribe(config)
    # "A payment is received", routed by the email routing rules.
    alerts.subscribe(config)

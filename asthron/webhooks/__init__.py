"""Outbound webhooks: domain events delivered to the business's own systems, signed per the
Standard Webhooks spec, through the outbox, behind the SSRF guard (docs/webhooks.md)."""

from asthron.domain_events import EVENT_KINDS

# Importing the tasks registers the delivery outbox handler.
from asthron.webhooks import service, tasks  # noqa: F401


def includeme(config):
    config.add_email_template(
        "webhook_disabled",
        "To the owners when a webhook endpoint is switched off",
        {"url": "https://crm.example.com/hooks/asthron", "reason": "410 Gone"},
    )
    for kind in EVENT_KINDS:
        config.add_domain_event_subscriber(kind, service.on_domain_event)

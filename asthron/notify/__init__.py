"""Outbound email (SMTP) through the outbox, and, later, routing rules."""

# Importing the service registers the email outbox handler.
from asthron.notify import service  # noqa: F401
from asthron.security.permissions import Permission


def includeme(config):
    config.add_nav_item(
        "Settings", "Email", "integrations.email", Permission.INTEGRATIONS, order=40
    )

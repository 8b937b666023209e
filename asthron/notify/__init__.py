"""Outbound email (SMTP) through the outbox, and, later, routing rules."""

# Importing the service registers the email outbox handler.
from asthron.notify import service  # noqa: F401


def includeme(config):
    pass

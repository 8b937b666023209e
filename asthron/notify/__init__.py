"""Outbound email (SMTP) through the outbox, and the owner's wording of each email."""

# Importing the service registers the email outbox handler.
from asthron.notify import service  # noqa: F401


def includeme(config):
    # config.add_email_template: the emails the owner may reword (notify/templates.py).
    config.include(".templates")

"""Messaging channels: WhatsApp Cloud API, Messenger and Instagram through Meta's Graph API.

A conversation records its channel (``conversations.channel``); inbound texts take the same
path as the widget's messages (``receive_visitor_message``), and replies (assistant, staff,
system) go back through the ``outbound_message`` hook and the outbox (docs/architecture.md).
"""

from asthron.channels import outbound, service


def includeme(config):
    config.add_message_hook("outbound_message", outbound.queue_outbound)
    config.add_message_hook("side_panels", service.channel_panel)

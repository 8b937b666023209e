"""The outbox handler that makes webhook delivery attempts."""

from __future__ import annotations

from asthron.jobs.service import outbox_handler
from asthron.webhooks import service


@outbox_handler(service.DELIVER_KIND)
def deliver(ctx, payload: dict) -> str:
    return service.perform(ctx, payload)

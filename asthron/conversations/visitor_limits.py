"""Rate limits on what a visitor token may do besides sending messages.

A visitor token is free to anyone who loads a site, so every widget call that writes or
wakes staff counts, per visitor and per address. Calls that change the conversation (the lead
form, a lead card, "talk to a person", the offline form) share the messages' buckets; calls
that only record state (read markers, consent, opening the conversation on a page load) have
buckets of their own, with room for a few per message.
"""

from __future__ import annotations

from asthron.conversations.service import ConversationError

MESSAGES = "msg"  # the buckets post_message counts in (msg-visitor, msg-ip)
STATE = "state"
STATE_CALLS_PER_MESSAGE = 3


def limit_visitor(request, visitor_id: int, bucket: str = MESSAGES) -> None:
    """Count one call for this visitor and its address; 429 ``rate_limited`` beyond."""
    settings = request.app_settings
    factor = STATE_CALLS_PER_MESSAGE if bucket == STATE else 1
    limiter = request.registry["rate_limiter"]
    allowed = limiter.hit(
        f"{bucket}-visitor", str(visitor_id), settings.widget_messages_per_minute * factor, 60
    ) and limiter.hit(
        f"{bucket}-ip",
        request.client_addr or "unknown",
        settings.widget_messages_per_minute_per_ip * factor,
        60,
    )
    if not allowed:
        raise ConversationError("Too many requests; wait a moment and try again.", "rate_limited")

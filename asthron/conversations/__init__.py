"""Conversations: visitors, the event log, the widget API, streams, handoff, the reply runner
and the hook points on the message path (asthron.conversations.hooks)."""

from asthron.conversations.runner import ReplyRunner
from asthron.conversations.streams import StreamCounter
from asthron.ratelimit import make_rate_limiter


def includeme(config):
    settings = config.registry["app_settings"]
    # Features register their hooks from their own includeme, after this one.
    config.include(".hooks")
    config.registry["rate_limiter"] = make_rate_limiter(settings)
    config.registry["stream_counter"] = StreamCounter()
    config.registry["reply_runner"] = ReplyRunner(
        config.registry, max_workers=settings.reply_workers
    )

"""Conversations: visitors, the event log, the widget API, streams and the reply runner."""

from asthron.conversations.runner import ReplyRunner
from asthron.conversations.streams import StreamCounter
from asthron.ratelimit import make_rate_limiter


def includeme(config):
    settings = config.registry["app_settings"]
    config.registry["rate_limiter"] = make_rate_limiter(settings)
    config.registry["stream_counter"] = StreamCounter()
    config.registry["reply_runner"] = ReplyRunner(
        config.registry, max_workers=settings.reply_workers
    )

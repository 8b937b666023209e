"""The live staff inbox: handoff triggers and rules, summaries and alerts.

It plugs into the message path through hooks (asthron.conversations.hooks) and reacts to a
qualified lead through the ``lead.qualified`` domain event; it imports no other feature.
"""

import datetime as dt

from asthron.inbox import tasks, triggers
from asthron.inbox.models import HandoffRules
from asthron.snapshots import watch


def includeme(config):
    config.add_email_template(
        "visitor_replies",
        "To a visitor who left before reading the team's replies",
        {
            "visitor": {"name": "Sam"},
            "replies": [{"author_name": "Alice", "body": "We open at 9 tomorrow."}],
            "unsubscribe_url": "https://example.com/unsubscribe/sample",
        },
    )
    config.add_email_template(
        "waiting_alert",
        "To the team when a chat has waited for a person",
        {
            "conversation": {
                "id": 42,
                "waiting_since": dt.datetime(2026, 12, 7, 9, 5, tzinfo=dt.UTC),
            },
            "minutes": 5,
            "link": "https://example.com/inbox/42",
        },
    )
    # A request for a person or an admin keyword hands off before the assistant replies.
    config.add_message_hook("on_visitor_message", triggers.on_visitor_message, order=50)
    config.add_message_hook("after_reply", triggers.after_reply, order=50)
    config.add_message_hook("on_handoff", tasks.summarize_after_handoff)
    config.add_domain_event_subscriber("lead.qualified", triggers.hand_off_qualified_lead)
    # Each visitor message reads the rules through asthron.snapshots.
    watch(HandoffRules)

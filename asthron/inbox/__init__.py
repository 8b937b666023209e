"""The live staff inbox: handoff triggers and rules, summaries and alerts.

It plugs into the message path through hooks (asthron.conversations.hooks) and reacts to a
qualified lead through the ``lead.qualified`` domain event; it imports no other feature.
"""

from asthron.inbox import service, tasks, triggers
from asthron.inbox.models import HandoffRules
from asthron.security.permissions import Permission
from asthron.snapshots import watch


def includeme(config):
    # The badge counts chats waiting for a person, on every page (navigation.py caches it).
    config.add_nav_item(
        "Conversations",
        "Inbox",
        "inbox.list",
        Permission.CONVERSATIONS,
        match=("inbox.", "conversations."),
        badge=service.waiting_count,
        order=10,
    )
    # A request for a person or an admin keyword hands off before the assistant replies.
    config.add_message_hook("on_visitor_message", triggers.on_visitor_message, order=50)
    config.add_message_hook("after_reply", triggers.after_reply, order=50)
    config.add_message_hook("on_handoff", tasks.summarize_after_handoff)
    config.add_domain_event_subscriber("lead.qualified", triggers.hand_off_qualified_lead)
    # Each visitor message reads the rules through asthron.snapshots.
    watch(HandoffRules)

"""The live staff inbox: presence, handoff triggers and rules, summaries and alerts."""


def includeme(config):
    from asthron.inbox import tasks  # noqa: F401  (registers the Huey tasks)
    from asthron.inbox.triggers import after_reply

    config.registry["reply_runner"].after_reply.append(after_reply)

    from asthron.inbox.models import HandoffRules
    from asthron.snapshots import watch

    watch(HandoffRules)

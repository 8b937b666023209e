"""Leads: capture in chat, dedupe and merge, qualification, notes, the pipeline and export."""


def includeme(config):
    # Views are found by the app's scan. After each assistant reply: contact extraction with
    # confirmation, the lead form after N messages, and qualification answers.
    from asthron.leads.chat import after_reply, before_reply

    config.registry["reply_runner"].before_reply.append(before_reply)
    config.registry["reply_runner"].after_reply.append(after_reply)

    from asthron.leads.models import QualificationQuestion
    from asthron.snapshots import watch

    # Each visitor message asks whether any question is active (asthron.snapshots).
    watch(QualificationQuestion)

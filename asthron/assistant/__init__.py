"""The assistant: providers and the failover chain, prompts and guard rails, usage and budget."""


def includeme(config):
    from asthron.assistant.responder import AssistantResponder

    # The assistant is the conversations package's responder (the runner knows only the
    # interface in asthron.conversations.responder).
    config.registry["reply_runner"].responder = AssistantResponder(config.registry)

    from asthron.assistant.models import AssistantProfile, ProviderConfig
    from asthron.snapshots import watch

    # The reply path reads these through asthron.snapshots.
    watch(AssistantProfile, ProviderConfig)

"""The assistant: providers and the failover chain, prompts and guard rails, usage and budget."""


def includeme(config):
    from asthron.assistant.responder import AssistantResponder

    # The assistant replaces the conversations package's greeting responder.
    config.registry["reply_runner"].responder = AssistantResponder(config.registry)

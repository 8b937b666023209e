"""The assistant: providers and the failover chain, prompts and guard rails, usage and budget."""


def includeme(config):
    from asthron.assistant.responder import AssistantResponder

    # The assistant is the conversations package's responder (the runner knows only the
    # interface in asthron.conversations.responder).
    config.registry["reply_runner"].responder = AssistantResponder(config.registry)

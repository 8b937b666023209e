"""The assistant: providers and the failover chain, prompts and guard rails, model tasks,
usage and budget."""

from asthron.assistant.model_tasks import ModelTasks
from asthron.assistant.models import AssistantProfile, ProviderConfig
from asthron.assistant.provider_pool import ProviderPool
from asthron.assistant.responder import AssistantResponder
from asthron.security.permissions import Permission
from asthron.snapshots import watch


def includeme(config):
    config.add_nav_item("Settings", "Assistant", "assistant.profile", Permission.SETTINGS, order=20)
    config.add_nav_item(
        "Settings",
        "AI providers",
        "assistant.providers",
        Permission.INTEGRATIONS,
        match=("assistant.providers", "assistant.prices"),
        order=30,
    )
    config.add_nav_item(
        "Usage", "Usage", "usage.dashboard", Permission.SETTINGS, match=("assistant.budget",)
    )
    registry = config.registry
    pool = ProviderPool(registry)
    registry["ai_providers"] = pool
    # The assistant is the reply runner's responder (the runner knows only the Responder
    # protocol in asthron.conversations.responder).
    registry["reply_runner"].responder = AssistantResponder(registry, pool)
    # Structured side tasks for features (handoff decisions, summaries, extraction, notes).
    registry["model_tasks"] = ModelTasks(pool)
    # The reply path reads these through asthron.snapshots.
    watch(AssistantProfile, ProviderConfig)

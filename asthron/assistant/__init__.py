"""The assistant: providers and the failover chain, prompts and guard rails, model tasks,
usage and budget."""

from asthron.assistant import knowledge_gaps
from asthron.assistant.embeddings import EmbedderSource
from asthron.assistant.model_tasks import ModelTasks
from asthron.assistant.models import AssistantProfile, ProviderConfig
from asthron.assistant.provider_pool import ProviderPool
from asthron.assistant.responder import AssistantResponder
from asthron.knowledge.embeddings import EMBEDDER_SLOT
from asthron.snapshots import watch


def includeme(config):
    registry = config.registry
    config.add_email_template(
        "budget_warning",
        "To the owners when this month's AI spending nears the budget",
        {"percent": 80, "spent": 40.0, "budget": 50.0},
    )
    pool = ProviderPool(registry)
    registry["ai_providers"] = pool
    # The assistant is the reply runner's responder (the runner knows only the Responder
    # protocol in asthron.conversations.responder).
    registry["reply_runner"].responder = AssistantResponder(registry, pool)
    # Structured side tasks for features (handoff decisions, summaries, extraction, notes).
    registry["model_tasks"] = ModelTasks(pool)
    # Dense retrieval: the knowledge layer asks this for its embedder (None: lexical only).
    registry[EMBEDDER_SLOT] = EmbedderSource(registry, pool)
    # Questions the assistant could not answer go to the knowledge gaps page.
    config.add_message_hook("after_reply", knowledge_gaps.record_abstention, order=90)
    config.add_message_hook("on_handoff", knowledge_gaps.record_handoff, order=90)
    # The reply path reads these through asthron.snapshots.
    watch(AssistantProfile, ProviderConfig)

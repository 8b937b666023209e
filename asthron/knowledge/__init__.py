"""The knowledge base: articles, chunking, full-text indexing and retrieval (lexical, and
dense when an embedder is registered), owner synonyms and knowledge gaps."""

from asthron.knowledge import tasks  # noqa: F401  (the worker's passage embedding)
from asthron.knowledge.embeddings import EMBEDDER_SLOT


def includeme(config):
    # Views are found by the app's scan. The embedder slot stays empty until a layer that
    # can make vectors fills it (the assistant: assistant/embeddings.py).
    config.registry.setdefault(EMBEDDER_SLOT, None)

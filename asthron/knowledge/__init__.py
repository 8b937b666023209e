"""The knowledge base: articles, chunking, full-text indexing and retrieval."""

from asthron.security.permissions import Permission


def includeme(config):
    # Views are found by the app's scan.
    config.add_nav_item(
        "Knowledge", "Knowledge", "knowledge.list", Permission.KNOWLEDGE, match=("knowledge.",)
    )

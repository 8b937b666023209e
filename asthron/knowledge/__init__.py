"""The knowledge base: articles, chunking, full-text indexing and retrieval."""


def includeme(config):
    # Views are found by the app's scan.
    pass

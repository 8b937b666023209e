"""Leads: capture in chat, dedupe and merge, qualification, notes, the pipeline and export."""


def includeme(config):
    # Views are found by the app's scan.
    pass

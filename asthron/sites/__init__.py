"""Websites: allowed origins, site keys, widget look, business hours, privacy notice."""


def includeme(config):
    # Views are found by the app's scan.
    pass

"""Websites: allowed origins, site keys, widget look, business hours, privacy notice."""


def includeme(config):
    from asthron.sites.models import Site
    from asthron.snapshots import watch

    # Views are found by the app's scan; the widget API reads sites through snapshots.
    watch(Site)

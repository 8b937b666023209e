"""Websites: allowed origins, site keys, widget look, business hours, privacy notice."""

from asthron.sites.models import Site
from asthron.snapshots import watch


def includeme(config):
    # Views are found by the app's scan; the widget API reads sites through snapshots.
    watch(Site)

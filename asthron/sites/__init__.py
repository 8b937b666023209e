"""Websites: allowed origins, site keys, widget look, business hours, privacy notice."""

from asthron.security.permissions import Permission
from asthron.sites.models import Site
from asthron.snapshots import watch


def includeme(config):
    config.add_nav_item(
        "Settings", "Websites", "sites.list", Permission.SETTINGS, match=("sites.",), order=10
    )
    # Views are found by the app's scan; the widget API reads sites through snapshots.
    watch(Site)

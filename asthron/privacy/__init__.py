"""Privacy operations: data subjects (find, export, erase), retention, backups and keys.

It imports no other feature: every table declares its own personal-data rule
(``asthron.personal_data``), and this package reads those rules from the metadata.
"""

from asthron.privacy import tasks  # noqa: F401  (the worker's periodic retention purge)
from asthron.security.permissions import Permission


def includeme(config):
    config.add_nav_item("Settings", "Privacy", "privacy.page", Permission.DATA_DELETION, order=70)

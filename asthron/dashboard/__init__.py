"""The dashboard home (getting started, today's numbers) and the favicon.

It lives at the app-wiring level (.importlinter): it reads every feature's tables, and no
feature imports it.
"""


def includeme(config):
    config.add_nav_item("Home", "Home", "dashboard.home", order=0)

"""Accounts: users and roles, login, server-side sessions, presence, the team page and
invitations."""

from asthron.security.permissions import Permission


def includeme(config):
    config.add_nav_item(
        "Settings", "Team", "team.list", Permission.TEAM, match=("team.",), order=50
    )
    # The security policy that reads sessions, and CSRF storage. Views are found by the
    # app's scan.
    config.include(".policy")

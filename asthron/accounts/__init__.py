"""Accounts: users and roles, login, server-side sessions, presence, the team page and
invitations."""


def includeme(config):
    # The security policy that reads sessions, and CSRF storage. Views are found by the
    # app's scan.
    config.include(".policy")

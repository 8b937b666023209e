"""Accounts: users and roles, login, server-side sessions, the team page and invitations."""


def includeme(config):
    # Views are found by the app's scan; the security policy that reads sessions is in
    # asthron.security.policy.
    pass

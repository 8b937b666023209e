"""Accounts: users and roles, login, server-side sessions, presence, the team page and
invitations."""

import datetime as dt


def includeme(config):
    # The security policy that reads sessions, and CSRF storage. Views are found by the
    # app's scan.
    config.include(".policy")
    config.add_email_template(
        "invitation",
        "The invitation a new team member gets",
        {
            "inviter": "Alice Example",
            "role": "staff",
            "link": "https://example.com/invitations/sample-token",
            "expires_at": dt.datetime(2026, 12, 14, 9, 30, tzinfo=dt.UTC),
        },
    )

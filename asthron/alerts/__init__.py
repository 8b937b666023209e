"""Email routing: rules that decide who is emailed about new and qualified leads, waiting
chats, bookings and payments, per site and per the alert's facts, at once or in a digest.

Features raise alerts with ``asthron.alerts.service.send_alert``; this package sits below them
(docs/architecture.md) and knows none of them.
"""

# Importing the tasks registers the periodic digest sender.
from asthron.alerts import tasks  # noqa: F401


def includeme(config):
    config.add_email_template(
        "alert_digest",
        "The hourly or daily digest of a routing rule",
        {
            "delivery": "daily",
            "count": 2,
            "sections": [
                (
                    "A new lead",
                    [
                        {"line": "Ada Lovelace <ada@example.com> (chat)", "link": ""},
                        {"line": "Grace Hopper <grace@example.com> (form)", "link": ""},
                    ],
                )
            ],
        },
    )

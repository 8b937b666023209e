"""Roles and what each may do: the one table the security policy reads."""

from enum import StrEnum


class Permission(StrEnum):
    DASHBOARD = "dashboard.view"
    CONVERSATIONS = "conversations.work"
    LEADS = "leads.work"
    BOOKINGS = "bookings.work"
    SETTINGS = "settings.manage"
    KNOWLEDGE = "knowledge.manage"
    TEAM = "team.manage"
    AUDIT = "audit.view"
    SESSIONS_ANY = "sessions.manage_any"
    INTEGRATIONS = "integrations.manage"
    SECRETS = "secrets.manage"
    DATA_DELETION = "data.delete"
    WEBHOOKS = "webhooks.manage"
    # Asking a visitor for a payment in the chat; seeing and refunding payments.
    PAYMENT_REQUESTS = "payments.request"
    PAYMENTS = "payments.manage"
    CHANNELS = "channels.manage"


_STAFF = frozenset(
    {
        Permission.DASHBOARD,
        Permission.CONVERSATIONS,
        Permission.LEADS,
        Permission.BOOKINGS,
        Permission.PAYMENT_REQUESTS,
    }
)
_ADMIN = _STAFF | {
    Permission.SETTINGS,
    Permission.KNOWLEDGE,
    Permission.TEAM,
    Permission.AUDIT,
    Permission.SESSIONS_ANY,
    Permission.WEBHOOKS,
    Permission.PAYMENTS,
    Permission.CHANNELS,
}

ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "owner": frozenset(Permission),
    "admin": frozenset(_ADMIN),
    "staff": _STAFF,
}

# Roles a role may grant or manage on the team page. Admins manage staff and admins, never owners.
MANAGEABLE_ROLES: dict[str, frozenset[str]] = {
    "owner": frozenset({"owner", "admin", "staff"}),
    "admin": frozenset({"admin", "staff"}),
    "staff": frozenset(),
}


def has_permission(role: str | None, permission: str) -> bool:
    return role is not None and permission in ROLE_PERMISSIONS.get(role, ())

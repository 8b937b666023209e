"""The audit log: every state change by a person or a CLI command is recorded here."""

from asthron.audit.service import Actor, record
from asthron.security.permissions import Permission

__all__ = ["Actor", "record"]


def includeme(config):
    config.add_nav_item("Audit", "Audit log", "audit.list", Permission.AUDIT)
    # Views are found by the app's scan. The service is plain functions that take a session,
    # so the CLI and background jobs record entries exactly as requests do.
    config.add_request_method(_request_actor, "actor", reify=True)


def _request_actor(request) -> Actor:
    user = request.user
    if user is None:
        return Actor(label="anonymous", ip_address=request.client_addr)
    return Actor(label=user.email, user_id=user.id, ip_address=request.client_addr)

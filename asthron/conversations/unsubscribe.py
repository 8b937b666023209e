"""Visitors' opt-out from reply emails: a signed link per visitor (List-Unsubscribe).

The link carries the visitor id and an HMAC of it, with a key derived from the session secret;
a mail client's one-click POST (RFC 8058) or the page's button sets ``email_opt_out_at``, and
no reply email is sent to that visitor again.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy.orm import Session

from asthron import audit
from asthron.audit.service import Actor
from asthron.conversations.models import Visitor
from asthron.db import utcnow


def _key(secrets: dict) -> bytes:
    return hashlib.sha256(f"asthron unsubscribe:{secrets['session_secret']}".encode()).digest()


def token(secrets: dict, visitor_id: int) -> str:
    return hmac.new(_key(secrets), f"visitor:{visitor_id}".encode(), hashlib.sha256).hexdigest()


def headers(secrets: dict, public_url: str, visitor_id: int) -> dict[str, str]:
    """The List-Unsubscribe headers of an email to this visitor."""
    url = f"{public_url}/unsubscribe/{visitor_id}/{token(secrets, visitor_id)}"
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def check(secrets: dict, visitor_id: int, supplied: str) -> bool:
    return hmac.compare_digest(token(secrets, visitor_id), supplied or "")


def opt_out(db: Session, visitor_id: int, ip_address: str | None) -> bool:
    """Stop reply emails to the visitor; False when there is no such visitor."""
    visitor = db.get(Visitor, visitor_id)
    if visitor is None:
        return False
    if visitor.email_opt_out_at is None:
        visitor.email_opt_out_at = utcnow()
        audit.record(
            db,
            Actor(label="visitor", ip_address=ip_address),
            "visitor.email_opt_out",
            "visitor",
            visitor_id,
        )
    return True

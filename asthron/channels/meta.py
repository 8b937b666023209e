"""Meta's webhook deliveries: the signature, and the payload read into plain items.

WhatsApp Cloud API: ``{"object": "whatsapp_business_account", "entry": [{"changes": [{"field":
"messages", "value": {"metadata": {"phone_number_id"}, "contacts", "messages", "statuses"}}]}]}``.
Messenger (``"object": "page"``) and Instagram (``"object": "instagram"``): ``entry[].messaging[]``
with ``sender``, ``recipient`` and one of ``message``, ``delivery``, ``read``. Anything else is
an ``Ignored`` item: acknowledged, logged, never an error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

SIGNATURE_PREFIX = "sha256="
OBJECT_KINDS = {
    "whatsapp_business_account": "whatsapp",
    "page": "messenger",
    "instagram": "instagram",
}


def signature_valid(app_secret: str, body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature-256``: ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len(SIGNATURE_PREFIX) :].strip().lower())


@dataclass(frozen=True)
class InboundText:
    account_id: str  # the phone number id / page id / Instagram id it was sent to
    sender_id: str  # wa_id / PSID / IGSID
    message_id: str
    text: str
    sender_name: str | None = None


@dataclass(frozen=True)
class StatusUpdate:
    account_id: str
    recipient_id: str
    status: str  # sent | delivered | read | failed
    message_ids: tuple[str, ...] = ()  # empty with a watermark: everything before it
    watermark: dt.datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class Ignored:
    what: str


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _str(value) -> str:
    return value if isinstance(value, str) else (str(value) if isinstance(value, int) else "")


def _millis(value) -> dt.datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        try:
            return dt.datetime.fromtimestamp(value / 1000, dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _placeholder(kind: str) -> str:
    # A photo, a voice note...: staff see that something came that only the app shows.
    return f"[{kind[:40] or 'attachment'}: open the app to see it]"


def parse(payload) -> list:
    """Every item of one delivery, in order."""
    payload = _dict(payload)
    kind = OBJECT_KINDS.get(_str(payload.get("object")))
    if kind is None:
        return [Ignored(f"object {_str(payload.get('object'))[:40]!r}")]
    items: list = []
    for entry in _list(payload.get("entry")):
        entry = _dict(entry)
        if kind == "whatsapp":
            for change in _list(entry.get("changes")):
                items.extend(_whatsapp_change(_dict(change)))
        else:
            for event in _list(entry.get("messaging")):
                items.append(_messaging_event(_str(entry.get("id")), _dict(event)))
    return items


def _whatsapp_change(change: dict) -> list:
    if change.get("field") != "messages":
        return [Ignored(f"field {_str(change.get('field'))[:40]!r}")]
    value = _dict(change.get("value"))
    account = _str(_dict(value.get("metadata")).get("phone_number_id"))
    names = {
        _str(c.get("wa_id")): _str(_dict(c.get("profile")).get("name")) or None
        for c in map(_dict, _list(value.get("contacts")))
    }
    items: list = []
    for message in map(_dict, _list(value.get("messages"))):
        sender, message_id = _str(message.get("from")), _str(message.get("id"))
        if not (account and sender and message_id):
            items.append(Ignored("a message without sender or id"))
            continue
        kind = _str(message.get("type"))
        if kind == "text":
            text = _str(_dict(message.get("text")).get("body"))
        elif kind == "button":
            text = _str(_dict(message.get("button")).get("text"))
        else:
            text = _placeholder(kind)
        items.append(InboundText(account, sender, message_id, text, names.get(sender)))
    for status in map(_dict, _list(value.get("statuses"))):
        errors = [_dict(e) for e in _list(status.get("errors"))]
        error = (
            "; ".join(f"{_str(e.get('code'))} {_str(e.get('title'))}".strip() for e in errors)
            or None
        )
        items.append(
            StatusUpdate(
                account,
                _str(status.get("recipient_id")),
                _str(status.get("status")),
                (_str(status.get("id")),),
                error=error,
            )
        )
    return items


def _messaging_event(account: str, event: dict):
    sender = _str(_dict(event.get("sender")).get("id"))
    if "message" in event:
        message = _dict(event.get("message"))
        if message.get("is_echo"):  # our own message, echoed back
            return Ignored("echo")
        message_id = _str(message.get("mid"))
        if not (account and sender and message_id):
            return Ignored("a message without sender or id")
        text = _str(message.get("text"))
        if not text:
            attachments = [_dict(a) for a in _list(message.get("attachments"))]
            text = _placeholder(_str(attachments[0].get("type")) if attachments else "")
        return InboundText(account, sender, message_id, text)
    # Delivery and read receipts come from the person: the recipient of our message.
    if "delivery" in event:
        delivery = _dict(event.get("delivery"))
        mids = tuple(m for m in map(_str, _list(delivery.get("mids"))) if m)
        watermark = None if mids else _millis(delivery.get("watermark"))
        return StatusUpdate(account, sender, "delivered", mids, watermark)
    if "read" in event:
        read = _dict(event.get("read"))
        mid = _str(read.get("mid"))  # Instagram names the message; Messenger a watermark
        if mid:
            return StatusUpdate(account, sender, "read", (mid,))
        return StatusUpdate(account, sender, "read", (), _millis(read.get("watermark")))
    return Ignored("messaging event " + ",".join(sorted(event))[:80])

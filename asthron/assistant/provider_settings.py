"""The assistant's provider slots as the dashboard sets them: their form values, saving and
removing them (audited, the API key encrypted), and the SSRF check on a typed base URL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit
from asthron.assistant.config import EffectiveProvider, _from_ini, _from_row
from asthron.assistant.forms import ProviderForm
from asthron.assistant.models import ProviderConfig
from asthron.assistant.providers.factory import DEFAULT_BASE_URLS as CONNECT_URLS
from asthron.audit.service import Actor
from asthron.forms import FormError
from asthron.security.crypto import SecretBox
from asthron.security.ssrf import SSRFError, UnresolvableHost, check_url

PROVIDER_FIELDS = (
    "kind",
    "base_url",
    "model",
    "temperature",
    "max_tokens",
    "connect_timeout",
    "first_token_timeout",
    "total_timeout",
    "keep_alive",
    "embedding_model",
)
DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "ollama": "http://localhost:11434",
    "anthropic": "https://api.anthropic.com",
}


def refuse_private_base_url(kind: str, base_url: str, allowed_private) -> None:
    """FormError (on ``base_url``) when a base URL typed in the dashboard reaches a
    non-public address (loopback, private, link-local, the metadata service…) outside the
    operator's allowlist.

    A name that does not resolve now is accepted: there is nothing to reach, and the check
    runs again before every call (``providers.factory.guard_base_url``).
    """

    try:
        check_url(base_url or CONNECT_URLS.get(kind, ""), allowed_private)
    except UnresolvableHost:
        return
    except SSRFError as exc:
        raise FormError({"base_url": f"The base URL is refused: {exc}"}) from None


def provider_rows(db: Session) -> dict[str, ProviderConfig]:
    return {row.slot: row for row in db.scalars(sa.select(ProviderConfig))}


def provider_values(row: ProviderConfig | None) -> dict:
    if row is None:
        return {
            "kind": "openai",
            "base_url": "",
            "model": "",
            "temperature": 0.3,
            "max_tokens": 600,
            "connect_timeout": 5.0,
            "first_token_timeout": 20.0,
            "total_timeout": 90.0,
            "keep_alive": "",
            "embedding_model": "",
            "enabled": True,
        }
    return {
        **{name: getattr(row, name) for name in PROVIDER_FIELDS},
        "keep_alive": row.keep_alive or "",
        "enabled": row.enabled,
    }


def save_provider(db: Session, box: SecretBox, actor: Actor, new: ProviderForm) -> ProviderConfig:
    row = db.scalar(sa.select(ProviderConfig).where(ProviderConfig.slot == new.slot))
    created = row is None
    if row is None:
        row = ProviderConfig(slot=new.slot)
        db.add(row)
    for name in PROVIDER_FIELDS:
        setattr(row, name, getattr(new, name))
    row.enabled = new.enabled
    api_key = new.new_api_key
    api_key_changed = api_key is not None
    if api_key_changed:
        row.api_key_encrypted = box.encrypt(api_key) if api_key else None
    db.flush()
    audit.record(
        db,
        actor,
        "ai.provider_create" if created else "ai.provider_update",
        "provider_config",
        row.id,
        {
            "slot": new.slot,
            "kind": new.kind,
            "base_url": new.base_url,
            "model": new.model,
            "embedding_model": new.embedding_model,
            "enabled": new.enabled,
            "api_key_changed": api_key_changed,
            "api_key_cleared": api_key == "",
        },
    )
    return row


def remove_provider(db: Session, actor: Actor, slot: str) -> bool:
    row = db.scalar(sa.select(ProviderConfig).where(ProviderConfig.slot == slot))
    if row is None:
        return False
    audit.record(
        db,
        actor,
        "ai.provider_remove",
        "provider_config",
        row.id,
        {"slot": slot, "kind": row.kind, "model": row.model},
    )
    db.delete(row)
    db.flush()
    return True


def slot_provider(db: Session, settings, box, slot: str) -> EffectiveProvider | None:
    """What the slot's settings are, for a connection test: the dashboard's row (enabled or
    not), else the .ini's keys, else nothing."""
    row = db.scalar(sa.select(ProviderConfig).where(ProviderConfig.slot == slot))
    if row is not None:
        return _from_row(row, box)
    return _from_ini(settings, slot)

"""Which providers the assistant uses: dashboard settings, else the .ini, else built-in only.

A slot saved in the dashboard wins over the .ini's ``asthron.ai.<slot>.*`` keys, so a
headless install can be configured from the file and an owner can still take over.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.assistant.models import PROVIDER_KINDS, PROVIDER_SLOTS, ProviderConfig
from asthron.security.crypto import SecretDecryptionError
from asthron.settings import SettingsError


@dataclass(frozen=True)
class EffectiveProvider:
    slot: str
    source: str  # "dashboard" or ".ini"
    kind: str
    base_url: str
    model: str
    api_key: str | None
    temperature: float = 0.3
    max_tokens: int = 600
    connect_timeout: float = 5.0
    first_token_timeout: float = 20.0
    total_timeout: float = 90.0
    keep_alive: str | None = None
    # The embedding model for dense retrieval (openai and ollama kinds); "": none.
    embedding_model: str = ""

    @property
    def breaker_key(self) -> tuple:
        return (self.slot, self.kind, self.base_url, self.model)


def _from_ini(settings, slot: str) -> EffectiveProvider | None:
    raw = settings.extra
    prefix = f"asthron.ai.{slot}."
    kind = raw.get(prefix + "kind")
    if not kind:
        return None
    if kind not in PROVIDER_KINDS:
        raise SettingsError(f"{prefix}kind must be one of {', '.join(PROVIDER_KINDS)}")

    def number(key, default, cast=float):
        value = raw.get(prefix + key)
        return cast(value) if value not in (None, "") else default

    return EffectiveProvider(
        slot=slot,
        source=".ini",
        kind=kind,
        base_url=raw.get(prefix + "base_url", ""),
        model=raw.get(prefix + "model", ""),
        api_key=raw.get(prefix + "api_key") or None,
        temperature=number("temperature", 0.3),
        max_tokens=number("max_tokens", 600, int),
        connect_timeout=number("connect_timeout", 5.0),
        first_token_timeout=number("first_token_timeout", 20.0),
        total_timeout=number("total_timeout", 90.0),
        keep_alive=raw.get(prefix + "keep_alive"),
        embedding_model=(raw.get(prefix + "embedding_model") or "").strip()[:200],
    )


def _from_row(row: ProviderConfig, box) -> EffectiveProvider:
    try:
        api_key = box.decrypt(row.api_key_encrypted) if row.api_key_encrypted else None
    except SecretDecryptionError:
        api_key = None
    return EffectiveProvider(
        slot=row.slot,
        source="dashboard",
        kind=row.kind,
        base_url=row.base_url,
        model=row.model,
        api_key=api_key,
        temperature=row.temperature,
        max_tokens=row.max_tokens,
        connect_timeout=row.connect_timeout,
        first_token_timeout=row.first_token_timeout,
        total_timeout=row.total_timeout,
        keep_alive=row.keep_alive,
        embedding_model=row.embedding_model or "",
    )


def effective_providers(db: Session, settings, box) -> list[EffectiveProvider]:
    rows = {r.slot: r for r in db.scalars(sa.select(ProviderConfig))}
    chain = []
    for slot in PROVIDER_SLOTS:
        row = rows.get(slot)
        if row is not None:
            if row.enabled:
                chain.append(_from_row(row, box))
            continue
        from_ini = _from_ini(settings, slot)
        if from_ini is not None:
            chain.append(from_ini)
    return chain

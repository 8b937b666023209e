"""Build a provider from a configuration: a ``ProviderSettings`` or anything with its fields.

The API key arrives in plaintext, already decrypted by the caller; it is kept only inside the
SDK client and never logged. The configuration's temperature, max tokens and timeouts become
the provider's ``defaults`` (a ``GenerationOptions``), used when a call passes no options and
by ``health()`` / ``list_models()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from asthron.assistant.providers.base import (
    GenerationOptions,
    Provider,
    ProviderError,
    Timeouts,
)

KINDS = ("openai", "ollama", "anthropic")


@dataclass(frozen=True)
class ProviderSettings:
    """What ``build_provider`` reads; a ``ProviderConfig`` row with ``api_key`` works too."""

    kind: str
    model: str
    base_url: str = ""
    api_key: str | None = None
    temperature: float = 0.3
    max_tokens: int = 600
    connect_timeout: float = 5.0
    first_token_timeout: float = 20.0
    total_timeout: float = 90.0
    keep_alive: str | None = None

    def __repr__(self) -> str:  # never show the key
        key = "set" if self.api_key else "none"
        return f"ProviderSettings(kind={self.kind!r}, model={self.model!r}, api_key={key})"


def options_from_config(config) -> GenerationOptions:
    """The generation options a configuration describes (missing fields take the defaults)."""
    base = GenerationOptions()
    timeouts = Timeouts(
        connect=_number(config, "connect_timeout", base.timeouts.connect),
        first_token=_number(config, "first_token_timeout", base.timeouts.first_token),
        total=_number(config, "total_timeout", base.timeouts.total),
    )
    return GenerationOptions(
        temperature=_number(config, "temperature", base.temperature),
        max_tokens=int(_number(config, "max_tokens", base.max_tokens)),
        timeouts=timeouts,
    )


def build_provider(config) -> Provider:
    """The provider for ``config.kind`` ("openai", "ollama" or "anthropic").

    Raises ``ProviderError("bad_request")`` for an unknown kind, a missing model or a setting
    the client library refuses; nothing is sent over the network here.
    """
    kind = (getattr(config, "kind", "") or "").strip().lower()
    model = (getattr(config, "model", "") or "").strip()
    base_url = (getattr(config, "base_url", "") or "").strip()
    api_key = getattr(config, "api_key", None) or None
    if kind not in KINDS:
        raise ProviderError("bad_request", f"unknown provider kind {kind!r}")
    if not model:
        raise ProviderError("bad_request", f"{kind}: no model is configured")
    defaults = options_from_config(config)
    if kind == "openai":
        from asthron.assistant.providers.openai_compat import OpenAICompatProvider

        return OpenAICompatProvider(model, base_url, api_key, defaults=defaults)
    if kind == "ollama":
        from asthron.assistant.providers.ollama_provider import OllamaProvider

        keep_alive = getattr(config, "keep_alive", None)
        return OllamaProvider(model, base_url, api_key, keep_alive=keep_alive, defaults=defaults)
    from asthron.assistant.providers.anthropic_provider import AnthropicProvider

    return AnthropicProvider(model, base_url, api_key, defaults=defaults)


def _number(config, name: str, default: float) -> float:
    value = getattr(config, name, None)
    return default if value is None else float(value)

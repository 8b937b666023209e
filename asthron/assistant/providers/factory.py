"""Build a provider from a configuration: a ``ProviderSettings`` or anything with its fields.

The API key arrives in plaintext, already decrypted by the caller; it is kept only inside the
SDK client and never logged. The configuration's temperature, max tokens and timeouts become
the provider's ``defaults`` (a ``GenerationOptions``), used when a call passes no options and
by ``health()`` / ``list_models()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from asthron.assistant.providers.base import (
    GenerationOptions,
    HealthResult,
    Provider,
    ProviderError,
    Timeouts,
)
from asthron.security.ssrf import DEFAULT_ALLOWLIST, SSRFError, UnresolvableHost, check_url

KINDS = ("openai", "ollama", "anthropic")
# Where each kind connects when no base URL is set (as the provider classes default).
DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "ollama": "http://127.0.0.1:11434",
    "anthropic": "https://api.anthropic.com",
}


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


def guard_base_url(config, allowed_private: Iterable[str] | None = None) -> None:
    """Refuse a dashboard-configured provider whose base URL reaches a non-public address (SSRF):
    ``ProviderError("bad_request")`` when it resolves to loopback, private, link-local… and is
    not in the operator's allowlist, ``ProviderError("unavailable")`` when it does not resolve.

    Only ``source == "dashboard"`` is checked. A provider from the .ini file is the operator's
    own infrastructure: whoever can edit the .ini already runs the server and chooses its
    network, and a model server on loopback or the LAN (Ollama, vLLM, llama.cpp) is the usual
    case. The dashboard is a web form: a stolen owner session, or an owner of a hosted install,
    must not reach the cloud metadata service or internal admin ports through it.

    The SDK clients resolve the name again when they connect, so this runs before every use,
    not once per configuration (see ``asthron.security.ssrf``).
    """
    if getattr(config, "source", None) != "dashboard":
        return
    kind = (getattr(config, "kind", "") or "").strip().lower()
    url = (getattr(config, "base_url", "") or "").strip() or DEFAULT_BASE_URLS.get(kind, "")
    allowed = DEFAULT_ALLOWLIST if allowed_private is None else allowed_private
    try:
        check_url(url, allowed)
    except UnresolvableHost as exc:
        raise ProviderError("unavailable", f"{kind}: {exc}") from None
    except SSRFError as exc:
        raise ProviderError("bad_request", f"{kind}: {exc}") from None


class RefusedProvider:
    """Stands in for a provider whose configuration was refused: every call raises the refusal,
    so the failover chain records the failure and moves on to the next provider."""

    def __init__(self, kind: str, model: str, error: ProviderError):
        self.kind, self.model, self.error = kind, model, error

    def stream_chat(self, messages, options=None, grounding=None):
        raise self.error
        yield  # a generator, like every provider's stream_chat

    def structured(self, messages, schema, options=None) -> dict:
        raise self.error

    def health(self) -> HealthResult:
        return HealthResult(False, 0.0, str(self.error))

    def list_models(self) -> list[str]:
        raise self.error


def build_provider(config, allowed_private: Iterable[str] | None = None) -> Provider:
    """The provider for ``config.kind`` ("openai", "ollama" or "anthropic").

    Raises ``ProviderError("bad_request")`` for an unknown kind, a missing model, a setting
    the client library refuses, or a dashboard-configured base URL that ``guard_base_url``
    refuses (checked against ``allowed_private``, by default the built-in allowlist). Nothing
    is sent over the network here.
    """
    kind = (getattr(config, "kind", "") or "").strip().lower()
    model = (getattr(config, "model", "") or "").strip()
    base_url = (getattr(config, "base_url", "") or "").strip()
    api_key = getattr(config, "api_key", None) or None
    if kind not in KINDS:
        raise ProviderError("bad_request", f"unknown provider kind {kind!r}")
    if not model:
        raise ProviderError("bad_request", f"{kind}: no model is configured")
    guard_base_url(config, allowed_private)
    defaults = options_from_config(config)
    # A dashboard-typed base URL is checked again on every connection, which goes to the
    # checked address; the operator's .ini providers connect wherever their names resolve.
    allowlist = None
    if getattr(config, "source", None) == "dashboard":
        allowlist = DEFAULT_ALLOWLIST if allowed_private is None else allowed_private
    # Each provider module loads its SDK (tens of MiB) lazily: only the one configured.
    if kind == "openai":
        from asthron.assistant.providers.openai_compat import OpenAICompatProvider

        return OpenAICompatProvider(
            model, base_url, api_key, defaults=defaults, ssrf_allowlist=allowlist
        )
    if kind == "ollama":
        from asthron.assistant.providers.ollama_provider import OllamaProvider

        keep_alive = getattr(config, "keep_alive", None)
        return OllamaProvider(
            model,
            base_url,
            api_key,
            keep_alive=keep_alive,
            defaults=defaults,
            ssrf_allowlist=allowlist,
        )
    from asthron.assistant.providers.anthropic_provider import AnthropicProvider

    return AnthropicProvider(model, base_url, api_key, defaults=defaults, ssrf_allowlist=allowlist)


def _number(config, name: str, default: float) -> float:
    value = getattr(config, name, None)
    return default if value is None else float(value)

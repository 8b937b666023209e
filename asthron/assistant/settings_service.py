"""Validating and saving the assistant's dashboard settings, and checking providers.

The profile, the provider slots, the monthly budget and the price table are parsed here from
plain form text into typed values (``SettingsInputError`` carries a message safe to show), and
saved with one audit entry each. ``check_provider`` runs a provider's health check and model
list with a hard time limit, for the dashboard's "Test connection" button and ``asthron ai test``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import re
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit
from asthron.assistant.config import EffectiveProvider, _from_ini, _from_row
from asthron.assistant.models import (
    PROVIDER_KINDS,
    PROVIDER_SLOTS,
    AssistantProfile,
    ModelPrice,
    ProviderConfig,
)
from asthron.assistant.providers.factory import DEFAULT_BASE_URLS as CONNECT_URLS
from asthron.assistant.providers.factory import build_provider
from asthron.audit.service import Actor
from asthron.security.crypto import SecretBox
from asthron.security.ssrf import SSRFError, UnresolvableHost, check_url


class SettingsInputError(ValueError):
    """A setting is invalid; the message is safe to show."""


# -- small parsers --------------------------------------------------------------------------


def _text(data: dict, name: str, label: str, max_length: int, required: bool = False) -> str:
    value = data.get(name) or ""
    if not isinstance(value, str):
        raise SettingsInputError(f"{label} must be text.")
    value = value.replace("\r\n", "\n").strip()
    if required and not value:
        raise SettingsInputError(f"{label} is required.")
    if len(value) > max_length:
        raise SettingsInputError(f"{label} must be at most {max_length:,} characters.")
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise SettingsInputError(f"{label} contains control characters.")
    return value


def _line(data: dict, name: str, label: str, max_length: int, required: bool = False) -> str:
    value = _text(data, name, label, max_length, required)
    if "\n" in value or "\t" in value:
        raise SettingsInputError(f"{label} must be one line.")
    return value


def _int(data: dict, name: str, label: str, low: int, high: int) -> int:
    raw = (data.get(name) or "").strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise SettingsInputError(f"{label} must be a whole number between {low} and {high}.")
    value = int(raw)
    if not low <= value <= high:
        raise SettingsInputError(f"{label} must be a whole number between {low} and {high}.")
    return value


_NUMBER_RE = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,6})?$")


def _float(data: dict, name: str, label: str, low: float, high: float) -> float:
    raw = (data.get(name) or "").strip()
    message = f"{label} must be a number between {low:g} and {high:g}."
    if not _NUMBER_RE.match(raw):
        raise SettingsInputError(message)
    value = float(raw)
    if not math.isfinite(value) or not low <= value <= high:
        raise SettingsInputError(message)
    return value


def _decimal(raw: str, label: str, high: Decimal, places: int) -> Decimal:
    raw = (raw or "").strip()
    message = f"{label} must be a number from 0 to {high:,} with at most {places} decimals."
    if not re.fullmatch(rf"[0-9]{{1,12}}(\.[0-9]{{1,{places}}})?", raw):
        raise SettingsInputError(message)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise SettingsInputError(message) from None
    if value < 0 or value > high:
        raise SettingsInputError(message)
    return value


def _checked(data: dict, name: str) -> bool:
    return (data.get(name) or "") in ("1", "on", "true", "yes")


# -- the business profile -------------------------------------------------------------------

PROFILE_TEXT = {
    # name: (label, max length, one line)
    "business_name": ("Business name", 120, True),
    "description": ("Description", 5000, False),
    "services": ("Services", 10000, False),
    "contact": ("Contact details", 2000, False),
    "policies": ("Policies", 10000, False),
    "tone": ("Tone", 300, True),
    "do_rules": ("Always do", 5000, False),
    "dont_rules": ("Never do", 5000, False),
}
PROFILE_FIELDS = (*PROFILE_TEXT, "reply_max_chars", "turn_cap")
REPLY_MAX_CHARS = (100, 10000)
TURN_CAP = (1, 500)


@dataclass(frozen=True)
class ProfileInput:
    values: dict

    @classmethod
    def parse(cls, data: dict) -> ProfileInput:
        values = {}
        for name, (label, limit, one_line) in PROFILE_TEXT.items():
            values[name] = (_line if one_line else _text)(data, name, label, limit)
        values["reply_max_chars"] = _int(
            data, "reply_max_chars", "The reply length limit", *REPLY_MAX_CHARS
        )
        values["turn_cap"] = _int(data, "turn_cap", "The turn limit", *TURN_CAP)
        return cls(values)


def profile_values(profile: AssistantProfile | None) -> dict:
    """The form's values: the stored profile, or the defaults of a fresh install."""
    if profile is None:
        defaults = {c.name: c.default.arg for c in AssistantProfile.__table__.columns if c.default}
        return {name: defaults.get(name, "") for name in PROFILE_FIELDS}
    return {name: getattr(profile, name) for name in PROFILE_FIELDS}


def get_profile_for_update(db: Session) -> AssistantProfile:
    profile = db.get(AssistantProfile, 1)
    if profile is None:
        profile = AssistantProfile(id=1)
        db.add(profile)
    return profile


def save_profile(db: Session, actor: Actor, new: ProfileInput) -> AssistantProfile:
    profile = get_profile_for_update(db)
    before = {name: getattr(profile, name) for name in PROFILE_FIELDS}
    for name, value in new.values.items():
        setattr(profile, name, value)
    db.flush()
    changed = sorted(name for name, value in new.values.items() if before.get(name) != value)
    audit.record(
        db, actor, "assistant.profile_update", "assistant_profile", 1, {"changed": changed}
    )
    return profile


# -- provider slots -------------------------------------------------------------------------

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
)
KEEP_ALIVE_RE = re.compile(r"^-?[0-9]{1,6}(\.[0-9]{1,3})?(ms|s|m|h)?$")
DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "ollama": "http://localhost:11434",
    "anthropic": "https://api.anthropic.com",
}


def validate_base_url(value: str) -> str:
    """An http(s) address without credentials; empty means the provider's default."""
    value = (value or "").strip()
    if not value:
        return ""
    if len(value) > 500:
        raise SettingsInputError("The base URL must be at most 500 characters.")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value) or "\\" in value:
        raise SettingsInputError("The base URL must not contain spaces or control characters.")
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError for a bad port
        host = parts.hostname
    except ValueError:
        raise SettingsInputError("The base URL is not a valid http(s) address.") from None
    if parts.scheme not in ("http", "https"):
        raise SettingsInputError("The base URL must start with http:// or https://.")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise SettingsInputError(
            "The base URL must not contain a user name or password; use the API key field."
        )
    if not host:
        raise SettingsInputError("The base URL needs a host name.")
    if port == 0:
        raise SettingsInputError("The base URL's port must be between 1 and 65535.")
    if parts.query or parts.fragment:
        raise SettingsInputError("The base URL must not have a query string or fragment.")
    return value.rstrip("/")


def refuse_private_base_url(kind: str, base_url: str, allowed_private) -> None:
    """SettingsInputError when a base URL typed in the dashboard reaches a non-public address
    (loopback, private, link-local, the metadata service…) outside the operator's allowlist.

    A name that does not resolve now is accepted: there is nothing to reach, and the check
    runs again before every call (``providers.factory.guard_base_url``).
    """

    try:
        check_url(base_url or CONNECT_URLS.get(kind, ""), allowed_private)
    except UnresolvableHost:
        return
    except SSRFError as exc:
        raise SettingsInputError(f"The base URL is refused: {exc}") from None


@dataclass(frozen=True)
class ProviderInput:
    slot: str
    kind: str
    base_url: str
    model: str
    api_key: str | None  # None keeps the stored key, "" clears it
    temperature: float
    max_tokens: int
    connect_timeout: float
    first_token_timeout: float
    total_timeout: float
    keep_alive: str | None
    enabled: bool

    @classmethod
    def parse(cls, slot: str, data: dict) -> ProviderInput:
        if slot not in PROVIDER_SLOTS:
            raise SettingsInputError("The slot must be primary or secondary.")
        kind = (data.get("kind") or "").strip()
        if kind not in PROVIDER_KINDS:
            raise SettingsInputError(f"The kind must be one of {', '.join(PROVIDER_KINDS)}.")
        base_url = validate_base_url(data.get("base_url") or "")
        picked = _line(data, "model_pick", "The model", 200)
        model = picked or _line(data, "model", "The model", 200)
        api_key = data.get("api_key") or ""
        if not isinstance(api_key, str) or len(api_key) > 4096:
            raise SettingsInputError("The API key must be at most 4,096 characters.")
        api_key = api_key.strip()
        if any(c.isspace() or ord(c) < 32 for c in api_key):
            raise SettingsInputError("The API key must not contain spaces or control characters.")
        if _checked(data, "clear_api_key"):
            api_key_value: str | None = ""
        else:
            api_key_value = api_key or None
        temperature = _float(data, "temperature", "The temperature", 0, 2)
        max_tokens = _int(data, "max_tokens", "Max tokens", 1, 200000)
        connect = _float(data, "connect_timeout", "The connect timeout", 0.1, 120)
        first = _float(data, "first_token_timeout", "The first-token timeout", 0.1, 600)
        total = _float(data, "total_timeout", "The total timeout", 1, 3600)
        if total < first or total < connect:
            raise SettingsInputError(
                "The total timeout must be at least the connect and first-token timeouts."
            )
        keep_alive = _line(data, "keep_alive", "Keep-alive", 20) or None
        if keep_alive and not KEEP_ALIVE_RE.match(keep_alive):
            raise SettingsInputError(
                "Keep-alive must be a duration like 5m, 30s, 1h, 0 or -1 (Ollama's format)."
            )
        return cls(
            slot=slot,
            kind=kind,
            base_url=base_url,
            model=model,
            api_key=api_key_value,
            temperature=temperature,
            max_tokens=max_tokens,
            connect_timeout=connect,
            first_token_timeout=first,
            total_timeout=total,
            keep_alive=keep_alive,
            enabled=_checked(data, "enabled"),
        )


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
            "enabled": True,
        }
    return {
        **{name: getattr(row, name) for name in PROVIDER_FIELDS},
        "keep_alive": row.keep_alive or "",
        "enabled": row.enabled,
    }


def save_provider(db: Session, box: SecretBox, actor: Actor, new: ProviderInput) -> ProviderConfig:
    row = db.scalar(sa.select(ProviderConfig).where(ProviderConfig.slot == new.slot))
    created = row is None
    if row is None:
        row = ProviderConfig(slot=new.slot)
        db.add(row)
    for name in PROVIDER_FIELDS:
        setattr(row, name, getattr(new, name))
    row.enabled = new.enabled
    api_key_changed = new.api_key is not None
    if api_key_changed:
        row.api_key_encrypted = box.encrypt(new.api_key) if new.api_key else None
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
            "enabled": new.enabled,
            "api_key_changed": api_key_changed,
            "api_key_cleared": new.api_key == "",
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


# -- the budget and the price table ---------------------------------------------------------

MAX_BUDGET = Decimal("1000000000")
MAX_PRICE = Decimal("1000000")
MAX_PRICE_ROWS = 200


def parse_budget(raw: str) -> Decimal | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    return _decimal(raw, "The monthly budget", MAX_BUDGET, 2)


def save_budget(db: Session, actor: Actor, budget: Decimal | None) -> None:
    profile = get_profile_for_update(db)
    old = profile.monthly_budget
    profile.monthly_budget = budget
    db.flush()
    audit.record(
        db,
        actor,
        "ai.budget_update",
        "assistant_profile",
        1,
        {
            "old": None if old is None else str(old),
            "new": None if budget is None else str(budget),
        },
    )


@dataclass(frozen=True)
class PriceRow:
    provider: str
    model: str
    input_per_million: Decimal
    output_per_million: Decimal


@dataclass
class PriceTableInput:
    rows: list[PriceRow] = field(default_factory=list)

    @classmethod
    def parse(cls, columns: dict[str, list[str]], removed: set[int]) -> PriceTableInput:
        """Rows from parallel lists of form fields; blank rows and removed ones are skipped."""
        lengths = {len(values) for values in columns.values()}
        if len(lengths) > 1:
            raise SettingsInputError("The price table was sent incomplete; reload the page.")
        count = lengths.pop() if lengths else 0
        if count > MAX_PRICE_ROWS + 1:
            raise SettingsInputError(f"At most {MAX_PRICE_ROWS} prices.")
        rows: list[PriceRow] = []
        seen: set[tuple[str, str]] = set()
        for i in range(count):
            values = {name: (column[i] or "").strip() for name, column in columns.items()}
            if i in removed or not any(values.values()):
                continue
            number = i + 1
            provider = values["provider"]
            if provider not in PROVIDER_KINDS:
                raise SettingsInputError(
                    f"Price row {number}: the provider must be one of {', '.join(PROVIDER_KINDS)}."
                )
            model = values["model"]
            if not model or len(model) > 200 or any(c.isspace() for c in model):
                raise SettingsInputError(
                    f"Price row {number}: give a model name (or * for every model of the "
                    "provider), without spaces, 200 characters at most."
                )
            if (provider, model) in seen:
                raise SettingsInputError(f"Price row {number}: {provider} {model} is listed twice.")
            seen.add((provider, model))
            rows.append(
                PriceRow(
                    provider,
                    model,
                    _decimal(
                        values["input_per_million"] or "0",
                        f"Price row {number}: the input price",
                        MAX_PRICE,
                        4,
                    ),
                    _decimal(
                        values["output_per_million"] or "0",
                        f"Price row {number}: the output price",
                        MAX_PRICE,
                        4,
                    ),
                )
            )
        if len(rows) > MAX_PRICE_ROWS:
            raise SettingsInputError(f"At most {MAX_PRICE_ROWS} prices.")
        return cls(rows)


def list_prices(db: Session) -> list[ModelPrice]:
    return list(db.scalars(sa.select(ModelPrice).order_by(ModelPrice.provider, ModelPrice.model)))


def save_prices(db: Session, actor: Actor, table: PriceTableInput) -> None:
    """Make the price table exactly the submitted rows."""
    existing = {(p.provider, p.model): p for p in list_prices(db)}
    wanted = {(r.provider, r.model): r for r in table.rows}
    for key, price in existing.items():
        if key not in wanted:
            db.delete(price)
    db.flush()
    for key, row in wanted.items():
        price = existing.get(key)
        if price is None:
            price = ModelPrice(provider=row.provider, model=row.model)
            db.add(price)
        price.input_per_million = row.input_per_million
        price.output_per_million = row.output_per_million
    db.flush()
    audit.record(
        db,
        actor,
        "ai.prices_update",
        "model_prices",
        None,
        {
            "prices": [
                f"{r.provider} {r.model}: {r.input_per_million}/{r.output_per_million}"
                for r in table.rows
            ],
            "removed": sorted(f"{p} {m}" for p, m in set(existing) - set(wanted)),
        },
    )


# -- checking a provider --------------------------------------------------------------------


@dataclass
class CheckResult:
    ok: bool
    latency_ms: float
    detail: str
    models: list[str] = field(default_factory=list)


def _bounded(func, timeout: float):
    """Run ``func`` in a helper thread; raise TimeoutError if it takes longer than ``timeout``."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = func()
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True, name="provider-check")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout:g} seconds")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


UNSET_MODEL = "(no model chosen)"


def check_provider(
    effective: EffectiveProvider,
    build=None,
    list_models: bool = True,
    discover: bool = False,
    limit: float | None = None,
    allowed_private=None,
) -> CheckResult:
    """Build the provider, check its health and (when healthy) list its models, never for
    longer than its timeouts allow and never raising.

    With ``discover``, a slot without a model is still checked (with a placeholder model), so
    the dashboard can offer the server's models to pick from. ``allowed_private`` is the
    operator's SSRF allowlist for a dashboard-configured base URL (the built-in one if None).
    """
    limit = limit or min(effective.connect_timeout + effective.first_token_timeout, 30.0)
    unset = discover and not effective.model
    if unset:
        effective = dataclasses.replace(effective, model=UNSET_MODEL)
    started = time.perf_counter()
    try:
        if build is None:
            build = functools.partial(build_provider, allowed_private=allowed_private)
        provider = build(effective)
    except Exception as exc:
        elapsed = (time.perf_counter() - started) * 1000
        return CheckResult(False, elapsed, f"cannot set up the provider: {_describe(exc)}")
    try:
        try:
            health = _bounded(provider.health, limit)
        except Exception as exc:
            elapsed = (time.perf_counter() - started) * 1000
            return CheckResult(False, elapsed, _describe(exc))
        detail = health.detail or ""
        if unset and health.ok:
            detail = "reachable; no model is chosen yet"
        result = CheckResult(bool(health.ok), float(health.latency_ms), detail)
        if result.ok and list_models:
            try:
                models = _bounded(provider.list_models, limit) or []
                result.models = sorted({str(m)[:200] for m in models})[:500]
            except Exception as exc:
                result.detail = f"{result.detail}; the model list is unavailable: {_describe(exc)}"
        return result
    finally:
        close = getattr(provider, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()

"""Checking a provider: its health and model list within a hard time limit, for the
dashboard's "Test connection" button and ``asthron ai test``."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
import time
from dataclasses import dataclass, field

from asthron.assistant.config import EffectiveProvider
from asthron.assistant.providers.factory import build_provider


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

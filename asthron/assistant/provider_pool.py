"""The configured model providers of one process: built once per configuration and reused,
each behind its own circuit breaker, shared by replies and model tasks."""

from __future__ import annotations

import logging
import threading
from functools import partial

from asthron.assistant import config as ai_config
from asthron.assistant.chain import ChainLink, CircuitBreaker
from asthron.assistant.providers.base import GenerationOptions, ProviderError, Timeouts
from asthron.assistant.providers.builtin import BuiltinProvider
from asthron.assistant.providers.factory import RefusedProvider, build_provider, guard_base_url

log = logging.getLogger(__name__)
MAX_CACHED_CLIENTS = 8


class ProviderPool:
    def __init__(self, registry, factory=None):
        self.registry = registry
        self.builtin = BuiltinProvider()
        self._breakers: dict[tuple, CircuitBreaker] = {}
        self._clients: dict = {}
        self._lock = threading.Lock()
        # Tests swap this for a fake; the real one builds the provider's SDK client.
        self.factory = factory or partial(build_provider, allowed_private=self._allowed_private())

    def _allowed_private(self):
        return self.registry["app_settings"].outbound_allowed_private_hosts

    def provider(self, effective):
        """One client per configuration, reused: building an SDK client (and its connection
        pool) per reply would add tens of milliseconds to every first token.

        A dashboard-configured base URL is checked for SSRF before every use, cached client or
        not (``guard_base_url`` raises ProviderError), since its name may resolve elsewhere now.
        """
        guard_base_url(effective, self._allowed_private())
        with self._lock:
            provider = self._clients.get(effective)
        if provider is None:
            provider = self.factory(effective)
            with self._lock:
                if len(self._clients) >= MAX_CACHED_CLIENTS:
                    self._clients.clear()
                self._clients[effective] = provider
        return provider

    def breaker(self, key: tuple) -> CircuitBreaker:
        with self._lock:
            return self._breakers.setdefault(key, CircuitBreaker())

    def links(self, providers) -> list[ChainLink]:
        """The failover chain's links for these providers, ending with the built-in one."""
        links = []
        for effective in providers:
            try:
                provider = self.provider(effective)
            except ProviderError as exc:
                # Refused (a base URL that reaches a private address): the attempt fails and
                # is recorded like any other failure, and the chain moves on.
                log.warning("provider %s refused: %s", effective.slot, exc)
                provider = RefusedProvider(effective.kind, effective.model, exc)
            except Exception:
                log.exception("cannot build provider %s", effective.kind)
                continue
            links.append(
                ChainLink(provider, _options(effective), self.breaker(effective.breaker_key))
            )
        # The built-in provider never fails and never trips.
        links.append(
            ChainLink(
                self.builtin,
                GenerationOptions(timeouts=Timeouts(1, 5, 10)),
                CircuitBreaker(threshold=10**9),
            )
        )
        return links

    def first_model(self, db, max_tokens: int = 300):
        """The first configured model provider whose breaker allows a call, with options for
        a short deterministic task; (None, None) when there is none."""
        providers = ai_config.effective_providers(
            db, self.registry["app_settings"], self.registry["secret_box"]
        )
        for effective in providers:
            if not self.breaker(effective.breaker_key).allow():
                continue
            try:
                provider = self.provider(effective)
            except ProviderError as exc:
                log.warning("provider %s refused: %s", effective.slot, exc)
                continue
            options = GenerationOptions(
                temperature=0.0, max_tokens=max_tokens, timeouts=_options(effective).timeouts
            )
            return provider, options
        return None, None


def _options(effective) -> GenerationOptions:
    return GenerationOptions(
        temperature=effective.temperature,
        max_tokens=effective.max_tokens,
        timeouts=Timeouts(
            effective.connect_timeout, effective.first_token_timeout, effective.total_timeout
        ),
    )

"""SSRF, DNS rebinding: a provider whose base URL was typed in the dashboard connects only to
the address it checked, on every request. The request's host is resolved and checked just
before the connection, and the connection goes to that address with the Host header (and, for
https, the TLS server name) unchanged; a second lookup that could answer differently is never
made. The operator's .ini providers are not pinned.

The real SDK clients (openai, ollama, anthropic) talk to the fake model server on 127.0.0.1,
reached through a made-up host name whose lookups these tests script.
"""

from __future__ import annotations

import socket

import pytest

from asthron.assistant.providers.factory import ProviderSettings, build_provider
from tests.assistant.test_providers import CHAT_PATHS, MODELS, drain, options
from tests.fakes.llm_server import FakeLLMServer

NAME = "models.example.test"
KINDS = ("openai", "ollama", "anthropic")


@pytest.fixture
def fake():
    server = FakeLLMServer(reply="Pinned and answered.", chunks=2).start()
    yield server
    server.stop()


@pytest.fixture
def lookups(monkeypatch):
    """Scripted answers for NAME, one per lookup (an IndexError past the end fails loudly as a
    lookup that should not have happened); every other name resolves normally."""
    answers: list[str] = []
    seen: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host != NAME:
            return real(host, port, *args, **kwargs)
        if not answers:
            seen.append("unexpected")
            raise socket.gaierror(socket.EAI_NONAME, "no further lookups of this name")
        ip = answers.pop(0)
        seen.append(ip)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, int(port or 0)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, seen


class Dashboard(ProviderSettings):
    """A ProviderSettings that says it was typed in the dashboard."""

    source = "dashboard"


def settings_for(kind, fake, settings_class=ProviderSettings):
    """Settings for the fake server, reached through NAME."""
    path = "/v1" if kind == "openai" else ""
    return settings_class(
        kind=kind,
        model=MODELS[kind],
        base_url=f"http://{NAME}:{fake.port}{path}",
        api_key="sk-test-123",
        connect_timeout=2.0,
        first_token_timeout=5.0,
        total_timeout=10.0,
    )


def dashboard_provider(kind, fake, allowed=("127.0.0.1",)):
    return build_provider(
        settings_for(kind, fake, Dashboard),
        allowed_private=[f"{a}:{fake.port}" for a in allowed],
    )


@pytest.mark.parametrize("kind", KINDS)
def test_the_connection_goes_to_the_checked_address_with_the_host_unchanged(kind, fake, lookups):
    answers, seen = lookups
    # One answer for the check when the provider is built, one for the check at connection
    # time; a third lookup (the HTTP client resolving the name itself) would find nothing.
    answers += ["127.0.0.1", "127.0.0.1"]
    provider = dashboard_provider(kind, fake)
    deltas, completion, error = drain(provider, options())
    assert error is None, error
    assert "".join(deltas) == "Pinned and answered."
    assert seen == ["127.0.0.1", "127.0.0.1"]
    request = fake.last(CHAT_PATHS[kind])
    assert request.headers["host"] == f"{NAME}:{fake.port}"


@pytest.mark.parametrize("kind", KINDS)
def test_a_name_that_rebinds_to_a_private_address_is_refused_before_connecting(kind, fake, lookups):
    answers, seen = lookups
    # Public when the provider is built; the cloud metadata address when it connects.
    answers += ["93.184.216.34", "169.254.169.254"]
    provider = dashboard_provider(kind, fake, allowed=())
    deltas, completion, error = drain(provider, options())
    assert deltas == [] and completion is None
    assert error is not None
    assert "169.254.169.254" in str(error) or "not a public address" in str(error)
    assert seen == ["93.184.216.34", "169.254.169.254"]
    assert fake.requests == []


@pytest.mark.parametrize("kind", KINDS)
def test_ini_providers_resolve_as_usual_and_are_not_pinned(kind, fake, lookups):
    answers, seen = lookups
    answers += ["127.0.0.1"]  # the HTTP client's own lookup, the only one
    deltas, _completion, error = drain(build_provider(settings_for(kind, fake)), options())
    assert error is None, error
    assert "".join(deltas) == "Pinned and answered."
    assert seen == ["127.0.0.1"]


def test_the_request_hook_rewrites_the_destination_and_keeps_host_and_tls_name(lookups):
    import httpx2

    from asthron.assistant.providers.base import request_hooks

    answers, _seen = lookups
    answers += ["127.0.0.1"]
    pin, *_rest = request_hooks(["127.0.0.1"])
    request = httpx2.Request("POST", f"https://{NAME}/v1/chat/completions", json={"a": 1})
    pin(request)
    assert request.url.host == "127.0.0.1"
    assert request.url.path == "/v1/chat/completions"
    assert request.headers["host"] == NAME
    assert request.extensions["sni_hostname"] == NAME


def test_ini_clients_get_no_pinning_hook():
    from asthron.assistant.providers.base import report_request_sent, request_hooks

    assert request_hooks(None) == [report_request_sent]

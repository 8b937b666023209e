"""SSRF: a provider base URL typed in the dashboard never reaches a private address, neither when
it is saved nor when it is used; .ini providers are the operator's own and are not checked."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa
import webtest

from asthron.assistant.models import ProviderConfig, UsageRecord
from asthron.audit.models import AuditEntry
from tests.assistant.test_assistant_replies import RecordingProvider, chat
from tests.conftest import csrf_from

PROVIDERS = "/integrations/ai"
FORM = {
    "slot": "primary",
    "kind": "openai",
    "model": "gpt-test",
    "api_key": "sk-Secret-ssrf-1234",
    "temperature": "0.3",
    "max_tokens": "500",
    "connect_timeout": "2",
    "first_token_timeout": "5",
    "total_timeout": "10",
    "enabled": "1",
}


@pytest.fixture
def dns(monkeypatch):
    """Names in the table resolve to their addresses (as DNS would, or a rebinding attacker)."""
    table: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in table:
            ip = table[host]
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            address = (ip, port, 0, 0) if ":" in ip else (ip, port)
            return [(family, socket.SOCK_STREAM, 6, "", address)]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@pytest.fixture
def owner(app, make_user, login):
    client = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.31"})
    login(make_user("owner"), app=client)
    return client


def post(client, url, data, status):
    token = csrf_from(client.get(PROVIDERS))
    return client.post(url, dict(data, csrf_token=token), status=status)


def stored(run_in_tm):
    def read(db):
        rows = [(r.slot, r.base_url) for r in db.scalars(sa.select(ProviderConfig))]
        audits = db.scalar(sa.select(sa.func.count()).where(AuditEntry.action.like("ai.provider%")))
        return rows, audits

    return run_in_tm(read)


@pytest.mark.parametrize(
    "base_url",
    [
        "http://169.254.169.254/",
        "http://[::ffff:127.0.0.1]:8080/",
        "http://[::1]:8080/v1",
        "http://10.0.0.7:8000/v1",
        "http://[fd00::1]/v1",
        "http://0.0.0.0:8080",
        "http://167772161/",  # 10.0.0.1 written as one number
        "http://models.internal.test/v1",  # a name that resolves to the metadata service
        "http://rebind.internal.test/v1",  # to an IPv4-mapped loopback
    ],
)
def test_the_dashboard_refuses_private_base_urls_and_stores_nothing(
    owner, run_in_tm, dns, base_url
):
    dns["models.internal.test"] = "169.254.169.254"
    dns["rebind.internal.test"] = "::ffff:127.0.0.1"
    before = stored(run_in_tm)
    page = post(owner, PROVIDERS, dict(FORM, base_url=base_url), status=400)
    assert "The base URL is refused" in page.text
    assert 'role="alert"' in page.text
    assert "sk-Secret-ssrf-1234" not in page.text
    assert stored(run_in_tm) == before == ([], 0)


def test_public_and_allowlisted_base_urls_are_saved(owner, run_in_tm, dns):
    dns["models.example.test"] = "93.184.216.34"
    post(owner, PROVIDERS, dict(FORM, base_url="https://models.example.test/v1"), status=303)
    # 127.0.0.1 is in the test .ini's asthron.outbound.allowed_private_hosts.
    post(owner, PROVIDERS, dict(FORM, slot="secondary", base_url="http://127.0.0.1:9/v1"), 303)
    assert sorted(stored(run_in_tm)[0]) == [
        ("primary", "https://models.example.test/v1"),
        ("secondary", "http://127.0.0.1:9/v1"),
    ]


@pytest.fixture
def provider(registry):
    fake = RecordingProvider()
    registry["ai_providers"].factory = lambda effective: fake
    return fake


def usage_rows(run_in_tm):
    return run_in_tm(
        lambda db: [
            (u.provider, u.success, u.error_kind)
            for u in db.scalars(sa.select(UsageRecord).order_by(UsageRecord.id))
        ]
    )


def test_a_dashboard_provider_that_now_resolves_privately_is_refused_and_fails_over(
    testapp, make_site, provider, run_in_tm, dns
):
    """DNS changed after the URL was saved (or it was written straight to the database): the
    check before each use refuses it, the chain records the failure and the built-in answers."""
    dns["models.example.test"] = "169.254.169.254"
    run_in_tm(
        lambda db: db.add(
            ProviderConfig(
                slot="primary",
                kind="openai",
                base_url="http://models.example.test/v1",
                model="gpt-test",
            )
        )
    )
    _visitor, _conversation_id, reply = chat(testapp, make_site(), "When are you open?")
    assert provider.requests == []  # the client was never even built
    assert reply["body"] != provider.reply
    assert usage_rows(run_in_tm)[:2] == [("openai", False, "bad_request"), ("builtin", True, None)]


def test_the_connection_test_refuses_it_too(owner, run_in_tm, dns):
    dns["models.example.test"] = "10.0.0.8"
    run_in_tm(
        lambda db: db.add(
            ProviderConfig(
                slot="primary", kind="ollama", base_url="http://models.example.test", model="x"
            )
        )
    )
    page = post(owner, f"{PROVIDERS}/primary/test", {}, status=200)
    assert "cannot set up the provider" in page.text
    assert "a private address" in page.text


@pytest.fixture
def lan_ini_provider(ini_settings):
    # The operator's own .ini may point anywhere: here a LAN model server, not allowlisted.
    ini_settings.update(
        {
            "asthron.ai.primary.kind": "openai",
            "asthron.ai.primary.base_url": "http://10.0.0.9:8000/v1",
            "asthron.ai.primary.model": "fake-model",
        }
    )
    return ini_settings


def test_ini_providers_are_not_checked(lan_ini_provider, testapp, make_site, provider):
    _visitor, _conversation_id, reply = chat(testapp, make_site(), "hello")
    assert reply["body"] == provider.reply
    assert provider.requests

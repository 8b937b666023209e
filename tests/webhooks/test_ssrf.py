"""The SSRF guard on webhook URLs: refused when typed, checked again on every attempt, and
the connection pinned to the checked address (no DNS rebinding)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from asthron.audit.service import Actor
from asthron.webhooks import service
from asthron.webhooks.models import WebhookEndpoint

REFUSED = [
    "http://127.0.0.2/hooks",  # loopback, not the allowlisted 127.0.0.1
    "http://[::1]/x",  # IPv6 loopback
    "http://10.0.0.1/x",
    "http://192.168.1.10/x",
    "http://169.254.169.254/latest/meta-data/",  # the metadata address
    "http://[fe80::1]/x",
    "http://224.0.0.1/x",
    "http://240.0.0.1/x",
    "http://0.0.0.0/x",
    "http://[::ffff:10.0.0.1]/x",  # IPv4-mapped IPv6
    "http://[::ffff:169.254.169.254]/x",
    "http://2130706434/x",  # 127.0.0.2 in decimal
    "http://0177.0.0.2/x",  # 127.0.0.2 in octal
    "http://0x7f000002/x",  # and in hex
    "ftp://example.com/x",
    "file:///etc/passwd",
    "http://user:pass@example.com/x",
]


@pytest.mark.parametrize("url", REFUSED)
def test_private_and_odd_urls_are_refused(url, run_in_tm, registry):
    def create(db):
        return service.create_endpoint(
            db,
            registry["secret_box"],
            Actor.cli(),
            url,
            ["conversation.created"],
            None,
            registry["app_settings"].outbound_allowed_private_hosts,
        )

    with pytest.raises(service.WebhookError):
        run_in_tm(create)
    assert run_in_tm(lambda db: db.scalar(sa.select(sa.func.count(WebhookEndpoint.id)))) == 0


def test_loopback_is_allowed_only_when_allowlisted(receiver, registry):
    allowlist = registry["app_settings"].outbound_allowed_private_hosts
    assert "127.0.0.1" in allowlist
    assert service.check_endpoint_url(receiver.url, allowlist) == receiver.url
    with pytest.raises(service.WebhookError, match="loopback"):
        service.check_endpoint_url(receiver.url, frozenset())


def test_every_attempt_checks_the_address_again(
    receiver, make_endpoint, fire, deliveries, stub_dns, run_in_tm
):
    answers, _calls = stub_dns
    answers["hooks.test"] = [["127.0.0.1"]]
    make_endpoint(f"http://hooks.test:{receiver.port}/hooks")
    answers["hooks.test"] = [["10.1.2.3"]]  # the name now points inside
    fire()
    [row] = deliveries()
    assert row["state"] == "pending"
    assert row["last_error"].startswith("refused:") and "private" in row["last_error"]
    assert receiver.requests == []


def test_dns_rebinding_cannot_reach_the_second_address(
    make_receiver, make_endpoint, fire, deliveries, stub_dns
):
    checked = make_receiver("127.0.0.1")
    # Same port on another loopback address: where a second lookup would lead.
    other = make_receiver("127.0.0.2", checked.port)
    answers, calls = stub_dns
    answers["hooks.test"] = [["127.0.0.1"]]
    make_endpoint(f"http://hooks.test:{checked.port}/hooks")
    before = calls["hooks.test"]
    # The delivery's check gets 127.0.0.1; any later lookup would get 127.0.0.2.
    answers["hooks.test"] = [["127.0.0.1"], ["127.0.0.2"]]
    fire()
    [row] = deliveries()
    assert row["state"] == "delivered"
    assert calls["hooks.test"] == before + 1  # resolved once, for the check
    assert len(checked.requests) == 1 and other.requests == []
    assert checked.requests[0]["headers"]["host"] == f"hooks.test:{checked.port}"

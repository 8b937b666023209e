"""SSRF: the SMTP host typed in the dashboard, checked when saved and pinned when connecting."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa

from asthron.audit.models import AuditEntry
from asthron.notify.models import SmtpSettings
from tests.conftest import csrf_from

URL = "/integrations/email"
FORM = {
    "host": "smtp.example.com",
    "port": "587",
    "security": "none",
    "from_address": "assistant@example.com",
    "timeout_seconds": "5",
}


@pytest.fixture
def dns(monkeypatch):
    """``table[name]`` is a list of answers, handed out in turn (the last one repeats)."""
    table: dict[str, list[str]] = {}
    lookups: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in table:
            lookups.append(host)
            answers = table[host]
            ip = answers.pop(0) if len(answers) > 1 else answers[0]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    table["_lookups"] = lookups  # type: ignore[assignment]
    return table


@pytest.fixture
def owner(testapp, make_user, login):
    login(make_user("owner"))
    return testapp


def save(testapp, status, **changes):
    page = testapp.get(URL)
    return testapp.post(URL, dict(FORM, csrf_token=csrf_from(page), **changes), status=status)


def stored(run_in_tm):
    def read(db):
        row = db.get(SmtpSettings, 1)
        audits = db.scalar(sa.select(sa.func.count()).where(AuditEntry.action.like("email.%")))
        return (row and (row.host, row.port)), audits

    return run_in_tm(read)


@pytest.mark.parametrize(
    ("host", "port"),
    [
        ("169.254.169.254", "80"),
        ("10.0.0.25", "25"),
        ("192.168.1.10", "587"),
        ("[::1]", "25"),
        ("[fd00::25]", "25"),
        ("[::ffff:127.0.0.1]", "25"),
        ("0.0.0.0", "25"),  # noqa: S104 (a destination, not a bind address)
        ("mail.internal.test", "25"),  # a name that resolves to a private address
    ],
)
def test_private_smtp_hosts_are_refused_and_nothing_is_saved(owner, run_in_tm, dns, host, port):
    dns["mail.internal.test"] = ["10.1.1.1"]
    page = save(owner, 400, host=host, port=port)
    assert "The SMTP host is refused" in page.text
    assert stored(run_in_tm) == (None, 0)


@pytest.fixture
def narrow_allowlist(ini_settings):
    ini_settings["asthron.outbound.allowed_private_hosts"] = "127.0.0.1:2525 relay.lan.test"
    return ini_settings


def test_the_allowlist_applies_to_host_and_port(narrow_allowlist, owner, run_in_tm, dns):
    dns["relay.lan.test"] = ["10.2.2.2"]
    save(owner, 400, host="127.0.0.1", port="25")
    save(owner, 303, host="127.0.0.1", port="2525")
    assert stored(run_in_tm)[0] == ("127.0.0.1", 2525)
    save(owner, 303, host="relay.lan.test", port="465")  # a bare host: every port
    assert stored(run_in_tm)[0] == ("relay.lan.test", 465)


def press_test_connection(testapp):
    page = testapp.get(URL)
    return testapp.post(f"{URL}/test", {"csrf_token": csrf_from(page)}, expect_errors=True)


def test_the_connection_goes_to_the_checked_address(owner, dns, smtp_server, configure_smtp):
    """The name is resolved once, checked, and connected to: a second, different DNS answer
    (rebinding) is never asked for."""
    server = smtp_server()
    dns["mail.partner.test"] = ["127.0.0.1", "10.255.255.1"]
    configure_smtp(server, host="mail.partner.test")
    response = press_test_connection(owner)
    assert response.status_code == 200, response.text
    assert f"Connected to mail.partner.test:{server.port}." in response.text
    assert dns["_lookups"] == ["mail.partner.test"]


def test_a_stored_host_that_now_resolves_privately_is_not_contacted(
    owner, dns, smtp_server, configure_smtp
):
    server = smtp_server()
    dns["mail.partner.test"] = ["169.254.169.254"]
    configure_smtp(server, host="mail.partner.test")  # stored without the form's check
    response = press_test_connection(owner)
    assert response.status_code == 400
    assert "link-local" in response.text
    assert server.handler.data_calls == 0

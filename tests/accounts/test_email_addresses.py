"""normalize_email: one validator (email-validator, no DNS) for every email we store."""

from __future__ import annotations

import pytest

from asthron.accounts.service import AccountError, normalize_email


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("dana@example.com", "dana@example.com"),
        ("  Dana.Scully+x@Example.COM ", "dana.scully+x@example.com"),
        ("a" * 64 + "@example.com", "a" * 64 + "@example.com"),
    ],
)
def test_valid_addresses_are_stored_in_one_form(given, stored):
    assert normalize_email(given) == stored


@pytest.mark.parametrize(
    "given",
    [
        "esc\x1b]0;PWNED\x07x@example.com",
        "bell\x07@example.com",
        "c1\x9b@example.com",
        "rtl\u202e@example.com",
        "dana@exa\x00mple.com",
        "Dana <dana@example.com>",
        '"quoted"@example.com',
        "dana@[192.0.2.1]",
        "dana@localhost",
        "a" * 65 + "@example.com",
        "no-at-sign",
        "",
        None,
        42,
    ],
)
def test_invalid_addresses_are_refused(given):
    with pytest.raises(AccountError):
        normalize_email(given)


def test_no_dns_lookup_is_made(monkeypatch):
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("normalize_email looked something up")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    assert normalize_email("someone@no-such-domain-for-asthron-tests.example") == (
        "someone@no-such-domain-for-asthron-tests.example"
    )

"""normalize_origin: what the widget API compares a browser's Origin header against."""

from __future__ import annotations

import pytest

from asthron.sites.models import Site
from asthron.sites.service import SiteError, normalize_origin, origin_allowed


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("https://shop.example.com", "https://shop.example.com"),
        ("https://Shop.EXAMPLE.com", "https://shop.example.com"),
        ("HTTPS://shop.example.com", "https://shop.example.com"),
        ("https://shop.example.com/", "https://shop.example.com"),
        ("  https://shop.example.com  ", "https://shop.example.com"),
        ("https://shop.example.com:443", "https://shop.example.com"),
        ("http://shop.example.com:80", "http://shop.example.com"),
        ("https://shop.example.com:8443", "https://shop.example.com:8443"),
        ("http://shop.example.com:443", "http://shop.example.com:443"),
        ("https://shop.example.com:80", "https://shop.example.com:80"),
        ("http://127.0.0.1:6543", "http://127.0.0.1:6543"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("https://[2001:DB8:0:0::1]", "https://[2001:db8::1]"),
        ("https://[2001:db8::1]:443", "https://[2001:db8::1]"),
        ("https://Bücher.example", "https://xn--bcher-kva.example"),
        ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
    ],
)
def test_normalised(given, normalised):
    assert normalize_origin(given) == normalised


@pytest.mark.parametrize(
    "given",
    [
        "https://shop.example.com/path",
        "https://shop.example.com/shop/",
        "https://shop.example.com/?q=1",
        "https://shop.example.com?q=1",
        "https://shop.example.com#top",
        "https://shop.example.com?",
        "https://user@shop.example.com",
        "https://user:secret@shop.example.com",
        "https://@shop.example.com",
        "https://evil.example\\@shop.example.com",
        "ftp://shop.example.com",
        "javascript:alert(1)",
        "shop.example.com",
        "//shop.example.com",
        "https://",
        "null",
        "",
        "https://shop.example.com:99999",
        "https://shop.example.com:0",
        "https://shop.example.com:port",
        "https://[not-an-ip]",
        # strip() would drop these, and CORS echoes the raw header back.
        "https://shop.example.com\x0b",
        "\x0chttps://shop.example.com",
        "https://shop.example.com\x1f",
        "https://shop.example.com\u2028",
        "https://exa mple.com",
        "https://a<b>.example",
        "https://%41.example",
        "https://" + "a" * 300 + ".example",
        None,
        42,
        ["https://shop.example.com"],
    ],
)
def test_refused(given):
    with pytest.raises(SiteError):
        normalize_origin(given)


def test_origin_allowed_compares_normalised_origins():
    site = Site(allowed_origins=["https://shop.example.com", "http://[::1]:8080"])
    assert origin_allowed(site, "https://SHOP.example.com:443")
    assert origin_allowed(site, "http://[0:0::1]:8080")
    assert not origin_allowed(site, "https://shop.example.com:8443")
    assert not origin_allowed(site, "http://shop.example.com")
    assert not origin_allowed(site, "https://shop.example.com.evil.example")
    assert not origin_allowed(site, "null")
    assert not origin_allowed(site, None)
    assert not origin_allowed(site, "")

"""The rules of a site's settings that the service, the forms and the widget API share:
what an allowed origin is, and the shapes of a colour and a language code."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from asthron.text import has_controls

COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
LANGUAGE_RE = re.compile(r"^[a-z]{2}(-[A-Z]{2})?$")
MAX_ORIGINS = 20
HOST_RE = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?")


class SiteError(ValueError):
    """A site setting is invalid; the message says which and is safe to show."""


def normalize_origin(value) -> str:
    """'https://Shop.Example.com:443/path' → 'https://shop.example.com'; exact scheme+host+port."""
    if not isinstance(value, str) or len(value) > 300:
        raise SiteError("An origin must be text like https://www.example.com.")
    # strip() would quietly drop a vertical tab or a line separator, and the raw Origin header is
    # what CORS echoes back: a control character must make it no origin at all.
    if has_controls(value) or any(ch.isspace() and ch != " " for ch in value):
        raise SiteError("An origin must not contain control characters.")
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        raise SiteError(f"{value!r} is not a valid origin.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise SiteError(f"{value!r} is not an origin: use http(s)://host[:port].")
    if "@" in parts.netloc or parts.query or parts.fragment or value.strip().endswith(("?", "#")):
        raise SiteError(f"{value!r} must not carry credentials, a query or a fragment.")
    if parts.path not in ("", "/"):
        raise SiteError(f"{value!r} must not have a path: an origin is scheme, host and port.")
    host = parts.hostname.lower()
    if ":" in host:
        try:
            host = f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            raise SiteError(f"{value!r} is not a valid origin.") from None
    else:
        if not host.isascii():
            # Browsers send internationalised names in their ASCII (punycode) form.
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                raise SiteError(f"{value!r} is not a valid host name.") from None
        if not HOST_RE.fullmatch(host):
            raise SiteError(f"{value!r} is not a valid host name.")
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")

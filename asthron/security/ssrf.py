"""The SSRF guard for addresses a dashboard user typed in (AI provider base URLs, the SMTP host,
later webhooks).

A URL is allowed when it is http(s) without credentials and *every* address its host resolves to
is a public one: loopback, private (RFC 1918, fc00::/7), link-local (169.254/16 with the cloud
metadata service, fe80::/10), multicast, reserved, unspecified (0.0.0.0, ::), shared (100.64/10),
documentation and benchmark ranges are refused, for IPv4 and IPv6 alike, including IPv4 hidden
inside IPv6 (``::ffff:127.0.0.1``, 6to4, Teredo, NAT64). Every address is checked, because the
client may connect to any of them.

The operator can let some private destinations through with ``asthron.outbound.allowed_private_
hosts`` in the .ini (space-separated ``host:port`` or ``host``; a bare host allows every port).
The default lets a local Ollama work out of the box: ``127.0.0.1:11434 localhost:11434``.

``check_url`` returns the address it checked. A caller that makes its own connection should
connect to that address (``pinned_connection``), so DNS rebinding cannot swap a public answer for a
private one between the check and the connection. The AI providers' httpx clients do the same
per request through an httpx hook (``asthron.assistant.providers.base.request_hooks``).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

DEFAULT_ALLOWED_PRIVATE_HOSTS = "127.0.0.1:11434 localhost:11434"
MAX_URL_LENGTH = 2000
DEFAULT_PORTS = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
# Not global per the IANA special-purpose registries, whatever this Python's tables say.
_NOT_GLOBAL = (
    ipaddress.IPv4Network("192.0.0.0/24"),  # IETF protocol assignments (NAT64 DNS, DS-Lite…)
    ipaddress.IPv6Network("3fff::/20"),  # documentation (2024)
    ipaddress.IPv6Network("5f00::/16"),  # segment routing SIDs
)
_GLOBAL_EXCEPTIONS = (ipaddress.IPv4Address("192.0.0.9"), ipaddress.IPv4Address("192.0.0.10"))


class SSRFError(ValueError):
    """The destination is refused; the message is safe to show to the person who typed it."""


class UnresolvableHost(SSRFError):
    """The host name has no address (now). Nothing was refused: there is nothing to reach."""


@dataclass(frozen=True)
class ResolvedAddress:
    host: str  # lower case, without brackets or a trailing dot
    port: int
    ip: str  # the checked address to connect to
    addresses: tuple[str, ...]  # every address the host resolved to, all checked
    allowlisted: bool = False

    @property
    def host_header(self) -> str:
        """The Host header for a request to this destination, port included when needed."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def ip_literal(self) -> str:
        return f"[{self.ip}]" if ":" in self.ip else self.ip


@dataclass(frozen=True)
class ResolvedURL(ResolvedAddress):
    url: str = ""
    scheme: str = "http"

    @property
    def pinned_url(self) -> str:
        """The URL with its host replaced by the checked address. Send ``host_header`` as the
        Host header with it (and, for https, the original host name as the TLS server name)."""
        parts = urlsplit(self.url)
        return urlunsplit(
            (self.scheme, f"{self.ip_literal}:{self.port}", parts.path, parts.query, "")
        )


# -- the allowlist --------------------------------------------------------------------------


def _normal_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host


def _allow_entry(entry: str) -> str:
    """One allowlist entry as ``host`` or ``host:port`` (IPv6 hosts in brackets before a port)."""
    entry = entry.strip().lower()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"{entry!r} is not host or host:port")
    elif entry.count(":") == 1:
        host, _, port = entry.partition(":")
    else:  # a name, an IPv4 address, or a bare IPv6 address
        host, port = entry, ""
    host = _normal_host(host)
    if not host:
        raise ValueError(f"{entry!r} has no host")
    if port:
        if not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{entry!r} has an invalid port")
        return f"{host}:{int(port)}" if ":" not in host else f"[{host}]:{int(port)}"
    return host


def parse_allowlist(text: str | Iterable[str]) -> frozenset[str]:
    """The operator's allowlist (space-separated text, or entries); ValueError names a bad one."""
    entries = text.split() if isinstance(text, str) else list(text)
    return frozenset(_allow_entry(e) for e in entries if e and e.strip())


DEFAULT_ALLOWLIST = parse_allowlist(DEFAULT_ALLOWED_PRIVATE_HOSTS)


def _allowed(host: str, port: int, allowed: frozenset[str]) -> bool:
    with_port = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host in allowed or with_port in allowed


# -- addresses ------------------------------------------------------------------------------


def refusal(ip: IPAddress) -> str | None:
    """Why this address may not be reached from user-typed configuration, or None if public."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo:
            return "a Teredo tunnel address"
        embedded = ip.ipv4_mapped or ip.sixtofour
        if ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            reason = refusal(embedded)
            return f"{reason} ({embedded} inside an IPv6 address)" if reason else None
        if ip in _NAT64_LOCAL:
            return "a private address"
        if ip.is_site_local:
            return "a private address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global or (
        ip not in _GLOBAL_EXCEPTIONS
        and any(ip in net for net in _NOT_GLOBAL if net.version == ip.version)
    ):
        return "not a public address"
    return None


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnresolvableHost(f"The host name {host} cannot be resolved ({exc}).") from None
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnresolvableHost(f"The host name {host} has no address.")
    return addresses


def check_host(host: str, port: int, allowed_private: Iterable[str] = ()) -> ResolvedAddress:
    """Resolve ``host`` and refuse it unless every address is public or the operator allowed it.

    Raises ``SSRFError`` (``UnresolvableHost`` when the name has no address).
    """
    if not isinstance(host, str) or not host.strip():
        raise SSRFError("A host name is required.")
    if not isinstance(port, int) or not 0 < port < 65536:
        raise SSRFError("The port must be between 1 and 65535.")
    allowed = parse_allowlist(allowed_private)
    host = _normal_host(host)
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise SSRFError(f"{host} is not a valid host name.") from None
    if any(c.isspace() or ord(c) < 33 or c in "/\\@?#%" for c in host):
        raise SSRFError(f"{host!r} is not a valid host name.")
    name_allowed = _allowed(host, port, allowed)
    addresses = _resolve(host, port)
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise SSRFError(f"{host} resolved to something that is not an address.") from None
        reason = refusal(ip)
        if reason and not (name_allowed or _allowed(ip.compressed, port, allowed)):
            shown = host if host == ip.compressed else f"{host} ({ip.compressed})"
            raise SSRFError(
                f"{shown} is {reason}: Asthron does not connect there from settings typed in "
                "the dashboard. An administrator can allow it with "
                "asthron.outbound.allowed_private_hosts in the .ini file."
            )
    return ResolvedAddress(host, port, addresses[0], tuple(addresses), name_allowed)


def check_url(url: str, allowed_private: Iterable[str] = ()) -> ResolvedURL:
    """Check an http(s) URL typed by a user; return it with the address that was checked.

    Refused (``SSRFError``): other schemes, credentials in the URL, control characters, and
    hosts with a non-public address (see ``check_host``).
    """
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise SSRFError(f"The URL must be text of at most {MAX_URL_LENGTH} characters.")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url) or "\\" in url:
        raise SSRFError("The URL must not contain spaces, backslashes or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise SSRFError("The URL is not a valid http(s) address.") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise SSRFError("Only http:// and https:// addresses are allowed.")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise SSRFError("The URL must not contain a user name or password.")
    if not host:
        raise SSRFError("The URL needs a host name.")
    port = port if port is not None else DEFAULT_PORTS[scheme]
    if port == 0:
        raise SSRFError("The port must be between 1 and 65535.")
    checked = check_host(host, port, allowed_private)
    return ResolvedURL(
        checked.host,
        checked.port,
        checked.ip,
        checked.addresses,
        checked.allowlisted,
        url=url,
        scheme=scheme,
    )


# -- connecting to the checked address ------------------------------------------------------


def pinned_connection(resolved: ResolvedURL, timeout: float = 10.0) -> http.client.HTTPConnection:
    """An ``http.client`` connection to the address ``check_url`` checked, for outbound requests
    we make ourselves (webhooks).

    The Host header and, for https, the TLS server name and certificate check use the original
    host name; only the TCP connection goes to the checked address, so a second DNS answer can
    never redirect it. ``http.client`` never follows redirects: a 3xx is returned as is. Read
    responses with a size cap (``response.read(limit)``).
    """
    if resolved.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            resolved.host, resolved.port, timeout=timeout
        )
    else:
        connection = http.client.HTTPConnection(resolved.host, resolved.port, timeout=timeout)
    address = resolved.ip

    def connect_to_checked_address(_where, *args, **kwargs):
        return socket.create_connection((address, resolved.port), *args, **kwargs)

    connection._create_connection = connect_to_checked_address  # used by connect()
    return connection

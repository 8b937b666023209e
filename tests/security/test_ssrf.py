"""The SSRF guard (asthron.security.ssrf): every address class, DNS answers, the allowlist,
pinning, and redirects never followed, by us or by the model SDKs."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from asthron.security import ssrf
from asthron.security.ssrf import SSRFError, UnresolvableHost, check_host, check_url
from asthron.settings import AppSettings, SettingsError

DEFAULT = ssrf.DEFAULT_ALLOWLIST


@pytest.fixture
def dns(monkeypatch):
    """A fake resolver: names in the table resolve to their addresses; other names under .test
    do not resolve; everything else goes to the real resolver (numeric forms like 0177.0.0.1)."""
    table: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host in table:
            infos = []
            for ip in table[host]:
                if ":" in ip:
                    infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0)))
                else:
                    infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)))
            return infos
        if str(host).endswith(".test"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, family, type, proto, flags)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


# Every class of non-public address, as URL literals (IPv4, IPv6 and IPv4 inside IPv6).
REFUSED = [
    ("http://127.0.0.1/", "loopback"),
    ("http://127.255.255.254:8080/", "loopback"),
    ("http://10.0.0.1/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://0.0.0.0:11434/", "unspecified"),  # reaches this host, yet is not the allowed name
    ("http://224.0.0.1/", "multicast"),
    ("http://239.255.255.250:1900/", "multicast"),
    ("http://100.64.0.1/", "shared"),
    ("http://240.0.0.1/", ""),  # reserved (class E)
    ("http://255.255.255.255/", ""),  # broadcast
    ("http://192.0.2.1/", ""),  # documentation
    ("http://198.18.0.1/", ""),  # benchmarking
    ("http://192.0.0.8/", "not a public address"),  # IETF protocol assignments
    ("http://[::1]/", "loopback"),
    ("http://[::]/", "unspecified"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fd00::1]/", "private"),
    ("http://[fc00::5]:8080/", "private"),
    ("http://[fec0::1]/", "private"),  # site-local
    ("http://[ff02::1]/", "multicast"),
    ("http://[2001:db8::1]/", ""),  # documentation
    ("http://[::7f00:1]/", "reserved"),  # IPv4-compatible
    ("http://[::ffff:127.0.0.1]:8080/", "loopback"),
    ("http://[::ffff:169.254.169.254]/", "link-local"),
    ("http://[::ffff:10.0.0.1]/", "private"),
    ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),  # NAT64 of 169.254.169.254
    ("http://[2002:a9fe:a9fe::1]/", "link-local"),  # 6to4 of 169.254.169.254
    ("http://[2001::1]/", "Teredo"),
    # Numeric forms the resolver (inet_aton) reads as 127.0.0.1.
    ("http://2130706433/", "loopback"),
    ("http://0x7f000001/", "loopback"),
    ("http://0177.0.0.1/", "loopback"),
    ("http://127.1/", "loopback"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_every_non_public_address_class_is_refused(url, reason):
    with pytest.raises(SSRFError) as refused:
        check_url(url, DEFAULT)
    assert not isinstance(refused.value, UnresolvableHost)
    assert reason in str(refused.value)
    assert "allowed_private_hosts" in str(refused.value)  # says how an operator allows it


@pytest.mark.parametrize(
    "url",
    [
        "https://8.8.8.8/v1",
        "http://1.1.1.1:8080/",
        "https://[2606:4700:4700::1111]/",
        "http://[::ffff:8.8.8.8]/",  # a public address, however written
        "http://[64:ff9b::808:808]/",  # NAT64 of a public address (DNS64 networks)
        "http://192.0.0.9/",
    ],
)
def test_public_addresses_pass_and_the_checked_address_is_returned(url):
    checked = check_url(url, DEFAULT)
    assert checked.ip in checked.addresses
    assert checked.allowlisted is False


@pytest.mark.parametrize(
    "url",
    [
        "ftp://8.8.8.8/",
        "file:///etc/passwd",
        "gopher://8.8.8.8:70/_x",
        "javascript:alert(1)",
        "dict://8.8.8.8:11211/",
        "http://user:pw@8.8.8.8/",
        "http://token@8.8.8.8/",
        "http://8.8.8.8\\@127.0.0.1/",
        "http://8.8.8.8 /",
        "http://8.8.8.8/\n",
        "http://",
        "http://8.8.8.8:0/",
        "http://8.8.8.8:99999/",
        "",
        None,
        "http://8.8.8.8/" + "a" * 3000,
    ],
)
def test_other_schemes_credentials_and_malformed_urls_are_refused(url):
    with pytest.raises(SSRFError):
        check_url(url, DEFAULT)


def test_names_are_resolved_and_every_address_must_be_public(dns):
    dns["api.models.test"] = ["93.184.216.34", "2606:2800:220:1::1"]
    dns["intranet.test"] = ["10.0.0.5"]
    dns["metadata.test"] = ["169.254.169.254"]
    dns["mixed.test"] = ["93.184.216.34", "127.0.0.1"]  # one bad answer is enough
    dns["v6-loopback.test"] = ["::1"]
    dns["mapped.test"] = ["::ffff:192.168.0.1"]

    checked = check_url("https://api.models.test/v1", DEFAULT)
    assert (checked.ip, checked.port, checked.host) == ("93.184.216.34", 443, "api.models.test")
    assert checked.addresses == ("93.184.216.34", "2606:2800:220:1::1")
    for name, reason in (
        ("intranet.test", "private"),
        ("metadata.test", "link-local"),
        ("mixed.test", "loopback"),
        ("v6-loopback.test", "loopback"),
        ("mapped.test", "private"),
    ):
        with pytest.raises(SSRFError, match=reason) as refused:
            check_url(f"http://{name}:8080/", DEFAULT)
        assert name in str(refused.value)
    with pytest.raises(UnresolvableHost):
        check_url("http://nowhere.test/", DEFAULT)
    # Case and a trailing dot do not get around anything.
    with pytest.raises(SSRFError, match="link-local"):
        check_url("http://METADATA.test./", DEFAULT)


def test_the_default_allowlist_lets_a_local_ollama_through_and_nothing_else():
    assert {"127.0.0.1:11434", "localhost:11434"} == DEFAULT
    assert check_url("http://127.0.0.1:11434", DEFAULT).allowlisted
    assert check_url("http://localhost:11434/api", DEFAULT).allowlisted
    for url in (
        "http://127.0.0.1:11435/",
        "http://localhost:6379/",
        "http://127.0.0.1/",
        "http://[::1]:11434/",
    ):
        with pytest.raises(SSRFError):
            check_url(url, DEFAULT)


def test_operator_allowlist_entries(dns):
    dns["ollama.lan.test"] = ["10.1.2.3"]
    dns["other.lan.test"] = ["10.1.2.3"]
    allowed = ssrf.parse_allowlist("127.0.0.1 [::1]:8080 ollama.lan.test:11434 10.9.9.9:25")
    assert check_url("http://127.0.0.1:5000/", allowed).allowlisted  # a bare host: any port
    assert check_url("http://[::1]:8080/", allowed)
    with pytest.raises(SSRFError):
        check_url("http://[::1]:8081/", allowed)
    assert check_url("http://ollama.lan.test:11434/", allowed).ip == "10.1.2.3"
    with pytest.raises(SSRFError):
        check_url("http://ollama.lan.test:8080/", allowed)
    with pytest.raises(SSRFError):  # same address, name not allowed, address:port not allowed
        check_url("http://other.lan.test:11434/", allowed)
    assert check_host("10.9.9.9", 25, allowed)
    with pytest.raises(SSRFError):
        check_host("10.9.9.9", 587, allowed)


def test_the_allowlist_is_a_typed_setting():
    base = {"asthron.database_url": "sqlite://", "here": "/tmp"}
    assert AppSettings.from_ini(base).outbound_allowed_private_hosts == DEFAULT
    settings = AppSettings.from_ini(
        dict(base, **{"asthron.outbound.allowed_private_hosts": "LOCALHOST:8080 [::1] "})
    )
    assert settings.outbound_allowed_private_hosts == {"localhost:8080", "::1"}
    empty = AppSettings.from_ini(dict(base, **{"asthron.outbound.allowed_private_hosts": ""}))
    assert empty.outbound_allowed_private_hosts == frozenset()
    with pytest.raises(SettingsError, match="allowed_private_hosts"):
        AppSettings.from_ini(dict(base, **{"asthron.outbound.allowed_private_hosts": "a:port"}))


# -- connecting to the checked address, without following redirects ------------------------


class _Server:
    """A local HTTP server that records each request's Host header and path, and answers with
    ``status`` (and ``location``)."""

    def __init__(self, status=200, location=None):
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                server.requests.append((self.headers.get("Host"), self.path))
                body = b'{"data": [], "models": []}'
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers():
    started = []

    def start(**kwargs) -> _Server:
        server = _Server(**kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_pinned_connection_uses_the_checked_address_and_never_follows_redirects(dns, servers):
    internal = servers()
    hook = servers(status=302, location=f"http://127.0.0.1:{internal.port}/secret")
    dns["hooks.partner.test"] = ["127.0.0.1"]
    checked = check_url(f"http://hooks.partner.test:{hook.port}/in?x=1", {"hooks.partner.test"})
    assert checked.pinned_url == f"http://127.0.0.1:{hook.port}/in?x=1"
    # DNS rebinding: the name now points elsewhere; the connection still goes where we checked.
    dns["hooks.partner.test"] = ["10.255.255.1"]
    connection = ssrf.pinned_connection(checked, timeout=5)
    try:
        connection.request("POST", "/in?x=1", body=b"{}")
        response = connection.getresponse()
        assert response.status == 302  # handed back, not followed
        response.read(1024)
    finally:
        connection.close()
    assert hook.requests == [(f"hooks.partner.test:{hook.port}", "/in?x=1")]
    assert internal.requests == []


@pytest.mark.parametrize("kind", ["openai", "ollama", "anthropic"])
def test_model_sdk_clients_do_not_follow_redirects(kind, servers):
    """A public base URL that redirects to an internal address must not be followed there."""
    from asthron.assistant.providers.base import ProviderError
    from asthron.assistant.providers.factory import ProviderSettings, build_provider

    internal = servers()
    target = f"http://127.0.0.1:{internal.port}"
    redirector = servers(status=307, location=target + "/v1/models")
    base = f"http://127.0.0.1:{redirector.port}" + ("/v1" if kind == "openai" else "")
    provider = build_provider(
        ProviderSettings(kind, "m", base, api_key="k", connect_timeout=2, total_timeout=5)
    )
    try:
        with pytest.raises(ProviderError):
            provider.list_models()
    finally:
        provider.close()
    assert redirector.requests, "the provider did not call its base URL"
    assert internal.requests == [], f"{kind} followed a redirect"

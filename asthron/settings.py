"""Typed settings, read once from the .ini file.

The .ini holds infrastructure only (where the database is, where jobs queue, which notifier
backend to use). Business settings live in the database and are edited in the dashboard.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from asthron.security.ssrf import DEFAULT_ALLOWLIST, parse_allowlist


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


DEFAULT_PUBLIC_URL = "http://127.0.0.1:6543"


def _public_url(value) -> str:
    """The address people use: scheme, host, optional port and path, without a trailing /."""
    text = str(value).strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise SettingsError("asthron.public_url must be an http:// or https:// address")
    try:
        parts.port  # noqa: B018 - a port out of range raises here
    except ValueError:
        raise SettingsError("asthron.public_url has an invalid port") from None
    return text


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_PORT = 6543


def local_port(public_url: str) -> int:
    """The port ``asthron serve`` listens on by default: the public address's own port when
    that address is this machine (a first run on ``http://127.0.0.1:7201``), else 6543 (a
    proxy in front forwards to it)."""
    parts = urlsplit(public_url)
    if parts.hostname in LOOPBACK_HOSTS:
        return parts.port or (443 if parts.scheme == "https" else 80)
    return DEFAULT_PORT


def _bool(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"{name} must be true or false, not {value!r}")


def _int(value, name: str, minimum: int = 0) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise SettingsError(f"{name} must be at least {minimum}")
    return number


# Retention windows in days per category of personal data (0 keeps for ever); the .ini's
# asthron.retention.<category>_days change the defaults, the owner's dashboard overrides them.
RETENTION_DEFAULTS = {
    "conversations": 365,  # visitors and their conversations, after the last activity
    "page_views": 30,
    "leads": 0,  # until erased or deleted by staff
    "audit": 730,
    "usage": 400,
    "sessions": 90,  # staff login sessions and invitations
    "security": 30,  # failed-login records
    "outbox": 30,  # finished outbox items (emails sent or given up)
    "events": 90,  # domain events
}


def _retention(get) -> dict[str, int]:
    return {
        category: _int(
            get(f"retention.{category}_days", default), f"asthron.retention.{category}_days", 0
        )
        for category, default in RETENTION_DEFAULTS.items()
    }


@dataclass(frozen=True)
class AppSettings:
    database_url: str
    huey_url: str
    secrets_file: Path
    public_url: str = DEFAULT_PUBLIC_URL
    production: bool = False
    notifier: str = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    trusted_proxies: tuple[str, ...] = ()
    session_idle_timeout: int = 30 * 60
    session_absolute_timeout: int = 12 * 3600
    login_max_failures_per_account: int = 5
    login_max_failures_per_ip: int = 30
    login_failure_window: int = 15 * 60
    invitation_lifetime: int = 72 * 3600
    waitress_threads: int = 16
    # The largest request body any route accepts (waitress refuses more with 413, and so does
    # the app, for when another server runs it). No route takes uploads.
    max_request_body_size: int = 1024 * 1024
    outbox_lease_seconds: int = 120
    outbox_max_attempts: int = 8
    outbox_retry_base_seconds: int = 30
    huey_immediate: bool = False
    demo_page: bool = False
    widget_messages_per_minute: int = 20
    widget_messages_per_minute_per_ip: int = 60
    widget_sessions_per_hour_per_ip: int = 30
    widget_sessions_per_hour_per_site: int = 5000
    widget_max_streams_per_visitor: int = 3
    widget_max_streams: int = 0  # 0: derived from the waitress thread count
    widget_max_streams_per_ip: int = 0  # 0: half of the streams a process holds
    widget_max_wait: int = 25
    reply_workers: int = 8
    # Knowledge in (asthron/knowledge/crawling.py, documents.py): the upload route's own body
    # allowance, and a website crawl's limits.
    knowledge_max_upload_size: int = 20 * 1024 * 1024
    knowledge_crawl_seconds: int = 1800
    knowledge_page_max_bytes: int = 2 * 1024 * 1024
    knowledge_request_timeout: int = 10
    knowledge_page_seconds: int = 30
    # Private destinations dashboard-typed URLs/hosts may reach anyway (asthron.security.ssrf).
    outbound_allowed_private_hosts: frozenset[str] = DEFAULT_ALLOWLIST
    templates_dir: Path = field(default_factory=lambda: Path("templates"))
    migrations_dir: Path = field(default_factory=lambda: Path("migrations"))
    var_dir: Path = field(default_factory=lambda: Path("var"))
    retention_days: dict = field(default_factory=lambda: dict(RETENTION_DEFAULTS))
    extra: dict = field(default_factory=dict)

    @property
    def stream_capacity(self) -> int:
        """How many event streams one process holds open: each pins a waitress thread, so a
        quarter of the threads stay free for ordinary requests."""
        return self.widget_max_streams or max(1, self.waitress_threads * 3 // 4)

    @property
    def stream_capacity_per_ip(self) -> int:
        """How many of those one address may hold (streams and waiting long polls together),
        so one client cannot take them all."""
        return self.widget_max_streams_per_ip or max(1, self.stream_capacity // 2)

    @property
    def cookie_secure(self) -> bool:
        return self.production or self.public_url.startswith("https://")

    @classmethod
    def from_ini(cls, raw: dict) -> AppSettings:
        """Build settings from the [app:main] section (already %(here)s-expanded).

        ``ASTHRON_DATABASE_URL`` and ``ASTHRON_HUEY_URL`` override the file, so tests and
        containers can point one .ini at another database; ``ASTHRON_PUBLIC_URL`` overrides
        ``asthron.public_url`` (``scripts/run`` sets it from ``ASTHRON_PORT``).
        """

        def get(key, default=None):
            return raw.get(f"asthron.{key}", default)

        here = Path(raw.get("here", os.getcwd()))
        database_url = os.environ.get("ASTHRON_DATABASE_URL") or get("database_url")
        if not database_url:
            raise SettingsError("asthron.database_url is not set")
        huey_url = os.environ.get("ASTHRON_HUEY_URL") or get(
            "huey_url", f"sqlite:///{here / 'var' / 'huey.sqlite'}"
        )
        if not (huey_url.startswith("sqlite:///") or huey_url.startswith("redis://")):
            raise SettingsError("asthron.huey_url must start with sqlite:/// or redis://")
        notifier = get("notifier", "memory")
        if notifier not in {"memory", "postgresql", "redis"}:
            raise SettingsError("asthron.notifier must be memory, postgresql or redis")
        proxies = tuple(p for p in str(get("trusted_proxies", "")).split() if p)
        try:
            allowed_private = parse_allowlist(
                str(get("outbound.allowed_private_hosts", " ".join(sorted(DEFAULT_ALLOWLIST))))
            )
        except ValueError as exc:
            raise SettingsError(f"asthron.outbound.allowed_private_hosts: {exc}") from None
        return cls(
            database_url=database_url,
            huey_url=huey_url,
            secrets_file=Path(get("secrets_file", here / "var" / "secrets.json")),
            public_url=_public_url(
                os.environ.get("ASTHRON_PUBLIC_URL") or get("public_url", DEFAULT_PUBLIC_URL)
            ),
            production=_bool(get("production", False), "asthron.production"),
            notifier=notifier,
            redis_url=get("redis_url", "redis://127.0.0.1:6379/0"),
            trusted_proxies=proxies,
            session_idle_timeout=_int(
                get("session.idle_timeout", 1800), "asthron.session.idle_timeout", 60
            ),
            session_absolute_timeout=_int(
                get("session.absolute_timeout", 43200), "asthron.session.absolute_timeout", 60
            ),
            login_max_failures_per_account=_int(
                get("login.max_failures_per_account", 5),
                "asthron.login.max_failures_per_account",
                1,
            ),
            login_max_failures_per_ip=_int(
                get("login.max_failures_per_ip", 30), "asthron.login.max_failures_per_ip", 1
            ),
            login_failure_window=_int(
                get("login.failure_window", 900), "asthron.login.failure_window", 1
            ),
            invitation_lifetime=_int(
                get("invitation_lifetime", 259200), "asthron.invitation_lifetime", 60
            ),
            waitress_threads=_int(get("waitress.threads", 16), "asthron.waitress.threads", 1),
            max_request_body_size=_int(
                get("max_request_body_size", 1024 * 1024), "asthron.max_request_body_size", 1024
            ),
            outbox_lease_seconds=_int(
                get("outbox.lease_seconds", 120), "asthron.outbox.lease_seconds", 1
            ),
            outbox_max_attempts=_int(
                get("outbox.max_attempts", 8), "asthron.outbox.max_attempts", 1
            ),
            outbox_retry_base_seconds=_int(
                get("outbox.retry_base_seconds", 30), "asthron.outbox.retry_base_seconds", 0
            ),
            huey_immediate=_bool(get("huey.immediate", False), "asthron.huey.immediate"),
            demo_page=_bool(get("demo_page", False), "asthron.demo_page"),
            widget_messages_per_minute=_int(
                get("widget.messages_per_minute", 20), "asthron.widget.messages_per_minute", 1
            ),
            widget_messages_per_minute_per_ip=_int(
                get("widget.messages_per_minute_per_ip", 60),
                "asthron.widget.messages_per_minute_per_ip",
                1,
            ),
            widget_sessions_per_hour_per_ip=_int(
                get("widget.sessions_per_hour_per_ip", 30),
                "asthron.widget.sessions_per_hour_per_ip",
                1,
            ),
            widget_sessions_per_hour_per_site=_int(
                get("widget.sessions_per_hour_per_site", 5000),
                "asthron.widget.sessions_per_hour_per_site",
                1,
            ),
            widget_max_streams_per_visitor=_int(
                get("widget.max_streams_per_visitor", 3),
                "asthron.widget.max_streams_per_visitor",
                1,
            ),
            widget_max_streams=_int(get("widget.max_streams", 0), "asthron.widget.max_streams", 0),
            widget_max_streams_per_ip=_int(
                get("widget.max_streams_per_ip", 0), "asthron.widget.max_streams_per_ip", 0
            ),
            widget_max_wait=_int(get("widget.max_wait", 25), "asthron.widget.max_wait", 1),
            reply_workers=_int(get("reply_workers", 8), "asthron.reply_workers", 1),
            knowledge_max_upload_size=_int(
                get("knowledge.max_upload_size", 20 * 1024 * 1024),
                "asthron.knowledge.max_upload_size",
                1024,
            ),
            knowledge_crawl_seconds=_int(
                get("knowledge.crawl_seconds", 1800), "asthron.knowledge.crawl_seconds", 1
            ),
            knowledge_page_max_bytes=_int(
                get("knowledge.page_max_bytes", 2 * 1024 * 1024),
                "asthron.knowledge.page_max_bytes",
                1024,
            ),
            knowledge_request_timeout=_int(
                get("knowledge.request_timeout", 10), "asthron.knowledge.request_timeout", 1
            ),
            knowledge_page_seconds=_int(
                get("knowledge.page_seconds", 30), "asthron.knowledge.page_seconds", 1
            ),
            outbound_allowed_private_hosts=allowed_private,
            templates_dir=Path(get("templates_dir", here / "templates")),
            migrations_dir=Path(get("migrations_dir", here / "migrations")),
            var_dir=Path(get("var_dir", here / "var")),
            retention_days=_retention(get),
            extra={k: v for k, v in raw.items() if k.startswith("asthron.")},
        )


def load_secrets(path: Path) -> dict:
    """Read the secrets file that ``asthron setup`` wrote."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SettingsError(f"secrets file {path} is missing: run 'asthron setup' first") from None
    except (OSError, ValueError) as exc:
        raise SettingsError(f"secrets file {path} is unreadable: {exc}") from None
    if not data.get("session_secret") or not data.get("fernet_keys"):
        raise SettingsError(f"secrets file {path} lacks session_secret or fernet_keys")
    return data


def includeme(config):
    settings = AppSettings.from_ini(config.get_settings())
    config.registry["app_settings"] = settings
    config.registry["secrets"] = load_secrets(settings.secrets_file)
    config.add_request_method(
        lambda request: request.registry["app_settings"], "app_settings", reify=True
    )

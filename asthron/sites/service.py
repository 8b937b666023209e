"""Registering websites and reading their widget configuration."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit
from asthron.audit.service import Actor
from asthron.security.crypto import SecretDecryptionError, masked
from asthron.sites import hours as hours_module
from asthron.sites.models import Site
from asthron.snapshots import row_snapshot
from asthron.text import has_controls, strip_controls

COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
LANGUAGE_RE = re.compile(r"^[a-z]{2}(-[A-Z]{2})?$")
MAX_ORIGINS = 20
HOST_RE = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?")
PUBLIC_KEY_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")


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


def new_public_key() -> str:
    return "site_" + secrets.token_urlsafe(18)


@dataclass
class SiteInput:
    name: str
    origins: list[str]
    title: str = "Chat with us"
    greeting: str = "Hi! How can we help?"
    accent_color: str = "#2f5bea"
    position: str = "right"
    language: str = "en"
    timezone: str = "UTC"
    business_hours: dict | None = None
    holidays: list | None = None
    privacy_notice: str = ""
    privacy_url: str = ""

    def validated(self) -> SiteInput:
        name = (self.name or "").strip() if isinstance(self.name, str) else ""
        if not name or len(name) > 120:
            raise SiteError("Give the site a name (120 characters at most).")
        if not isinstance(self.origins, list) or not self.origins:
            raise SiteError("Add at least one allowed origin.")
        if len(self.origins) > MAX_ORIGINS:
            raise SiteError(f"At most {MAX_ORIGINS} origins.")
        origins = sorted({normalize_origin(o) for o in self.origins})
        for label, value, limit in (
            ("title", self.title, 80),
            ("greeting", self.greeting, 500),
            ("privacy notice", self.privacy_notice, 4000),
        ):
            if not isinstance(value, str) or len(value) > limit:
                raise SiteError(f"The {label} must be text of at most {limit} characters.")
        if not isinstance(self.accent_color, str) or not COLOR_RE.match(self.accent_color):
            raise SiteError("The accent colour must look like #2f5bea.")
        if self.position not in ("right", "left"):
            raise SiteError("Position must be right or left.")
        if not isinstance(self.language, str) or not LANGUAGE_RE.match(self.language):
            raise SiteError("Language must be a code like en or pt-BR.")
        privacy_url = (self.privacy_url or "").strip()
        if privacy_url:
            parts = urlsplit(privacy_url)
            if parts.scheme not in ("http", "https") or not parts.netloc or len(privacy_url) > 2000:
                raise SiteError("The privacy page URL must be an http(s) address.")
        try:
            hours_module.zone(self.timezone)
            business_hours = hours_module.validate_hours(self.business_hours or {})
            holidays = hours_module.validate_holidays(self.holidays or [])
        except hours_module.HoursError as exc:
            raise SiteError(str(exc)) from None
        return SiteInput(
            name=name,
            origins=origins,
            title=self.title.strip() or "Chat with us",
            greeting=self.greeting.strip(),
            accent_color=self.accent_color.lower(),
            position=self.position,
            language=self.language,
            timezone=self.timezone,
            business_hours=business_hours,
            holidays=holidays,
            privacy_notice=self.privacy_notice.strip(),
            privacy_url=privacy_url,
        )


def _apply(site: Site, data: SiteInput) -> None:
    site.name, site.allowed_origins = data.name, data.origins
    site.title, site.greeting = data.title, data.greeting
    site.accent_color, site.position, site.language = (
        data.accent_color,
        data.position,
        data.language,
    )
    site.timezone, site.business_hours, site.holidays = (
        data.timezone,
        data.business_hours,
        data.holidays,
    )
    site.privacy_notice, site.privacy_url = data.privacy_notice, data.privacy_url


def create_site(db: Session, actor: Actor, data: SiteInput) -> Site:
    data = data.validated()
    site = Site(public_key=new_public_key())
    _apply(site, data)
    db.add(site)
    db.flush()
    audit.record(
        db, actor, "site.create", "site", site.id, {"name": site.name, "origins": data.origins}
    )
    return site


def update_site(db: Session, actor: Actor, site: Site, data: SiteInput) -> Site:
    data = data.validated()
    _apply(site, data)
    db.flush()
    audit.record(
        db, actor, "site.update", "site", site.id, {"name": site.name, "origins": data.origins}
    )
    return site


# -- the public privacy page ------------------------------------------------------------------

MAX_POLICY_LENGTH = 40000
# {site} is replaced by the site's name; the page adds the cookie and storage disclosure.
DEFAULT_POLICY = """\
This page explains what {site} stores when you use the chat on our website.

What we keep: the messages you write and our replies, the page you were on, your browser's \
name, your time zone, and any name, email or phone number you give us. We use them only to \
answer you and to follow up on your request.

How long: chats are deleted automatically after the retention period we have set; contact \
details you gave us as a lead are kept until you ask us to delete them.

Your rights: you may ask for a copy of what we hold about you, ask us to correct it, or ask \
us to delete it. Write to us through the chat or by email.
"""


def policy_text(site: Site) -> str:
    """The owner's text, or the default one before they have written theirs."""
    return site.privacy_policy_text or DEFAULT_POLICY


def set_privacy_policy(db: Session, actor: Actor, site: Site, text, effective) -> bool:
    """Save the privacy page's text and effective date (YYYY-MM-DD; empty: today). Any change
    raises the version by one and is audited; saving the same thing again changes nothing
    and returns False."""
    if not isinstance(text, str) or not isinstance(effective, str):
        raise SiteError("The privacy page must be text.")
    text = strip_controls(text.replace("\r\n", "\n"), keep="\n\t").strip()
    if len(text) > MAX_POLICY_LENGTH:
        raise SiteError(f"The privacy page must be at most {MAX_POLICY_LENGTH} characters.")
    effective = effective.strip()
    try:
        date = dt.date.fromisoformat(effective) if effective else dt.datetime.now(dt.UTC).date()
    except ValueError:
        raise SiteError("The effective date must look like 2026-12-31.") from None
    if not dt.date(2000, 1, 1) <= date <= dt.date(2100, 12, 31):
        raise SiteError("The effective date must be between 2000 and 2100.")
    if text == site.privacy_policy_text and date == site.privacy_policy_effective:
        return False
    site.privacy_policy_text = text
    site.privacy_policy_effective = date
    site.privacy_policy_version = (site.privacy_policy_version or 0) + 1
    db.flush()
    audit.record(
        db,
        actor,
        "site.privacy_policy_update",
        "site",
        site.id,
        {
            "name": site.name,
            "version": site.privacy_policy_version,
            "effective": date.isoformat(),
            "sha256": hashlib.sha256(text.encode()).hexdigest()[:16],
        },
    )
    return True


def list_sites(db: Session) -> list[Site]:
    return list(db.scalars(sa.select(Site).order_by(Site.name)))


def get_by_key(db: Session, public_key) -> Site | None:
    # The shape of a key (new_public_key) and nothing else reaches the query: a NUL, for one,
    # is an error on PostgreSQL, not a miss.
    if not isinstance(public_key, str) or not PUBLIC_KEY_RE.fullmatch(public_key):
        return None
    return db.scalar(sa.select(Site).where(Site.public_key == public_key))


def origin_allowed(site: Site, origin: str | None) -> bool:
    if not origin:
        return False
    try:
        return normalize_origin(origin) in (site.allowed_origins or [])
    except SiteError:
        return False


def embed_snippet(site: Site, public_url: str) -> str:
    return f'<script src="{public_url}/widget.js" data-site="{site.public_key}" async></script>'


def origin_listed_anywhere(db: Session, origin: str) -> bool:
    """Whether any site allows this origin (for CORS preflights, which carry no token)."""
    try:
        origin = normalize_origin(origin)
    except SiteError:
        return False
    return any(origin in (site.allowed_origins or []) for site in list_sites(db))


# -- signed visitor identity ----------------------------------------------------------------
#
# A business whose visitors are logged in on its own website can tell the widget who they are:
# its backend computes hex(HMAC-SHA256(key=the site's identity secret, message=the email in
# lower case)) and the page puts email, name and signature on the widget's script tag. The
# widget sends them with POST /sessions; a visitor whose signature checks out gets
# ``verified_email``. The secret never leaves the business's backend and this server.

SIGNATURE_RE = re.compile(r"[0-9a-f]{64}")


def new_identity_secret() -> str:
    return "ids_" + secrets.token_urlsafe(32)  # 256 random bits


def rotate_identity_secret(db: Session, box, actor: Actor, site: Site) -> str:
    """Create (or replace) the site's identity secret and return it: the only time it is shown.
    Signatures made with a previous secret stop verifying at once."""
    secret = new_identity_secret()
    rotated = site.identity_secret_encrypted is not None
    site.identity_secret_encrypted = box.encrypt(secret)
    db.flush()
    audit.record(
        db,
        actor,
        "site.identity_secret_rotate" if rotated else "site.identity_secret_create",
        "site",
        site.id,
        {"name": site.name},
    )
    return secret


def identity_signature(secret: str, email: str) -> str:
    """What the business's backend computes (and what tests sign with)."""
    message = email.strip().lower().encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def identity_signature_valid(box, site: Site, email: str, signature) -> bool:
    """Whether ``signature`` is the site's HMAC of ``email``; False without a secret. The
    comparison takes the same time wherever the strings differ (``hmac.compare_digest``)."""
    if site.identity_secret_encrypted is None or not isinstance(signature, str):
        return False
    signature = signature.strip().lower()
    if not SIGNATURE_RE.fullmatch(signature):
        return False
    try:
        secret = box.decrypt(site.identity_secret_encrypted)
    except SecretDecryptionError:
        return False
    return hmac.compare_digest(identity_signature(secret, email), signature)


def identity_secret_masked(box, site: Site) -> str | None:
    """The stored secret as the dashboard shows it (never in full); None when there is none."""
    if site.identity_secret_encrypted is None:
        return None
    try:
        return masked(box.decrypt(site.identity_secret_encrypted))
    except SecretDecryptionError:
        return "(cannot be decrypted with the current keys: generate a new one)"


def site_snapshot(db: Session, site_id: int):
    """The site's settings as last committed (``asthron.snapshots``), for the widget API's
    hot path; None when there is no such site."""
    return row_snapshot(db, "site", Site, site_id)

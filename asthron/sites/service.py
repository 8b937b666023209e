"""Registering websites and reading their widget configuration."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session
from zope.sqlalchemy import mark_changed

from asthron import audit
from asthron.audit.service import Actor
from asthron.db import utcnow
from asthron.forms import first_message
from asthron.security.crypto import SecretDecryptionError, masked
from asthron.sites.forms import SiteSettings
from asthron.sites.models import Site, SiteAvatar
from asthron.sites.rules import SiteError, normalize_origin
from asthron.snapshots import row_snapshot
from asthron.text import strip_controls

PUBLIC_KEY_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")


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
    theme: str = "auto"
    launcher_text: str = ""
    reply_time: str = ""
    language: str = "en"
    timezone: str = "UTC"
    business_hours: dict | None = None
    holidays: list | None = None
    privacy_notice: str = ""
    privacy_url: str = ""

    def validated(self) -> SiteInput:
        """The same settings, checked and normalised by ``SiteSettings`` (pydantic), or
        SiteError with the first problem's message."""
        try:
            valid = SiteSettings.model_validate(asdict(self))
        except ValidationError as exc:
            raise SiteError(first_message(exc)) from None
        return SiteInput(**valid.model_dump())


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
    site.theme, site.launcher_text, site.reply_time = (
        data.theme,
        data.launcher_text,
        data.reply_time,
    )


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


# -- the widget's avatar ------------------------------------------------------------------

MAX_AVATAR_BYTES = 256 * 1024
# Recognised by their first bytes, never by the name or type the browser sent. No SVG: it
# can carry script.
_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def image_type(data: bytes) -> str | None:
    """The image type ``data`` starts like (PNG, JPEG, GIF, WebP), or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _IMAGE_SIGNATURES if data.startswith(magic)), None)


def set_avatar(db: Session, actor: Actor, site: Site, data: bytes) -> None:
    """Store an uploaded avatar (team photo) for the widget's header; SiteError when it is
    empty, too large or not a PNG, JPEG, GIF or WebP image."""
    if not data:
        raise SiteError("The avatar file is empty.")
    if len(data) > MAX_AVATAR_BYTES:
        raise SiteError(f"The avatar must be at most {MAX_AVATAR_BYTES // 1024} KB.")
    kind = image_type(data)
    if kind is None:
        raise SiteError("The avatar must be a PNG, JPEG, GIF or WebP image.")
    avatar = db.get(SiteAvatar, site.id) or SiteAvatar(site_id=site.id)
    avatar.content_type, avatar.data = kind, data
    db.add(avatar)
    site.avatar_digest = hashlib.sha256(data).hexdigest()
    db.flush()
    audit.record(
        db,
        actor,
        "site.avatar_update",
        "site",
        site.id,
        {"name": site.name, "type": kind, "bytes": len(data), "sha256": site.avatar_digest[:16]},
    )


def remove_avatar(db: Session, actor: Actor, site: Site) -> bool:
    """Remove the avatar; False when there was none."""
    avatar = db.get(SiteAvatar, site.id)
    if avatar is None and site.avatar_digest is None:
        return False
    if avatar is not None:
        db.delete(avatar)
    site.avatar_digest = None
    db.flush()
    audit.record(db, actor, "site.avatar_remove", "site", site.id, {"name": site.name})
    return True


def avatar_of(db: Session, site: Site, digest: str) -> SiteAvatar | None:
    """The site's avatar if ``digest`` names the current one (an old URL finds nothing)."""
    if site.avatar_digest is None or not hmac.compare_digest(site.avatar_digest, digest):
        return None
    return db.get(SiteAvatar, site.id)


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


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _same_address(origin: str, public_url: str) -> bool:
    """Whether ``origin`` is the app's own address (127.0.0.1 and localhost count as one)."""
    try:
        mine, theirs = urlsplit(normalize_origin(public_url)), urlsplit(normalize_origin(origin))
    except SiteError:
        return False
    if mine.hostname in _LOOPBACK and theirs.hostname in _LOOPBACK:
        return (mine.scheme, mine.port) == (theirs.scheme, theirs.port)
    return mine == theirs


def note_widget_seen(db: Session, site, origin: str | None, public_url: str) -> bool:
    """Stamp ``widget_seen_at`` the first time the widget loads on one of the site's own
    pages: an allowed origin that is not the dashboard's own address (its /demo page).
    One conditional UPDATE, only while the stamp is missing; returns whether it stamped."""
    if site.widget_seen_at is not None or not origin or not origin_allowed(site, origin):
        return False
    if _same_address(origin, public_url):
        return False
    stamped = db.execute(
        sa.update(Site)
        .where(Site.id == site.id, Site.widget_seen_at.is_(None))
        .values(widget_seen_at=utcnow())
    ).rowcount
    if stamped:
        mark_changed(db)
    return bool(stamped)


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

"""Outbound email: settings, queueing through the outbox, and delivery over SMTP."""

from __future__ import annotations

import contextlib
import json
import logging
import smtplib
import ssl
import uuid
from dataclasses import asdict, dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate

import sqlalchemy as sa
from jinja2 import TemplateNotFound
from pyramid_jinja2 import IJinja2Environment
from sqlalchemy.orm import Session

from asthron import audit
from asthron.accounts.service import normalize_email
from asthron.audit.service import Actor
from asthron.db import registry_of
from asthron.forms import FormError
from asthron.jobs.models import OutboxItem
from asthron.jobs.service import JobContext, PermanentJobError, add_outbox_item, outbox_handler
from asthron.notify.forms import SmtpSettingsForm
from asthron.notify.models import EmailTemplate, SmtpSettings
from asthron.notify.templates import TemplateProblem, Wording, render_wording
from asthron.security.crypto import SecretBox, masked
from asthron.security.ssrf import DEFAULT_ALLOWLIST, SSRFError, UnresolvableHost, check_host

EMAIL_KIND = "email.send"
log = logging.getLogger(__name__)


class EmailConfigError(ValueError):
    """Email settings are missing or invalid; the message says which."""


class EmailDeliveryError(Exception):
    """The server took the connection but not the message; worth trying again."""


class EmailNotConfigured(EmailConfigError):
    def __init__(self):
        super().__init__("Outbound email is not configured yet (Integrations → Email).")


def refuse_private_host(host: str, port: int, allowed_private) -> None:
    """FormError (on ``host``) when the SMTP host typed in the dashboard resolves to a non-public
    address (loopback, private, link-local…) and neither ``host:port`` nor ``host`` is in the
    operator's allowlist (``asthron.outbound.allowed_private_hosts``). A name that does not
    resolve now is accepted; every connection checks again (``open_connection``)."""
    try:
        check_host(host, port, allowed_private)
    except UnresolvableHost:
        return
    except SSRFError as exc:
        raise FormError({"host": f"The SMTP host is refused: {exc}"}) from None


class _PinnedSMTP(smtplib.SMTP):
    """SMTP to the address the SSRF check approved. The configured name stays the TLS server
    name (STARTTLS checks the certificate against it); only the TCP connection is pinned, so a
    second DNS answer cannot send it elsewhere."""

    def __init__(self, address: str, host: str, port: int, **kwargs):
        self._pinned_address = address
        super().__init__(host, port, **kwargs)

    def _get_socket(self, host, port, timeout):
        return super()._get_socket(self._pinned_address, port, timeout)


class _PinnedSMTPSSL(smtplib.SMTP_SSL):
    def __init__(self, address: str, host: str, port: int, **kwargs):
        self._pinned_address = address
        super().__init__(host, port, **kwargs)

    def _get_socket(self, host, port, timeout):
        # SMTP_SSL wraps the socket with server_hostname=self._host, the configured name.
        return super()._get_socket(self._pinned_address, port, timeout)


def get_settings(db: Session) -> SmtpSettings | None:
    return db.get(SmtpSettings, 1)


def email_configured(db: Session) -> bool:
    """Whether outbound email is set up: without it a queued email waits until it is, so a
    page must not say that one was sent."""
    return get_settings(db) is not None


def delivery_states(db: Session, outbox_ids) -> dict[int, tuple[str, str | None]]:
    """(state, last error) of the given email outbox rows: pending, done or failed."""
    ids = [i for i in outbox_ids if i is not None]
    if not ids:
        return {}
    rows = db.execute(
        sa.select(OutboxItem.id, OutboxItem.state, OutboxItem.last_error).where(
            OutboxItem.id.in_(ids), OutboxItem.kind == EMAIL_KIND
        )
    )
    return {row_id: (state, error) for row_id, state, error in rows}


def save_settings(db: Session, box: SecretBox, actor: Actor, new: SmtpSettingsForm) -> SmtpSettings:
    row = get_settings(db) or SmtpSettings(id=1)
    row.host, row.port, row.security = new.host, new.port, new.security
    row.username, row.from_address, row.from_name = new.username, new.from_address, new.from_name
    row.timeout_seconds = new.timeout_seconds
    password = new.new_password
    password_changed = password is not None
    if password_changed:
        row.password_encrypted = box.encrypt(password) if password else None
    db.add(row)
    db.flush()
    audit.record(
        db,
        actor,
        "email.settings_update",
        "smtp_settings",
        1,
        {
            "host": new.host,
            "port": new.port,
            "security": new.security,
            "username": new.username,
            "from_address": new.from_address,
            "password_changed": password_changed,
        },
    )
    return row


def masked_password(db: Session, box: SecretBox) -> str:
    row = get_settings(db)
    if not row or not row.password_encrypted:
        return ""
    return masked(box.decrypt(row.password_encrypted))


# Headers a caller may add to an email (the rest are set here).
EXTRA_HEADERS = frozenset({"List-Unsubscribe", "List-Unsubscribe-Post"})


@dataclass(frozen=True)
class Attachment:
    """A text file sent with an email (a calendar invitation: ``invite.ics``,
    ``text/calendar``, params ``{"method": "REQUEST"}``)."""

    filename: str
    mime_type: str
    text: str
    params: dict = field(default_factory=dict)

    def as_payload(self) -> dict:
        maintype, _, subtype = self.mime_type.partition("/")
        if maintype != "text" or not subtype:
            raise ValueError("only text attachments are supported")
        return asdict(self)


def queue_email(
    db: Session,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    headers: dict | None = None,
    attachments: list[Attachment] | tuple[Attachment, ...] = (),
):
    """Record an email in the caller's transaction; it is sent once that commits."""
    to = normalize_email(to)
    payload = {
        "to": to,
        "subject": subject[:250],
        # Stable across retries, so a receiving server can drop a duplicate delivery.
        "message_id": f"<{uuid.uuid4().hex}@asthron>",
    }
    if headers:
        unknown = set(headers) - EXTRA_HEADERS
        if unknown:
            raise ValueError(f"headers not allowed: {sorted(unknown)}")
        payload["headers"] = dict(headers)
    bodies = {"text": text, "html": html}
    if attachments:
        bodies["attachments"] = [attachment.as_payload() for attachment in attachments]
    box = db.info.get("secret_box")
    if box is not None:
        # Bodies carry invitation links and visitors' words: sealed at rest in the outbox.
        payload["sealed"] = box.encrypt(json.dumps(bodies))
    else:
        payload.update(bodies)
    return add_outbox_item(db, EMAIL_KIND, payload)


def render_email(db: Session, name: str, values: dict) -> tuple[str, str, str | None]:
    """(subject, text, html) of the email ``name``: the owner's wording when there is one
    (``EmailTemplate``, rendered in the sandbox of notify/templates.py), else
    ``templates/email/<name>.subject.txt``, ``<name>.txt`` and, when it exists,
    ``<name>.html``, with the application's own Jinja2 environments."""
    wording = db.get(EmailTemplate, name)
    if wording is not None:
        try:
            return render_wording(Wording(wording.subject, wording.text, wording.html), values)
        except TemplateProblem as exc:
            # The email still goes out, in the default wording; the owner sees why on the page.
            log.warning("email %s: the owner's wording failed (%s); using the default", name, exc)
    return default_rendering(db, name, values)


def default_rendering(db: Session, name: str, values: dict) -> tuple[str, str, str | None]:
    registry = registry_of(db)
    text_env = registry.queryUtility(IJinja2Environment, name=".txt")
    html_env = registry.queryUtility(IJinja2Environment, name=".html")
    subject = text_env.get_template(f"email/{name}.subject.txt").render(values)
    text = text_env.get_template(f"email/{name}.txt").render(values)
    try:
        html = html_env.get_template(f"email/{name}.html").render(values)
    except TemplateNotFound:
        html = None
    return " ".join(subject.split()), text, html


def default_wording(db: Session, name: str) -> Wording:
    """The source of the files in templates/email: the starting point of the editor."""
    registry = registry_of(db)
    text_env = registry.queryUtility(IJinja2Environment, name=".txt")
    html_env = registry.queryUtility(IJinja2Environment, name=".html")

    def source(env, path):
        try:
            return env.loader.get_source(env, path)[0]
        except TemplateNotFound:
            return None

    return Wording(
        subject=(source(text_env, f"email/{name}.subject.txt") or "").strip(),
        text=source(text_env, f"email/{name}.txt") or "",
        html=source(html_env, f"email/{name}.html"),
    )


def queue_templated_email(
    db: Session,
    to: str,
    name: str,
    headers: dict | None = None,
    attachments: list[Attachment] | tuple[Attachment, ...] = (),
    **values,
):
    """Render the email ``name`` (see ``render_email``) and queue it like ``queue_email``."""
    subject, text, html = render_email(db, name, values)
    return queue_email(db, to, subject, text, html, headers=headers, attachments=attachments)


def unsealed(payload: dict, box: SecretBox) -> dict:
    """The payload with its bodies decrypted (for sending, and for tests that read them)."""
    if "sealed" not in payload:
        return payload
    return {**payload, **json.loads(box.decrypt(payload["sealed"]))}


def build_message(row: SmtpSettings, payload: dict) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = payload["subject"]
    message["From"] = formataddr((row.from_name or "", row.from_address))
    message["To"] = str(Address(addr_spec=payload["to"]))
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = payload["message_id"]
    for name, value in (payload.get("headers") or {}).items():
        if name in EXTRA_HEADERS:
            message[name] = value
    message.set_content(payload["text"])
    if payload.get("html"):
        message.add_alternative(payload["html"], subtype="html")
    for attachment in payload.get("attachments") or ():
        message.add_attachment(
            attachment["text"],
            subtype=attachment["mime_type"].partition("/")[2],
            filename=attachment["filename"],
            params=attachment.get("params") or {},
        )
    return message


def open_connection(row: SmtpSettings, box: SecretBox, allowed_private=None) -> smtplib.SMTP:
    """Connect, secure and log in, or raise with an error a person can act on.

    The host is checked against SSRF first (``allowed_private``: the operator's allowlist, the
    built-in one if None) and the connection goes to the address that was checked.
    """
    context = ssl.create_default_context()
    smtp = None
    try:
        checked = check_host(
            row.host, row.port, DEFAULT_ALLOWLIST if allowed_private is None else allowed_private
        )
    except SSRFError as exc:
        raise EmailConfigError(f"Cannot use {row.host}:{row.port}: {exc}") from None
    try:
        if row.security == "tls":
            smtp = _PinnedSMTPSSL(
                checked.ip, row.host, row.port, timeout=row.timeout_seconds, context=context
            )
        else:
            smtp = _PinnedSMTP(checked.ip, row.host, row.port, timeout=row.timeout_seconds)
            if row.security == "starttls":
                smtp.starttls(context=context)
        if row.username:
            password = box.decrypt(row.password_encrypted) if row.password_encrypted else ""
            smtp.login(row.username, password)
    except BaseException as exc:
        if smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                smtp.close()
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            raise EmailConfigError(
                f"The SMTP server refused the username or password ({exc.smtp_code})."
            ) from exc
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            raise EmailConfigError(f"The SMTP server does not support this: {exc}") from exc
        if isinstance(exc, ssl.SSLError):
            raise EmailConfigError(f"TLS with {row.host}:{row.port} failed: {exc}") from exc
        if isinstance(exc, OSError | smtplib.SMTPException):
            raise EmailConfigError(f"Cannot reach {row.host}:{row.port}: {exc}") from exc
        raise
    return smtp


def _is_permanent(exc: smtplib.SMTPResponseException) -> bool:
    return 500 <= exc.smtp_code <= 599


@outbox_handler(EMAIL_KIND)
def send_email(ctx: JobContext, payload: dict) -> None:
    """Send one queued email. Idempotent enough: the Message-ID is the same on every try."""
    row = get_settings(ctx.db)
    if row is None:
        # Not permanent: the owner may configure email later and the message still goes out.
        raise EmailNotConfigured()
    try:
        message = build_message(row, unsealed(payload, ctx.secret_box))
    except (KeyError, ValueError, TypeError) as exc:
        raise PermanentJobError(f"the message cannot be built: {exc}") from exc
    smtp = open_connection(
        row, ctx.secret_box, getattr(ctx.settings, "outbound_allowed_private_hosts", None)
    )
    try:
        refused = smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        text = f"recipient refused: {exc.recipients}"
        if codes and all(500 <= code <= 599 for code in codes):
            raise PermanentJobError(text) from exc
        raise EmailDeliveryError(text) from exc
    except smtplib.SMTPResponseException as exc:
        error = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        text = f"the SMTP server answered {exc.smtp_code} {error}"
        if _is_permanent(exc):
            raise PermanentJobError(text) from exc
        raise EmailDeliveryError(text) from exc
    finally:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            smtp.quit()
    if refused:
        raise PermanentJobError(f"recipient refused: {refused}")


def test_connection(db: Session, box: SecretBox, allowed_private=None) -> str:
    row = get_settings(db)
    if row is None:
        raise EmailNotConfigured()
    smtp = open_connection(row, box, allowed_private)
    with contextlib.suppress(OSError, smtplib.SMTPException):
        smtp.quit()
    logged_in = " and logged in" if row.username else ""
    return f"Connected to {row.host}:{row.port}{logged_in}."


# --- the owner's wording of emails (Integrations → Email → Templates) ----------------------


def save_wording(db: Session, actor: Actor, name: str, wording: Wording) -> EmailTemplate:
    """Store the owner's wording of ``name`` (already checked with ``templates.check_draft``)."""
    row = db.get(EmailTemplate, name) or EmailTemplate(name=name)
    row.subject, row.text, row.html = wording.subject, wording.text, wording.html or None
    row.updated_by_user_id = actor.user_id
    db.add(row)
    db.flush()
    audit.record(db, actor, "email.template_update", "email_template", name, {"name": name})
    return row


def reset_wording(db: Session, actor: Actor, name: str) -> bool:
    row = db.get(EmailTemplate, name)
    if row is None:
        return False
    db.delete(row)
    db.flush()
    audit.record(db, actor, "email.template_reset", "email_template", name, {"name": name})
    return True


def current_wording(db: Session, name: str) -> tuple[Wording, bool]:
    """(the wording in use, whether it is the owner's)."""
    row = db.get(EmailTemplate, name)
    if row is not None:
        return Wording(row.subject, row.text, row.html), True
    return default_wording(db, name), False


def customised_names(db: Session) -> set[str]:
    return set(db.scalars(sa.select(EmailTemplate.name)))

"""Outbound email: settings, queueing through the outbox, and delivery over SMTP."""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate

from sqlalchemy.orm import Session

from asthron import audit
from asthron.accounts.service import AccountError, normalize_email
from asthron.audit.service import Actor
from asthron.jobs.service import JobContext, PermanentJobError, add_outbox_item, outbox_handler
from asthron.notify.models import SMTP_SECURITY, SmtpSettings
from asthron.security.crypto import SecretBox, masked

EMAIL_KIND = "email.send"


class EmailConfigError(ValueError):
    """Email settings are missing or invalid; the message says which."""


class EmailNotConfigured(EmailConfigError):
    def __init__(self):
        super().__init__("Outbound email is not configured yet (Integrations → Email).")


@dataclass(frozen=True)
class SmtpSettingsInput:
    host: str
    port: int
    security: str
    username: str | None
    password: str | None  # None keeps the stored one; "" clears it
    from_address: str
    from_name: str | None = None
    timeout_seconds: int = 15

    @classmethod
    def parse(cls, data: dict) -> SmtpSettingsInput:
        host = str(data.get("host") or "").strip()
        if not host or len(host) > 255 or any(c.isspace() for c in host):
            raise EmailConfigError("Enter the SMTP server's host name.")
        try:
            port = int(str(data.get("port") or "").strip())
        except ValueError:
            raise EmailConfigError("The port must be a number.") from None
        if not 1 <= port <= 65535:
            raise EmailConfigError("The port must be between 1 and 65535.")
        security = data.get("security") or "starttls"
        if security not in SMTP_SECURITY:
            raise EmailConfigError("Security must be none, starttls or tls.")
        try:
            from_address = normalize_email(data.get("from_address"))
        except AccountError:
            raise EmailConfigError("Enter a valid sender address.") from None
        try:
            timeout = int(str(data.get("timeout_seconds") or 15))
        except ValueError:
            raise EmailConfigError("The timeout must be a number of seconds.") from None
        username = str(data.get("username") or "").strip() or None
        password = data.get("password")
        return cls(
            host=host,
            port=port,
            security=security,
            username=username[:255] if username else None,
            password=None
            if password in (None, "") and not data.get("clear_password")
            else ("" if data.get("clear_password") else str(password)),
            from_address=from_address,
            from_name=(str(data.get("from_name") or "").strip()[:120] or None),
            timeout_seconds=max(1, min(timeout, 120)),
        )


def get_settings(db: Session) -> SmtpSettings | None:
    return db.get(SmtpSettings, 1)


def save_settings(
    db: Session, box: SecretBox, actor: Actor, new: SmtpSettingsInput
) -> SmtpSettings:
    row = get_settings(db) or SmtpSettings(id=1)
    row.host, row.port, row.security = new.host, new.port, new.security
    row.username, row.from_address, row.from_name = new.username, new.from_address, new.from_name
    row.timeout_seconds = new.timeout_seconds
    password_changed = new.password is not None
    if password_changed:
        row.password_encrypted = box.encrypt(new.password) if new.password else None
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


def queue_email(db: Session, to: str, subject: str, text: str, html: str | None = None):
    """Record an email in the caller's transaction; it is sent once that commits."""
    to = normalize_email(to)
    return add_outbox_item(
        db,
        EMAIL_KIND,
        {
            "to": to,
            "subject": subject[:250],
            "text": text,
            "html": html,
            # Stable across retries, so a receiving server can drop a duplicate delivery.
            "message_id": f"<{uuid.uuid4().hex}@asthron>",
        },
    )


def build_message(row: SmtpSettings, payload: dict) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = payload["subject"]
    message["From"] = formataddr((row.from_name or "", row.from_address))
    message["To"] = str(Address(addr_spec=payload["to"]))
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = payload["message_id"]
    message.set_content(payload["text"])
    if payload.get("html"):
        message.add_alternative(payload["html"], subtype="html")
    return message


def open_connection(row: SmtpSettings, box: SecretBox) -> smtplib.SMTP:
    """Connect, secure and log in, or raise with an error a person can act on."""
    context = ssl.create_default_context()
    try:
        if row.security == "tls":
            smtp = smtplib.SMTP_SSL(
                row.host, row.port, timeout=row.timeout_seconds, context=context
            )
        else:
            smtp = smtplib.SMTP(row.host, row.port, timeout=row.timeout_seconds)
            if row.security == "starttls":
                smtp.starttls(context=context)
        if row.username:
            password = box.decrypt(row.password_encrypted) if row.password_encrypted else ""
            smtp.login(row.username, password)
    except smtplib.SMTPAuthenticationError as exc:
        raise EmailConfigError(
            f"The SMTP server refused the username or password ({exc.smtp_code})."
        ) from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise EmailConfigError(f"The SMTP server does not support this: {exc}") from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise EmailConfigError(f"Cannot reach {row.host}:{row.port}: {exc}") from exc
    return smtp


@outbox_handler(EMAIL_KIND)
def send_email(ctx: JobContext, payload: dict) -> None:
    row = get_settings(ctx.db)
    if row is None:
        # Not permanent: the owner may configure email later and the message still goes out.
        raise EmailNotConfigured()
    message = build_message(row, payload)
    smtp = open_connection(row, ctx.secret_box)
    try:
        refused = smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentJobError(f"recipient refused: {exc.recipients}") from exc
    finally:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            smtp.quit()
    if refused:
        raise PermanentJobError(f"recipient refused: {refused}")


def test_connection(db: Session, box: SecretBox) -> str:
    row = get_settings(db)
    if row is None:
        raise EmailNotConfigured()
    smtp = open_connection(row, box)
    smtp.quit()
    return f"Connected to {row.host}:{row.port} and logged in."

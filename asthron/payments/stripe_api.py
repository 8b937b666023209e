"""The Stripe connection: where the keys come from (the .ini, else the dashboard, encrypted),
the official SDK's client built from them, and Stripe's errors said plainly.

Keys in the .ini (``asthron.stripe.secret_key``, ``asthron.stripe.webhook_secret``) win over
the dashboard's. ``asthron.stripe.api_base`` points the SDK at another address (the tests'
loopback fake of the Stripe API).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import stripe
from sqlalchemy.orm import Session

from asthron.db import registry_of, utcnow
from asthron.payments.models import PaymentSettings
from asthron.security.crypto import masked

SETTINGS_ID = 1
KEY_PREFIXES = ("sk_test_", "rk_test_", "sk_live_", "rk_live_")
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
# Stripe's own default: an event signed longer ago than this is refused (replays).
DEFAULT_TOLERANCE = 300
NETWORK_RETRIES = 2
TIMEOUT_SECONDS = 20


class PaymentsNotConfigured(Exception):
    """No Stripe key is set: payments cannot be taken."""

    code = "payments_not_configured"

    def __init__(self):
        super().__init__("Payments are not set up: an owner must connect a Stripe account.")


@dataclass(frozen=True)
class StripeOptions:
    """What the .ini says about Stripe (read once at start)."""

    secret_key: str = ""
    webhook_secret: str = ""
    api_base: str = ""
    webhook_tolerance: int = DEFAULT_TOLERANCE

    @classmethod
    def from_extra(cls, extra: dict) -> StripeOptions:
        def get(key: str) -> str:
            return str(extra.get(f"asthron.stripe.{key}", "") or "").strip()

        tolerance = get("webhook_tolerance") or str(DEFAULT_TOLERANCE)
        if not tolerance.isdigit() or int(tolerance) < 1:
            raise ValueError("asthron.stripe.webhook_tolerance must be a positive number")
        return cls(
            secret_key=get("secret_key"),
            webhook_secret=get("webhook_secret"),
            api_base=get("api_base").rstrip("/"),
            webhook_tolerance=int(tolerance),
        )


# Where the Pay button's form ends up (a redirect to the hosted Checkout page): the page's CSP
# form-action must allow it, or the browser stops the redirect.
CHECKOUT_ORIGIN = "https://checkout.stripe.com"


def checkout_origins(db: Session) -> list[str]:
    api_base = options_of(db).api_base
    if api_base:
        # Another API address (the tests' fake) serves its own hosted page.
        scheme, _, rest = api_base.partition("://")
        return [CHECKOUT_ORIGIN, f"{scheme}://{rest.split('/')[0]}"]
    return [CHECKOUT_ORIGIN]


def key_mode(key: str) -> str:
    """ "test" or "live", from the key's prefix."""
    return "live" if "_live_" in key[:8] else "test"


def options_of(db: Session) -> StripeOptions:
    return registry_of(db)["stripe_options"]


def settings_row(db: Session) -> PaymentSettings:
    row = db.get(PaymentSettings, SETTINGS_ID)
    if row is None:
        row = PaymentSettings(id=SETTINGS_ID, updated_at=utcnow())
        db.add(row)
        db.flush()
    return row


def _stored(db: Session, column: str) -> str:
    row = db.get(PaymentSettings, SETTINGS_ID)
    token = getattr(row, column) if row is not None else None
    return db.info["secret_box"].decrypt(token) if token else ""


def secret_key(db: Session) -> str:
    return options_of(db).secret_key or _stored(db, "secret_key_encrypted")


def webhook_secret(db: Session) -> str:
    return options_of(db).webhook_secret or _stored(db, "webhook_secret_encrypted")


@dataclass(frozen=True)
class ConnectionState:
    configured: bool
    mode: str  # test | live | ""
    key_masked: str
    webhook_secret_masked: str
    from_ini: bool
    last_check_at: dt.datetime | None
    last_check_result: str


def connection_state(db: Session) -> ConnectionState:
    key, hook_secret = secret_key(db), webhook_secret(db)
    row = db.get(PaymentSettings, SETTINGS_ID)
    return ConnectionState(
        configured=bool(key),
        mode=key_mode(key) if key else "",
        key_masked=masked(key),
        webhook_secret_masked=masked(hook_secret),
        from_ini=bool(options_of(db).secret_key),
        last_check_at=row.last_check_at if row else None,
        last_check_result=row.last_check_result if row else "",
    )


def client_for_key(key: str, options: StripeOptions) -> stripe.StripeClient:
    """The official SDK's client. It retries connection errors, 409, 5xx and what Stripe
    marks retryable, with the same Idempotency-Key on every attempt."""
    return stripe.StripeClient(
        key,
        base_addresses={"api": options.api_base} if options.api_base else None,
        max_network_retries=NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
    )


def client(db: Session) -> stripe.StripeClient:
    key = secret_key(db)
    if not key:
        raise PaymentsNotConfigured()
    return client_for_key(key, options_of(db))


def explain(error: stripe.StripeError) -> str:
    """What went wrong, in words an owner can act on."""
    detail = error.user_message or str(error) or type(error).__name__
    if isinstance(error, stripe.AuthenticationError):
        return f"Stripe refused the key (401): it is wrong, revoked or rolled. ({detail})"
    if isinstance(error, stripe.PermissionError):
        return (
            "The key lacks a permission this needs (403): give the restricted key write access "
            f"to Checkout Sessions and Refunds and read access to Balance. ({detail})"
        )
    if isinstance(error, stripe.APIConnectionError):
        return f"Stripe could not be reached (network): {detail}"
    if isinstance(error, stripe.RateLimitError):
        return f"Stripe asked us to slow down (429); try again shortly. ({detail})"
    if isinstance(error, stripe.CardError):
        return f"The card was declined: {detail}"
    status = error.http_status or "error"
    return f"Stripe answered {status}: {detail}"


def check_connection(db: Session, key: str | None = None) -> tuple[bool, str]:
    """Ask Stripe for the balance with the key (the stored one by default): (ok, what it
    said). Stored as the last check."""
    key = key or secret_key(db)
    if not key:
        ok, result = False, "No Stripe key is set."
    else:
        try:
            balance = client_for_key(key, options_of(db)).v1.balance.retrieve()
            currencies = sorted({b.currency.upper() for b in (balance.available or [])})
            mode = "live" if balance.livemode else "test"
            ok = True
            result = (
                f"Connected ({mode} mode); balance in {', '.join(currencies) or 'no currency'}."
            )
        except stripe.StripeError as error:
            ok, result = False, explain(error)
    row = settings_row(db)
    row.last_check_at = utcnow()
    row.last_check_result = result[:500]
    return ok, result

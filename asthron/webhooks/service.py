"""Webhook endpoints, the deliveries domain events turn into, and the delivery attempts.

A domain event runs ``on_domain_event`` in its cause's transaction: one ``webhook_deliveries``
row and one outbox item per enabled endpoint that wants the event, so a rolled-back cause
delivers nothing. The delivery row is its own scheduler: an attempt first takes a lease on it
(one attempt at a time, whatever the outbox does), sends, and records the result; a failure
sets ``next_attempt_at`` by the retry schedule and adds the outbox item that makes it.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import random

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.accounts.models import User
from asthron.audit.service import Actor
from asthron.audit.service import record as audit
from asthron.db import new_transaction, registry_of, utcnow
from asthron.domain_events import EVENT_KINDS, DomainEvent
from asthron.jobs.service import add_outbox_item
from asthron.notify.service import queue_templated_email
from asthron.security.crypto import masked
from asthron.security.ssrf import SSRFError, check_url
from asthron.webhooks import sender, signing
from asthron.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

DELIVER_KIND = "webhooks.deliver"
TEST_EVENT = "webhook.test"
SCHEMA_VERSION = 1
# After the first attempt: Standard Webhooks' suggested schedule, about 27 hours in all.
RETRY_SCHEDULE = (
    dt.timedelta(seconds=5),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=10),
    dt.timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
JITTER = 0.2  # ± a fifth of each delay
MAX_RETRY_AFTER = dt.timedelta(hours=24)
DISABLE_AFTER = dt.timedelta(days=3)
ROTATION_OVERLAP = dt.timedelta(hours=24)
LEASE_MARGIN = dt.timedelta(seconds=60)
EXCERPT_CHARS = 2000

DEFAULTS = {
    "timeout_seconds": 10.0,
    "max_response_bytes": 64 * 1024,
    "max_payload_bytes": 256 * 1024,
}


class InFlight(RuntimeError):
    """An attempt holds the delivery's lease; the outbox retries the item later."""


class WebhookError(ValueError):
    """A refused change; the message is for the person who made it."""


def option(settings, name: str) -> float:
    """``asthron.webhooks.<name>`` from the .ini, or its default."""
    raw = settings.extra.get(f"asthron.webhooks.{name}")
    return float(raw) if raw not in (None, "") else DEFAULTS[name]


# -- endpoints --------------------------------------------------------------------------------


def check_events(events: list[str]) -> list[str]:
    unknown = [e for e in events if e not in EVENT_KINDS]
    if unknown:
        raise WebhookError(f"Unknown event type: {', '.join(unknown)}.")
    if not events:
        raise WebhookError("Choose at least one event.")
    return sorted(set(events))


def check_endpoint_url(url: str, allowlist) -> str:
    try:
        check_url(url, allowlist)
    except SSRFError as exc:
        raise WebhookError(str(exc)) from None
    return url


def list_endpoints(db: Session) -> list[WebhookEndpoint]:
    return list(db.scalars(sa.select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def create_endpoint(
    db: Session, box, actor: Actor, url: str, events: list[str], description: str | None, allowlist
) -> tuple[WebhookEndpoint, str]:
    """Returns the endpoint and its secret, which is shown this once."""
    events = check_events(events)
    check_endpoint_url(url, allowlist)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        url=url,
        description=description,
        events=events,
        enabled=True,
        secret_encrypted=box.encrypt(secret),
    )
    db.add(endpoint)
    db.flush()
    audit(
        db, actor, "webhook.create", "webhook_endpoint", endpoint.id, {"url": url, "events": events}
    )
    return endpoint, secret


def update_endpoint(
    db: Session,
    actor: Actor,
    endpoint: WebhookEndpoint,
    url: str,
    events: list[str],
    description: str | None,
    enabled: bool,
    allowlist,
) -> None:
    events = check_events(events)
    check_endpoint_url(url, allowlist)
    before = {"url": endpoint.url, "events": endpoint.events, "enabled": endpoint.enabled}
    endpoint.url, endpoint.events, endpoint.description = url, events, description
    if enabled and not endpoint.enabled:
        endpoint.disabled_reason, endpoint.failing_since = None, None
    endpoint.enabled = enabled
    audit(
        db,
        actor,
        "webhook.update",
        "webhook_endpoint",
        endpoint.id,
        {"from": before, "to": {"url": url, "events": events, "enabled": enabled}},
    )


def rotate_secret(db: Session, box, actor: Actor, endpoint: WebhookEndpoint) -> str:
    """A new secret; the old one keeps signing alongside it for ``ROTATION_OVERLAP``."""
    secret = signing.new_secret()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = utcnow() + ROTATION_OVERLAP
    endpoint.secret_encrypted = box.encrypt(secret)
    audit(db, actor, "webhook.rotate_secret", "webhook_endpoint", endpoint.id)
    return secret


def delete_endpoint(db: Session, actor: Actor, endpoint: WebhookEndpoint) -> None:
    audit(db, actor, "webhook.delete", "webhook_endpoint", endpoint.id, {"url": endpoint.url})
    db.execute(
        sa.delete(WebhookAttempt).where(
            WebhookAttempt.delivery_id.in_(
                sa.select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
            )
        )
    )
    db.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    db.delete(endpoint)


def masked_secret(box, endpoint: WebhookEndpoint) -> str:
    return masked(box.decrypt(endpoint.secret_encrypted))


def signing_secrets(box, endpoint: WebhookEndpoint, now: dt.datetime) -> list[str]:
    secrets_ = [box.decrypt(endpoint.secret_encrypted)]
    if endpoint.previous_secret_encrypted and (
        endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now
    ):
        secrets_.append(box.decrypt(endpoint.previous_secret_encrypted))
    return secrets_


# -- deliveries -------------------------------------------------------------------------------


def message_body(event_type: str, data: dict, at: dt.datetime) -> str:
    """The versioned payload (docs/webhooks.md has a JSON Schema per event type)."""
    return json.dumps(
        {
            "type": event_type,
            "timestamp": at.isoformat().replace("+00:00", "Z"),
            "schema_version": SCHEMA_VERSION,
            "data": data,
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def _new_delivery(
    db: Session, endpoint: WebhookEndpoint, event_type: str, body: str, **extra
) -> WebhookDelivery:
    settings = registry_of(db)["app_settings"]
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        message_id=signing.new_message_id(),
        event_type=event_type,
        body=body,
        state="pending",
        attempts=0,
        next_attempt_at=utcnow(),
        **extra,
    )
    limit = int(option(settings, "max_payload_bytes"))
    if len(body.encode()) > limit:
        # Kept, visible in the log and never sent: a receiver's limit is not ours to test.
        delivery.state = "failed"
        delivery.last_error = f"payload of {len(body.encode())} bytes exceeds {limit} bytes"
        log.error(
            "webhook %s for endpoint %s not sent: %s", event_type, endpoint.id, delivery.last_error
        )
    db.add(delivery)
    db.flush()
    if delivery.state == "pending":
        add_outbox_item(db, DELIVER_KIND, {"delivery_id": delivery.id})
    return delivery


def on_domain_event(db: Session, event: DomainEvent) -> None:
    """The subscriber for every kind: runs in the cause's transaction."""
    endpoints = [
        e
        for e in db.scalars(sa.select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True)))
        if event.kind in (e.events or [])
    ]
    if not endpoints:
        return
    db.flush()  # the event's id
    data = {"event_id": event.id, **event.payload}
    body = message_body(event.kind, data, event.created_at or utcnow())
    for endpoint in endpoints:
        _new_delivery(db, endpoint, event.kind, body, domain_event_id=event.id)


def send_test(db: Session, actor: Actor, endpoint: WebhookEndpoint) -> WebhookDelivery:
    body = message_body(TEST_EVENT, {"endpoint_id": endpoint.id}, utcnow())
    delivery = _new_delivery(db, endpoint, TEST_EVENT, body, is_test=True)
    audit(db, actor, "webhook.test", "webhook_endpoint", endpoint.id, {"delivery": delivery.id})
    return delivery


def redeliver(db: Session, actor: Actor, delivery: WebhookDelivery) -> None:
    """Send a delivery again, under the same ``webhook-id``, with a fresh series of retries."""
    endpoint = db.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None or not endpoint.enabled:
        raise WebhookError("The endpoint is disabled: enable it first.")
    if delivery.state == "pending":
        raise WebhookError("This delivery is still being attempted.")
    delivery.state = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    delivery.leased_until = None
    db.flush()
    add_outbox_item(db, DELIVER_KIND, {"delivery_id": delivery.id})
    audit(
        db,
        actor,
        "webhook.redeliver",
        "webhook_delivery",
        delivery.id,
        {"message_id": delivery.message_id},
    )


def deliveries(db: Session, endpoint_id: int, limit: int = 50) -> list[WebhookDelivery]:
    return list(
        db.scalars(
            sa.select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def attempts_of(db: Session, delivery_id: int) -> list[WebhookAttempt]:
    return list(
        db.scalars(
            sa.select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery_id)
            .order_by(WebhookAttempt.id)
        )
    )


# -- performing an attempt -----------------------------------------------------------------------


def retry_delay(attempts_done: int, rng=random) -> dt.timedelta | None:
    """The wait before the next attempt after ``attempts_done`` attempts, or None: give up."""
    if attempts_done >= MAX_ATTEMPTS:
        return None
    base = RETRY_SCHEDULE[attempts_done - 1].total_seconds()
    return dt.timedelta(seconds=base * (1 + rng.uniform(-JITTER, JITTER)))


def retry_after(value: str | None, now: dt.datetime) -> dt.timedelta | None:
    """A Retry-After header (seconds or an HTTP date), capped at a day."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        wait = dt.timedelta(seconds=int(value))
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        wait = when - now
    return max(dt.timedelta(0), min(wait, MAX_RETRY_AFTER))


def _claim(registry, delivery_id: int, lease: dt.timedelta) -> bool:
    with new_transaction(registry) as db:
        now = utcnow()
        result = db.execute(
            sa.update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.state == "pending",
                WebhookDelivery.next_attempt_at <= now,
                sa.or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until < now),
            )
            .values(leased_until=now + lease, attempts=WebhookDelivery.attempts + 1)
        )
        return result.rowcount == 1


def _excerpt(data: bytes | str) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


def perform(ctx, payload: dict) -> str:
    """Make the due attempt of one delivery (idempotent: a stale or duplicate item finds
    nothing due and does nothing)."""
    settings = ctx.settings
    timeout = option(settings, "timeout_seconds")
    delivery_id = payload["delivery_id"]
    if not _claim(ctx.registry, delivery_id, dt.timedelta(seconds=timeout) + LEASE_MARGIN):
        row = ctx.db.get(WebhookDelivery, delivery_id)
        if row is not None and row.state == "pending" and row.leased_until is not None:
            # Another worker's attempt is in flight, or one died mid-way: the outbox tries
            # this item again later, when the lease has expired.
            raise InFlight(f"delivery {delivery_id} is leased until {row.leased_until}")
        # Done, failed, or not due yet (a later item is scheduled for it): nothing to do.
        return "skipped"

    db = ctx.db
    delivery = db.get(WebhookDelivery, delivery_id)
    endpoint = db.get(WebhookEndpoint, delivery.endpoint_id)
    if not endpoint.enabled:
        delivery.state, delivery.leased_until = "failed", None
        delivery.last_error = "the endpoint is disabled"
        return "failed"

    body = delivery.body.encode()
    headers = signing.headers(
        signing_secrets(ctx.secret_box, endpoint, utcnow()), delivery.message_id, body
    )
    outcome = sender.post(
        endpoint.url,
        body,
        headers,
        allowlist=settings.outbound_allowed_private_hosts,
        timeout=timeout,
        max_bytes=int(option(settings, "max_response_bytes")),
    )
    return _record(db, endpoint, delivery, headers, outcome)


def _record(db, endpoint, delivery, headers, outcome: sender.Outcome) -> str:
    now = utcnow()
    number = delivery.attempts
    status, error = outcome.status, outcome.error
    wait: dt.timedelta | None = None
    disable_reason = None
    if outcome.ok:
        result = "delivered"
    elif status == 410:
        result, error = "failed", "410 Gone: the receiver asked to stop"
        disable_reason = "The receiver answered 410 Gone."
    else:
        if error is None and status is not None and 300 <= status < 400:
            error = f"redirect ({status}) to {outcome.headers.get('location', '?')!r} not followed"
        elif error is None:
            error = f"HTTP {status}"
        wait = retry_delay(number)
        if wait is not None and status in (429, 503):
            honoured = retry_after(outcome.headers.get("retry-after"), now)
            if honoured is not None:
                wait = honoured
        result = "retry" if wait is not None else "failed"

    request_excerpt = _excerpt(
        "".join(f"{k}: {v}\n" for k, v in headers.items()) + "\n" + delivery.body
    )
    response_excerpt = None
    if status is not None:
        response_excerpt = _excerpt(
            f"HTTP {status}\n"
            + "".join(f"{k}: {v}\n" for k, v in list(outcome.headers.items())[:20])
            + "\n"
            + outcome.body.decode("utf-8", "replace")
            + (" [truncated]" if outcome.truncated else "")
        )
    db.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            number=number,
            url=endpoint.url,
            request_excerpt=request_excerpt,
            status=status,
            response_excerpt=response_excerpt,
            error=error,
            outcome=result,
            duration_ms=outcome.duration_ms,
            created_at=now,
        )
    )
    delivery.last_status, delivery.last_error, delivery.leased_until = status, error, None
    if result == "delivered":
        delivery.state, delivery.delivered_at = "delivered", now
        endpoint.failing_since = None
        log.info("webhook %s delivered to endpoint %s", delivery.message_id, endpoint.id)
        return result

    log.warning(
        "webhook %s to endpoint %s, attempt %s: %s (%s)",
        delivery.message_id,
        endpoint.id,
        number,
        error,
        result,
    )
    if endpoint.failing_since is None:
        endpoint.failing_since = now
    elif now - endpoint.failing_since >= DISABLE_AFTER:
        disable_reason = disable_reason or "Every delivery failed for 3 days."
    if result == "retry":
        delivery.next_attempt_at = now + wait
        db.flush()
        add_outbox_item(db, DELIVER_KIND, {"delivery_id": delivery.id}, delay=wait)
    else:
        delivery.state = "failed"
    if disable_reason:
        disable(db, endpoint, disable_reason)
    return result


def disable(db: Session, endpoint: WebhookEndpoint, reason: str) -> None:
    """Switch an endpoint off (the system's decision), audit it and email the owners."""
    if not endpoint.enabled:
        return
    endpoint.enabled, endpoint.disabled_reason = False, reason
    audit(
        db, Actor.system(), "webhook.disable", "webhook_endpoint", endpoint.id, {"reason": reason}
    )
    log.warning("webhook endpoint %s disabled: %s", endpoint.id, reason)
    owners = db.scalars(sa.select(User).where(User.role == "owner", User.is_active.is_(True)))
    for owner in owners:
        queue_templated_email(db, owner.email, "webhook_disabled", url=endpoint.url, reason=reason)

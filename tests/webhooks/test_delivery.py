"""Delivery: Standard Webhooks signatures, retries under one webhook-id, 410, Retry-After,
redirects, timeouts, capped reads, oversized payloads and rolled-back causes."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import json
import logging
import random
import time

import pytest
import sqlalchemy as sa
import transaction

from asthron import domain_events
from asthron.db import get_tm_session, utcnow
from asthron.jobs.models import OutboxItem
from asthron.webhooks import service, signing
from asthron.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.webhooks.conftest import hang


def independent_signatures(secret: str, headers: dict, body: bytes) -> tuple[str, list[str]]:
    """The spec, written out without Asthron's code: base64(HMAC-SHA256(key, id.ts.body))."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [part.split(",", 1)[1] for part in headers["webhook-signature"].split()]
    assert all(part.startswith("v1,") for part in headers["webhook-signature"].split())
    return expected, offered


def test_a_domain_event_is_delivered_signed_per_the_spec(receiver, make_endpoint, fire, deliveries):
    endpoint_id, secret = make_endpoint(receiver.url)
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    event_id = fire()

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    headers, body = request["headers"], request["body"]
    expected, offered = independent_signatures(secret, headers, body)
    assert offered == [expected]
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 30
    assert headers["webhook-id"].startswith("msg_")
    assert headers["content-type"] == "application/json"
    assert headers["host"] == f"127.0.0.1:{receiver.port}"
    payload = json.loads(body)
    assert payload["type"] == "conversation.created"
    assert payload["schema_version"] == 1
    assert payload["data"] == {
        "event_id": event_id,
        "conversation_id": 7,
        "site_id": 1,
        "visitor_id": 340,
    }
    assert payload["timestamp"].endswith("Z")
    [row] = deliveries()
    assert (row["state"], row["attempts"], row["message_id"]) == (
        "delivered",
        1,
        headers["webhook-id"],
    )
    # Our own verifier (the one docs/webhooks.md shows) accepts it and refuses forgeries.
    signing.verify(secret, headers, body)
    forged = dict(headers, **{"webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()})
    for bad_headers, bad_body in (
        (forged, body),
        (headers, body + b" "),
        (dict(headers, **{"webhook-id": "msg_other"}), body),
        (dict(headers, **{"webhook-timestamp": str(int(time.time()) - 3600)}), body),
        ({k: v for k, v in headers.items() if k != "webhook-signature"}, body),
    ):
        with pytest.raises(signing.SignatureError):
            signing.verify(secret, bad_headers, bad_body)
    with pytest.raises(signing.SignatureError):
        signing.verify(signing.new_secret(), headers, body)


def test_only_enabled_endpoints_that_want_the_event_get_it(
    make_receiver, make_endpoint, fire, run_in_tm
):
    wants, other, disabled = make_receiver(), make_receiver(), make_receiver()
    make_endpoint(wants.url, events=("lead.created", "conversation.created"))
    make_endpoint(other.url, events=("lead.qualified",))
    disabled_id, _ = make_endpoint(disabled.url)
    run_in_tm(lambda db: setattr(db.get(WebhookEndpoint, disabled_id), "enabled", False))
    fire()
    fire("lead.created", lead_id=3, source="chat", conversation_id=7)
    assert [json.loads(r["body"])["type"] for r in wants.requests] == [
        "conversation.created",
        "lead.created",
    ]
    assert other.requests == [] and disabled.requests == []


def test_an_event_in_a_rolled_back_transaction_delivers_nothing(
    receiver, make_endpoint, registry, run_in_tm
):
    make_endpoint(receiver.url)
    tm = transaction.TransactionManager(explicit=True)
    tm.begin()
    db = get_tm_session(registry["dbsession_factory"], tm)
    domain_events.record(db, "conversation.created", conversation_id=1, site_id=1, visitor_id="v")
    db.flush()
    assert db.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 1
    tm.abort()
    db.close()

    counts = run_in_tm(
        lambda db: (
            db.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)),
            db.scalar(
                sa.select(sa.func.count())
                .select_from(OutboxItem)
                .where(OutboxItem.kind == service.DELIVER_KIND)
            ),
        )
    )
    assert counts == (0, 0)
    assert receiver.requests == []


def test_the_webhook_id_is_kept_across_retries_and_a_500_forever_gives_up(
    receiver, make_endpoint, fire, retry_now, deliveries, run_in_tm, caplog
):
    caplog.set_level(logging.WARNING, logger="asthron.webhooks")
    receiver.replies = [(500, {}, b"broken")]
    make_endpoint(receiver.url)
    fire()
    [row] = deliveries()
    assert row["state"] == "pending" and row["attempts"] == 1
    # The next attempt waits by the schedule (5 s ± 20 %), not at once.
    wait = (row["next_attempt_at"] - utcnow()).total_seconds()
    assert 3 < wait <= 6.1
    for _ in range(service.MAX_ATTEMPTS + 2):
        retry_now()
    [row] = deliveries()
    assert row["state"] == "failed"
    assert row["attempts"] == service.MAX_ATTEMPTS == len(receiver.requests)
    ids = {r["headers"]["webhook-id"] for r in receiver.requests}
    assert ids == {row["message_id"]}
    assert "HTTP 500" in row["last_error"]
    attempts = run_in_tm(
        lambda db: [(a.number, a.status, a.outcome) for a in db.scalars(sa.select(WebhookAttempt))]
    )
    assert [a[0] for a in attempts] == list(range(1, service.MAX_ATTEMPTS + 1))
    assert attempts[-1][2] == "failed" and {a[1] for a in attempts} == {500}
    assert any("HTTP 500" in r.getMessage() for r in caplog.records)


def test_a_retry_succeeds_under_the_same_id(receiver, make_endpoint, fire, retry_now, deliveries):
    receiver.replies = [(503, {}, b"busy"), (200, {}, b"ok")]
    make_endpoint(receiver.url)
    fire()
    retry_now()
    retry_now()  # nothing more to do: no third request
    [row] = deliveries()
    assert row["state"] == "delivered" and row["attempts"] == 2
    first, second = (r["headers"] for r in receiver.requests)
    assert first["webhook-id"] == second["webhook-id"] == row["message_id"]


def test_the_schedule_spans_about_a_day_with_jitter():
    rng = random.Random(1)
    delays = [service.retry_delay(n, rng) for n in range(1, service.MAX_ATTEMPTS)]
    total = sum(d.total_seconds() for d in delays) / 3600
    assert 20 < total < 34
    assert service.retry_delay(service.MAX_ATTEMPTS) is None
    samples = {service.retry_delay(1, rng).total_seconds() for _ in range(20)}
    assert len(samples) > 1 and all(4 <= s <= 6 for s in samples)


def test_410_disables_the_endpoint_and_emails_the_owner(
    receiver, make_endpoint, fire, deliveries, run_in_tm, make_user
):
    owner = make_user("owner")
    receiver.replies = [(410, {}, b"gone")]
    endpoint_id, _ = make_endpoint(receiver.url)
    fire()
    fire()  # the endpoint is off now: nothing more is sent
    assert len(receiver.requests) == 1
    [row] = deliveries()
    assert row["state"] == "failed" and "410" in row["last_error"]
    endpoint = run_in_tm(lambda db: db.get(WebhookEndpoint, endpoint_id))
    assert endpoint.enabled is False and "410" in endpoint.disabled_reason
    emails = run_in_tm(
        lambda db: [
            i.payload.get("to") for i in db.scalars(sa.select(OutboxItem)) if i.kind == "email.send"
        ]
    )
    assert emails == [owner["email"]]


def test_failing_for_three_days_disables(receiver, make_endpoint, fire, run_in_tm, retry_now):
    receiver.replies = [(500, {}, b"")]
    endpoint_id, _ = make_endpoint(receiver.url)
    fire()
    since = utcnow() - dt.timedelta(days=3, minutes=1)
    run_in_tm(lambda db: setattr(db.get(WebhookEndpoint, endpoint_id), "failing_since", since))
    retry_now()
    endpoint = run_in_tm(lambda db: db.get(WebhookEndpoint, endpoint_id))
    assert endpoint.enabled is False and "3 days" in endpoint.disabled_reason


@pytest.mark.parametrize(
    "status, retry_after, expected",
    [
        (429, "120", 120),
        (503, "30", 30),
        (429, None, 5),  # no header: the schedule (5 s ± 20 %)
        (429, "999999", 24 * 3600),  # capped at a day
    ],
)
def test_429_and_503_honour_retry_after(
    receiver, make_endpoint, fire, deliveries, status, retry_after, expected
):
    receiver.replies = [(status, {"Retry-After": retry_after} if retry_after else {}, b"")]
    make_endpoint(receiver.url)
    fire()
    [row] = deliveries()
    wait = (row["next_attempt_at"] - utcnow()).total_seconds()
    assert row["state"] == "pending"
    assert expected * 0.75 <= wait <= expected + 2


def test_retry_after_as_an_http_date():
    now = utcnow()
    later = email.utils.format_datetime(now + dt.timedelta(seconds=90), usegmt=True)
    assert 85 <= service.retry_after(later, now).total_seconds() <= 91
    assert service.retry_after("soon", now) is None


def test_a_redirect_is_a_failure_and_is_not_followed(
    make_receiver, make_endpoint, fire, deliveries
):
    target = make_receiver()
    redirecting = make_receiver()
    redirecting.replies = [(302, {"Location": target.url}, b"")]
    make_endpoint(redirecting.url)
    fire()
    [row] = deliveries()
    assert row["state"] == "pending" and "redirect (302)" in row["last_error"]
    assert target.requests == []


def test_a_hanging_receiver_times_out(receiver, make_endpoint, fire, deliveries, run_in_tm):
    receiver.replies = [hang(5)]
    make_endpoint(receiver.url)
    started = time.monotonic()
    fire()
    assert time.monotonic() - started < 4
    [row] = deliveries()
    assert row["state"] == "pending" and "timed out after 1 s" in row["last_error"]
    [attempt] = run_in_tm(lambda db: list(db.scalars(sa.select(WebhookAttempt))))
    assert attempt.outcome == "retry" and attempt.duration_ms < 3000


def test_the_response_body_read_is_capped(receiver, make_endpoint, fire, run_in_tm, ini_settings):
    big = b"A" * (2 * 1024 * 1024)
    receiver.replies = [(200, {}, big)]
    make_endpoint(receiver.url)
    fire()
    [attempt] = run_in_tm(lambda db: list(db.scalars(sa.select(WebhookAttempt))))
    assert attempt.outcome == "delivered"
    assert len(attempt.response_excerpt) < 3000


def test_an_oversized_payload_is_logged_and_never_sent(
    receiver, make_endpoint, fire, deliveries, app, caplog
):
    app.registry["app_settings"].extra["asthron.webhooks.max_payload_bytes"] = "100"
    make_endpoint(receiver.url, events=("handoff.requested",))
    caplog.set_level(logging.ERROR, logger="asthron.webhooks")
    fire(
        "handoff.requested",
        conversation_id=1,
        site_id=1,
        trigger="keyword",
        reason="x" * 500,
        someone_available=True,
    )
    [row] = deliveries()
    assert row["state"] == "failed" and "exceeds 100 bytes" in row["last_error"]
    assert receiver.requests == []
    assert any("exceeds 100 bytes" in r.getMessage() for r in caplog.records)


def test_a_duplicate_outbox_item_sends_nothing_twice(
    receiver, make_endpoint, fire, run_in_tm, retry_now
):
    from asthron.jobs.service import add_outbox_item

    make_endpoint(receiver.url)
    fire()
    delivery_id = run_in_tm(lambda db: db.scalar(sa.select(WebhookDelivery.id)))
    run_in_tm(lambda db: add_outbox_item(db, service.DELIVER_KIND, {"delivery_id": delivery_id}))
    retry_now()
    assert len(receiver.requests) == 1


def test_a_secret_rotation_signs_with_both(receiver, make_endpoint, fire, run_in_tm, registry):
    from asthron.audit.service import Actor

    endpoint_id, old = make_endpoint(receiver.url)
    new = run_in_tm(
        lambda db: service.rotate_secret(
            db, registry["secret_box"], Actor.cli(), db.get(WebhookEndpoint, endpoint_id)
        )
    )
    fire()
    headers, body = receiver.requests[0]["headers"], receiver.requests[0]["body"]
    offered = independent_signatures(new, headers, body)[1]
    assert offered == [
        independent_signatures(new, headers, body)[0],
        independent_signatures(old, headers, body)[0],
    ]
    signing.verify(old, headers, body)
    signing.verify(new, headers, body)


def test_a_worker_dying_mid_attempt_is_retried_under_the_same_id(
    receiver, make_endpoint, fire, run_in_tm, retry_now, deliveries, monkeypatch
):
    real = service._record
    calls = []

    def crash_once(*args):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("worker died after sending")
        return real(*args)

    monkeypatch.setattr(service, "_record", crash_once)
    make_endpoint(receiver.url)
    fire()
    assert len(receiver.requests) == 1
    [row] = deliveries()
    assert row["state"] == "pending"
    retry_now()  # the lease still holds: no second request yet
    assert len(receiver.requests) == 1
    past = utcnow() - dt.timedelta(seconds=1)
    run_in_tm(lambda db: db.execute(sa.update(WebhookDelivery).values(leased_until=past)))
    retry_now()
    [row] = deliveries()
    assert row["state"] == "delivered" and row["attempts"] == 2
    ids = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert ids == [row["message_id"]] * 2

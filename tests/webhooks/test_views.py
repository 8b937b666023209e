"""The dashboard: create (secret shown once), list, edit, test event, delivery log and
redelivery, for owners and admins only, every change audited."""

from __future__ import annotations

import re

import sqlalchemy as sa

from asthron.audit.models import AuditEntry
from asthron.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import csrf_from

SECRET_RE = re.compile(r"<code data-secret>(whsec_[A-Za-z0-9+/=]+)</code>")


def _create(testapp, url, events=("conversation.created",), status=201):
    page = testapp.get("/integrations/webhooks")
    form = {"csrf_token": csrf_from(page), "url": url, "description": "CRM"}
    form.update({f"event:{kind}": "1" for kind in events})
    return testapp.post("/integrations/webhooks", form, status=status)


def test_admin_creates_tests_and_redelivers(testapp, login, make_user, receiver, run_in_tm):
    login(make_user("admin"))
    created = _create(testapp, receiver.url)
    secret = SECRET_RE.search(created.text).group(1)
    endpoint = run_in_tm(lambda db: db.scalar(sa.select(WebhookEndpoint)))
    # Stored encrypted; shown masked afterwards, never again in full.
    assert secret not in endpoint.secret_encrypted
    detail = testapp.get(f"/integrations/webhooks/{endpoint.id}")
    assert secret not in detail.text and "whsec_" not in testapp.get("/integrations/webhooks").text
    assert receiver.url in testapp.get("/integrations/webhooks").text

    testapp.post(
        f"/integrations/webhooks/{endpoint.id}/test",
        {"csrf_token": csrf_from(detail)},
        status=303,
    )
    assert [r["headers"]["webhook-id"] for r in receiver.requests]
    first_id = receiver.requests[0]["headers"]["webhook-id"]
    assert b'"type":"webhook.test"' in receiver.requests[0]["body"]
    delivery = run_in_tm(lambda db: db.scalar(sa.select(WebhookDelivery)))
    log_page = testapp.get(f"/integrations/webhooks/{endpoint.id}/deliveries/{delivery.id}")
    assert "webhook-signature" in log_page.text and "HTTP 200" in log_page.text

    testapp.post(
        f"/integrations/webhooks/{endpoint.id}/deliveries/{delivery.id}/redeliver",
        {"csrf_token": csrf_from(log_page)},
        status=303,
    )
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [first_id, first_id]

    testapp.post(
        f"/integrations/webhooks/{endpoint.id}",
        {"csrf_token": csrf_from(detail), "url": receiver.url, "event:lead.created": "1"},
        status=303,
    )
    endpoint = run_in_tm(lambda db: db.get(WebhookEndpoint, endpoint.id))
    assert endpoint.events == ["lead.created"] and endpoint.enabled is False

    actions = run_in_tm(lambda db: [e.action for e in db.scalars(sa.select(AuditEntry))])
    for action in ("webhook.create", "webhook.test", "webhook.redeliver", "webhook.update"):
        assert action in actions
    everything = run_in_tm(lambda db: [str(e.summary) for e in db.scalars(sa.select(AuditEntry))])
    assert secret not in " ".join(everything)


def test_rotation_shows_the_new_secret_once(testapp, login, make_user, receiver, run_in_tm):
    login(make_user("owner"))
    first = SECRET_RE.search(_create(testapp, receiver.url).text).group(1)
    endpoint_id = run_in_tm(lambda db: db.scalar(sa.select(WebhookEndpoint.id)))
    detail = testapp.get(f"/integrations/webhooks/{endpoint_id}")
    rotated = testapp.post(
        f"/integrations/webhooks/{endpoint_id}/rotate", {"csrf_token": csrf_from(detail)}
    )
    second = SECRET_RE.search(rotated.text).group(1)
    assert second != first


def test_bad_input_is_refused(testapp, login, make_user, receiver, run_in_tm):
    login(make_user("owner"))
    unknown = _create(testapp, receiver.url, events=("order.shipped",), status=400)
    assert "Unknown event type: order.shipped" in unknown.text
    none = _create(testapp, receiver.url, events=(), status=400)
    assert "at least one event" in none.text
    private = _create(testapp, "http://169.254.169.254/latest/", status=400)
    assert "link-local" in private.text
    assert run_in_tm(lambda db: db.scalar(sa.select(sa.func.count(WebhookEndpoint.id)))) == 0


def test_staff_cannot_see_or_change_webhooks(testapp, login, make_user, receiver):
    login(make_user("staff"))
    testapp.get("/integrations/webhooks", status=403)
    page = testapp.get("/")
    testapp.post(
        "/integrations/webhooks",
        {"csrf_token": csrf_from(page), "url": receiver.url, "event:lead.created": "1"},
        status=403,
    )
    assert receiver.requests == []


def test_delete_and_re_enable(testapp, login, make_user, receiver, run_in_tm):
    login(make_user("owner"))
    _create(testapp, receiver.url)
    endpoint_id = run_in_tm(lambda db: db.scalar(sa.select(WebhookEndpoint.id)))
    run_in_tm(lambda db: db.get(WebhookEndpoint, endpoint_id).__setattr__("enabled", False))
    detail = testapp.get(f"/integrations/webhooks/{endpoint_id}")
    testapp.post(
        f"/integrations/webhooks/{endpoint_id}",
        {
            "csrf_token": csrf_from(detail),
            "url": receiver.url,
            "event:conversation.created": "1",
            "enabled": "1",
        },
        status=303,
    )
    assert run_in_tm(lambda db: db.get(WebhookEndpoint, endpoint_id).enabled) is True
    testapp.post(
        f"/integrations/webhooks/{endpoint_id}/delete",
        {"csrf_token": csrf_from(detail)},
        status=303,
    )
    assert run_in_tm(lambda db: db.get(WebhookEndpoint, endpoint_id)) is None
    testapp.get(f"/integrations/webhooks/{endpoint_id}", status=404)

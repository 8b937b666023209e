"""Integrations → Webhooks: endpoints, their secrets (shown once), test events, the delivery
log and redelivery (owners and admins)."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config

from asthron.domain_events import EVENT_KINDS
from asthron.forms import FormError, field, matched_id, notice, redirect
from asthron.security.crypto import SecretDecryptionError
from asthron.security.permissions import Permission
from asthron.webhooks import service
from asthron.webhooks.models import WebhookDelivery, WebhookEndpoint

EVENT_FIELD = "event:"


def _form(request) -> dict:
    """The posted endpoint form: url, description, events (one checkbox per kind), enabled."""
    url = field(request, "url", 2000).strip()
    description = field(request, "description", 200).strip() or None
    # Every posted event:* box is checked, known or not, so an unknown kind is refused.
    events = [name[len(EVENT_FIELD) :] for name in request.POST if name.startswith(EVENT_FIELD)]
    for name in events:
        field(request, EVENT_FIELD + name, 10)  # each box at most once
    errors = {}
    if not url:
        errors["url"] = "Enter the URL to deliver to."
    try:
        events = service.check_events(events)
    except service.WebhookError as exc:
        errors["events"] = str(exc)
    if errors:
        raise FormError(errors, {"url": url, "description": description or ""})
    return {"url": url, "description": description, "events": events}


def _endpoint(request) -> WebhookEndpoint:
    endpoint = request.db.get(WebhookEndpoint, matched_id(request, "endpoint_id"))
    if endpoint is None:
        raise HTTPNotFound()
    return endpoint


def _delivery(request, endpoint: WebhookEndpoint) -> WebhookDelivery:
    delivery = request.db.get(WebhookDelivery, matched_id(request, "delivery_id"))
    if delivery is None or delivery.endpoint_id != endpoint.id:
        raise HTTPNotFound()
    return delivery


def _list_page(request, status=200, error=None, errors=None, values=None, secret=None):
    request.response.status_code = status
    return {
        "endpoints": service.list_endpoints(request.db),
        "event_kinds": EVENT_KINDS,
        "values": values or {"url": "", "description": "", "events": []},
        "error": error,
        "errors": errors or {},
        "secret": secret,
        "notice": notice(request),
    }


@view_config(
    route_name="webhooks.list",
    renderer="webhooks/list.html",
    permission=Permission.WEBHOOKS,
    request_method="GET",
)
def endpoint_list(request):
    return _list_page(request)


@view_config(
    route_name="webhooks.list",
    renderer="webhooks/list.html",
    permission=Permission.WEBHOOKS,
    request_method="POST",
)
def endpoint_create(request):
    try:
        form = _form(request)
        endpoint, secret = service.create_endpoint(
            request.db,
            request.secret_box,
            request.actor,
            form["url"],
            form["events"],
            form["description"],
            request.app_settings.outbound_allowed_private_hosts,
        )
    except FormError as exc:
        return _list_page(request, 400, exc.message, exc.errors, dict(exc.values, events=[]))
    except service.WebhookError as exc:
        values = {"url": request.POST.get("url", ""), "description": "", "events": []}
        return _list_page(request, 400, str(exc), {"url": str(exc)}, values)
    # The secret is shown on this page only: it is stored encrypted and masked afterwards.
    return _list_page(request, 201, secret={"endpoint": endpoint, "value": secret})


def _detail_page(request, endpoint, status=200, error=None, errors=None, secret=None):
    request.response.status_code = status
    try:
        masked = service.masked_secret(request.secret_box, endpoint)
    except SecretDecryptionError as exc:
        masked, error = "", error or str(exc)
    return {
        "endpoint": endpoint,
        "event_kinds": EVENT_KINDS,
        "masked_secret": masked,
        "deliveries": service.deliveries(request.db, endpoint.id),
        "error": error,
        "errors": errors or {},
        "secret": secret,
        "notice": notice(request),
    }


@view_config(
    route_name="webhooks.detail",
    renderer="webhooks/detail.html",
    permission=Permission.WEBHOOKS,
    request_method="GET",
)
def endpoint_detail(request):
    return _detail_page(request, _endpoint(request))


@view_config(
    route_name="webhooks.detail",
    renderer="webhooks/detail.html",
    permission=Permission.WEBHOOKS,
    request_method="POST",
)
def endpoint_update(request):
    endpoint = _endpoint(request)
    try:
        form = _form(request)
        service.update_endpoint(
            request.db,
            request.actor,
            endpoint,
            form["url"],
            form["events"],
            form["description"],
            field(request, "enabled", 10) == "1",
            request.app_settings.outbound_allowed_private_hosts,
        )
    except FormError as exc:
        return _detail_page(request, endpoint, 400, exc.message, exc.errors)
    except service.WebhookError as exc:
        return _detail_page(request, endpoint, 400, str(exc), {"url": str(exc)})
    return redirect(request, "webhooks.detail", "webhook_saved", endpoint_id=endpoint.id)


@view_config(
    route_name="webhooks.rotate",
    renderer="webhooks/detail.html",
    permission=Permission.WEBHOOKS,
    request_method="POST",
)
def endpoint_rotate(request):
    endpoint = _endpoint(request)
    secret = service.rotate_secret(request.db, request.secret_box, request.actor, endpoint)
    return _detail_page(request, endpoint, secret=secret)


@view_config(route_name="webhooks.delete", permission=Permission.WEBHOOKS, request_method="POST")
def endpoint_delete(request):
    service.delete_endpoint(request.db, request.actor, _endpoint(request))
    return redirect(request, "webhooks.list", "webhook_deleted")


@view_config(route_name="webhooks.test", permission=Permission.WEBHOOKS, request_method="POST")
def endpoint_test(request):
    endpoint = _endpoint(request)
    service.send_test(request.db, request.actor, endpoint)
    return redirect(request, "webhooks.detail", "webhook_test_queued", endpoint_id=endpoint.id)


@view_config(
    route_name="webhooks.delivery",
    renderer="webhooks/delivery.html",
    permission=Permission.WEBHOOKS,
    request_method="GET",
)
def delivery_detail(request, error=None, status=200):
    endpoint = _endpoint(request)
    delivery = _delivery(request, endpoint)
    request.response.status_code = status
    return {
        "endpoint": endpoint,
        "delivery": delivery,
        "attempts": service.attempts_of(request.db, delivery.id),
        "error": error,
        "notice": notice(request),
    }


@view_config(
    route_name="webhooks.redeliver",
    renderer="webhooks/delivery.html",
    permission=Permission.WEBHOOKS,
    request_method="POST",
)
def delivery_redeliver(request):
    endpoint = _endpoint(request)
    delivery = _delivery(request, endpoint)
    try:
        service.redeliver(request.db, request.actor, delivery)
    except service.WebhookError as exc:
        return delivery_detail(request, str(exc), 400)
    return redirect(
        request,
        "webhooks.delivery",
        "webhook_redelivery_queued",
        endpoint_id=endpoint.id,
        delivery_id=delivery.id,
    )

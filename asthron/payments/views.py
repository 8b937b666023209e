"""Payments' pages: connecting Stripe (owner), the payments list, a payment with its events
and refunds (owners and admins), asking for a payment in a conversation (staff), the
customer's pay page, and the Stripe webhook."""

from __future__ import annotations

import datetime as dt

from pyramid.httpexceptions import HTTPFound, HTTPNotFound, HTTPSeeOther
from pyramid.response import Response
from pyramid.view import view_config

from asthron import audit
from asthron.conversations.models import Conversation
from asthron.db import utcnow
from asthron.forms import FormError, matched_id, notice, parse_form, query_field, redirect
from asthron.payments import service, stripe_api
from asthron.payments.forms import (
    CURRENCY_CHOICES,
    ConnectionForm,
    PaymentRequestForm,
    RefundForm,
)
from asthron.payments.models import Payment
from asthron.security.permissions import Permission

# -- connecting Stripe ---------------------------------------------------------------------


def _connection_page(request, errors=None, message=None, ok=None):
    return {
        "state": stripe_api.connection_state(request.db),
        "hook_url": request.route_url("hooks.stripe"),
        "errors": errors or {},
        "message": message,
        "ok": ok,
        "notice": notice(request),
    }


@view_config(
    route_name="payments.settings",
    renderer="payments/settings.html",
    permission=Permission.INTEGRATIONS,
    request_method="GET",
)
def settings_page(request):
    return _connection_page(request)


@view_config(
    route_name="payments.settings",
    renderer="payments/settings.html",
    permission=Permission.INTEGRATIONS,
    request_method="POST",
)
def settings_save(request):
    try:
        form = parse_form(ConnectionForm, request.POST)
    except FormError as error:
        request.response.status = 400
        return _connection_page(request, errors=error.errors)
    row = stripe_api.settings_row(request.db)
    box = request.secret_box
    changed = []
    if form.secret_key:
        row.secret_key_encrypted = box.encrypt(form.secret_key)
        changed.append(f"key ({stripe_api.key_mode(form.secret_key)} mode)")
    if form.webhook_secret:
        row.webhook_secret_encrypted = box.encrypt(form.webhook_secret)
        changed.append("webhook signing secret")
    if not changed:
        return redirect(request, "payments.settings", "nothing_changed")
    row.updated_at = utcnow()
    audit.record(
        request.db,
        request.actor,
        "payments.settings_update",
        "payment_settings",
        1,
        {"changed": ", ".join(changed)},
    )
    return redirect(request, "payments.settings", "payments_saved")


@view_config(
    route_name="payments.check",
    renderer="payments/settings.html",
    permission=Permission.INTEGRATIONS,
    request_method="POST",
)
def settings_check(request):
    ok, result = stripe_api.check_connection(request.db)
    if not ok:
        request.response.status = 400
    return _connection_page(request, message=result, ok=ok)


# -- the dashboard list and detail -----------------------------------------------------------


def _date(request, name: str) -> dt.date | None:
    text = query_field(request, name, 10)
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


@view_config(
    route_name="payments.list",
    renderer="payments/list.html",
    permission=Permission.PAYMENTS,
    request_method="GET",
)
def payment_list(request):
    status = query_field(request, "status", 20)
    kind = query_field(request, "kind", 20)
    query = service.PaymentQuery(
        status=status if status in service.STATUS_FILTERS else "",
        kind=kind if kind in service.KIND_FILTERS else "",
        since=_date(request, "since"),
        until=_date(request, "until"),
    )
    return {
        "payments": service.search(request.db, query),
        "query": query,
        "statuses": service.STATUS_FILTERS,
        "kinds": service.KIND_FILTERS,
        "totals": service.monthly_totals(request.db),
        "amount": service.format_amount,
        "state": stripe_api.connection_state(request.db),
    }


def _payment(request) -> Payment:
    payment = request.db.get(Payment, matched_id(request, "payment_id"))
    if payment is None:
        raise HTTPNotFound()
    return payment


def _detail(request, payment, errors=None, values=None):
    return {
        "payment": payment,
        "events": service.events_of(request.db, payment),
        "refunds": service.refunds_of(request.db, payment),
        "refundable": max(service.refundable_cents(request.db, payment), 0),
        "amount": service.format_amount,
        "currencies": CURRENCY_CHOICES,
        "errors": errors or {},
        "values": values or {},
        "notice": notice(request),
    }


@view_config(
    route_name="payments.detail",
    renderer="payments/detail.html",
    permission=Permission.PAYMENTS,
    request_method="GET",
)
def payment_detail(request):
    return _detail(request, _payment(request))


@view_config(
    route_name="payments.refund",
    renderer="payments/detail.html",
    permission=Permission.PAYMENTS,
    request_method="POST",
)
def payment_refund(request):
    payment = _payment(request)
    try:
        form = parse_form(RefundForm, request.POST)
        service.refund(
            request.db,
            request.actor,
            payment,
            form.amount_cents,
            form.currency,
            form.reason or "refunded by hand",
        )
    except FormError as error:
        request.response.status = 400
        return _detail(request, payment, errors=error.errors, values=error.values)
    except service.RefundError as error:
        request.response.status = 400
        return _detail(request, payment, errors={"": str(error)}, values=dict(request.POST))
    return redirect(request, "payments.detail", "refund_requested", payment_id=payment.id)


# -- payment requests in a conversation ------------------------------------------------------


def _conversation(request) -> Conversation:
    conversation = request.db.get(Conversation, matched_id(request, "conversation_id"))
    if conversation is None:
        raise HTTPNotFound()
    return conversation


@view_config(
    route_name="payments.request",
    renderer="payments/request.html",
    permission=Permission.PAYMENT_REQUESTS,
    request_method="GET",
)
def request_form(request):
    return {
        "conversation": _conversation(request),
        "currencies": CURRENCY_CHOICES,
        "errors": {},
        "values": {},
        "configured": stripe_api.connection_state(request.db).configured,
    }


@view_config(
    route_name="payments.request",
    renderer="payments/request.html",
    permission=Permission.PAYMENT_REQUESTS,
    request_method="POST",
)
def request_send(request):
    conversation = _conversation(request)
    page = {
        "conversation": conversation,
        "currencies": CURRENCY_CHOICES,
        "configured": stripe_api.connection_state(request.db).configured,
    }
    if not page["configured"]:
        request.response.status = 400
        message = str(stripe_api.PaymentsNotConfigured())
        return {**page, "errors": {"": message}, "values": dict(request.POST)}
    try:
        form = parse_form(PaymentRequestForm, request.POST)
        if conversation.status != "open":
            raise FormError({"": "This conversation is closed."})
        service.request_payment(
            request.db,
            request.actor,
            conversation,
            form.amount_cents,
            form.currency,
            form.description,
        )
    except FormError as error:
        request.response.status = 400
        return {**page, "errors": error.errors, "values": error.values}
    return redirect(request, "inbox.detail", conversation_id=conversation.id)


# -- the customer's pay page -----------------------------------------------------------------


def _by_reference(request) -> Payment:
    try:
        return service.by_reference(request.db, request.matchdict.get("reference", ""))
    except service.PaymentNotFound:
        raise HTTPNotFound() from None


def _pay_page(request, payment, message=None):
    checkout = query_field(request, "checkout", 20)
    # The Pay button's POST is answered with a redirect to Stripe's hosted page.
    request.csp["form-action"] = ["'self'", *stripe_api.checkout_origins(request.db)]
    return {
        "payment": payment,
        "amount": service.format_amount(payment.amount_cents, payment.currency),
        "message": message,
        "checkout": checkout if checkout in ("success", "cancelled") else "",
        "now": dt.datetime.now(dt.UTC),
    }


@view_config(route_name="payments.pay", renderer="payments/pay.html", request_method="GET")
def pay_page(request):
    return _pay_page(request, _by_reference(request))


@view_config(route_name="payments.pay", renderer="payments/pay.html", request_method="POST")
def pay_start(request):
    """Pressing Pay: to the payment's Checkout Session, made now if need be."""
    payment = _by_reference(request)
    page_url = request.route_url("payments.pay", reference=payment.reference)
    try:
        url = service.checkout_url(request.db, payment, page_url)
    except (service.PaymentError, stripe_api.PaymentsNotConfigured) as error:
        request.response.status = 409
        return _pay_page(request, payment, message=str(error))
    return HTTPSeeOther(url)


@view_config(route_name="payments.booking", request_method="GET")
def pay_for_booking(request):
    """Where the booking page sends a customer whose service is paid in advance."""
    try:
        payment = service.for_booking(request.db, request.matchdict.get("reference", ""))
    except service.PaymentNotFound:
        raise HTTPNotFound() from None
    return HTTPFound(request.route_url("payments.pay", reference=payment.reference))


# -- Stripe's webhook ------------------------------------------------------------------------


@view_config(route_name="hooks.stripe", request_method="POST", require_csrf=False)
def stripe_hook(request):
    """Verified, stored once per event id, acted on by the outbox: Stripe hears 200 as soon
    as the event is safely stored. A bad signature is a 400 and stores nothing."""
    try:
        outcome, _ = service.receive_event(
            request.db, request.body, request.headers.get("Stripe-Signature")
        )
    except service.BadSignature as error:
        return Response(json_body={"error": str(error)}, status=400)
    return Response(json_body={"received": True, "outcome": outcome}, status=200)

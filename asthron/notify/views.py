"""Integrations → Email: SMTP settings and a connection test (owner only)."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPBadRequest
from pyramid.view import view_config

from asthron.forms import field, notice, redirect
from asthron.jobs import service as jobs
from asthron.notify import service
from asthron.security.crypto import SecretDecryptionError
from asthron.security.permissions import Permission

FIELDS = ("host", "port", "security", "username", "from_address", "from_name", "timeout_seconds")
# Generous limits for reading the form: anything longer is refused with a form error.
FIELD_LIMITS = {"from_address": 320, "security": 16, "port": 16, "timeout_seconds": 16}


def _page(request, error=None, values=None, status=200, result=None):
    request.response.status_code = status
    row = service.get_settings(request.db)
    try:
        masked = service.masked_password(request.db, request.secret_box)
    except SecretDecryptionError as exc:
        masked, error = "", error or str(exc)
    if values is None:
        values = {name: getattr(row, name) if row else "" for name in FIELDS}
        if not row:
            values.update(port=587, security="starttls", timeout_seconds=15)
    counts = jobs.counts(request.db, service.EMAIL_KIND)
    return {
        "values": values,
        "masked_password": masked,
        "error": error,
        "result": result,
        "notice": notice(request),
        "outbox": {state: counts.get(state, 0) for state in ("pending", "done", "failed")},
        "problems": jobs.unfinished_with_errors(request.db, service.EMAIL_KIND),
    }


@view_config(
    route_name="integrations.email",
    renderer="notify/email.html",
    permission=Permission.INTEGRATIONS,
    request_method="GET",
)
def email_settings(request):
    return _page(request)


@view_config(
    route_name="integrations.email",
    renderer="notify/email.html",
    permission=Permission.INTEGRATIONS,
    request_method="POST",
)
def email_settings_save(request):
    values, error = {}, None
    for name in FIELDS:
        try:
            values[name] = field(request, name, FIELD_LIMITS.get(name, 255))
        except HTTPBadRequest as exc:
            values[name], error = "", error or exc.detail
    try:
        password = field(request, "password", 1024)
        clear_password = field(request, "clear_password", 5) == "1"
    except HTTPBadRequest as exc:
        password, clear_password, error = None, False, error or exc.detail
    if error:
        return _page(request, error, values, 400)
    data = dict(values, password=password, clear_password=clear_password)
    try:
        new = service.SmtpSettingsInput.parse(data)
        service.refuse_private_host(
            new.host, new.port, request.app_settings.outbound_allowed_private_hosts
        )
    except service.EmailConfigError as exc:
        return _page(request, str(exc), values, 400)
    service.save_settings(request.db, request.secret_box, request.actor, new)
    return redirect(request, "integrations.email", "email_saved")


@view_config(
    route_name="integrations.email_test",
    renderer="notify/email.html",
    permission=Permission.INTEGRATIONS,
    request_method="POST",
)
def email_test(request):
    try:
        result = service.test_connection(
            request.db, request.secret_box, request.app_settings.outbound_allowed_private_hosts
        )
    except (service.EmailConfigError, SecretDecryptionError) as exc:
        return _page(request, f"Connection test failed: {exc}", status=400)
    return _page(request, result=result)

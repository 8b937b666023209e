"""Integrations → Email: SMTP settings and a connection test (owner only)."""

from __future__ import annotations

from pyramid.view import view_config

from asthron.forms import FormError, notice, parse_form, redirect
from asthron.jobs import service as jobs
from asthron.notify import service
from asthron.notify.forms import SmtpSettingsForm
from asthron.security.crypto import SecretDecryptionError
from asthron.security.permissions import Permission

# The fields shown again (never the password).
FIELDS = ("host", "port", "security", "username", "from_address", "from_name", "timeout_seconds")


def _page(request, error=None, values=None, status=200, result=None, errors=None):
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
        "errors": errors or {},
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
    try:
        new = parse_form(SmtpSettingsForm, request.POST)
        service.refuse_private_host(
            new.host, new.port, request.app_settings.outbound_allowed_private_hosts
        )
    except FormError as exc:
        values = {name: exc.values.get(name, request.POST.get(name, "")) for name in FIELDS}
        return _page(request, exc.message, values, 400, errors=exc.errors)
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

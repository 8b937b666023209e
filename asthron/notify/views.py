"""Integrations → Email: SMTP settings and a connection test (owner only)."""

from __future__ import annotations

from pyramid.view import view_config

from asthron.accounts.permissions import Permission
from asthron.forms import field, notice, redirect
from asthron.notify import service
from asthron.security.crypto import SecretDecryptionError

FIELDS = ("host", "port", "security", "username", "from_address", "from_name", "timeout_seconds")


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
    return {
        "values": values,
        "masked_password": masked,
        "error": error,
        "result": result,
        "notice": notice(request),
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
    values = {name: field(request, name, 320) for name in FIELDS}
    data = dict(
        values,
        password=field(request, "password", 1024),
        clear_password=field(request, "clear_password", 5) == "1",
    )
    try:
        new = service.SmtpSettingsInput.parse(data)
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
        result = service.test_connection(request.db, request.secret_box)
    except (service.EmailConfigError, SecretDecryptionError) as exc:
        return _page(request, str(exc), status=400)
    return _page(request, result=result)

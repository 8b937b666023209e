"""Integrations → Email → Templates: the owner rewords an email, previews it with sample
values, sends a test to themself, saves it or goes back to the default."""

from __future__ import annotations

import contextlib

from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config

from asthron.forms import field, notice, redirect
from asthron.notify import service
from asthron.notify.templates import (
    MAX_HTML,
    MAX_SUBJECT,
    MAX_TEXT,
    TemplateProblem,
    Wording,
    check_draft,
    editable_emails,
)
from asthron.security.permissions import Permission

ACTIONS = ("preview", "test", "save", "reset")


def _editable(request):
    editable = editable_emails(request.registry).get(request.matchdict.get("name"))
    if editable is None:
        raise HTTPNotFound()
    return editable


@view_config(
    route_name="integrations.email_templates",
    renderer="notify/templates.html",
    permission=Permission.INTEGRATIONS,
    request_method="GET",
)
def template_list(request):
    customised = service.customised_names(request.db)
    emails = sorted(editable_emails(request.registry).values(), key=lambda e: e.name)
    return {"emails": emails, "customised": customised, "notice": notice(request)}


def _page(
    request, editable, wording, *, customised, status=200, preview=None, problem=None, result=None
):
    request.response.status_code = status
    return {
        "email": editable,
        "wording": wording,
        "customised": customised,
        "preview": preview,
        "problem": problem,
        "result": result,
        "notice": notice(request),
        "sample_names": sorted(editable.sample),
    }


@view_config(
    route_name="integrations.email_template",
    renderer="notify/template_edit.html",
    permission=Permission.INTEGRATIONS,
    request_method="GET",
)
def template_edit(request):
    editable = _editable(request)
    wording, customised = service.current_wording(request.db, editable.name)
    preview = None
    # A wording that no longer renders shows its problem when the owner previews or saves.
    with contextlib.suppress(TemplateProblem):
        preview = check_draft(editable, wording)
    return _page(request, editable, wording, customised=customised, preview=preview)


@view_config(
    route_name="integrations.email_template",
    renderer="notify/template_edit.html",
    permission=Permission.INTEGRATIONS,
    request_method="POST",
)
def template_post(request):
    editable = _editable(request)
    action = field(request, "action", 10)
    if action not in ACTIONS:
        action = "preview"
    if action == "reset":
        service.reset_wording(request.db, request.actor, editable.name)
        return redirect(
            request, "integrations.email_template", "template_reset", name=editable.name
        )
    wording = Wording(
        subject=field(request, "subject", MAX_SUBJECT + 1),
        text=field(request, "text", MAX_TEXT + 1).replace("\r\n", "\n"),
        html=field(request, "html", MAX_HTML + 1).replace("\r\n", "\n") or None,
    )
    _, customised = service.current_wording(request.db, editable.name)
    try:
        preview = check_draft(editable, wording)
    except TemplateProblem as exc:
        problem = {"part": exc.part, "message": str(exc)}
        return _page(request, editable, wording, customised=customised, status=400, problem=problem)
    if action == "save":
        service.save_wording(request.db, request.actor, editable.name, wording)
        return redirect(
            request, "integrations.email_template", "template_saved", name=editable.name
        )
    result = None
    if action == "test":
        if service.get_settings(request.db) is None:
            problem = {"part": "", "message": str(service.EmailNotConfigured())}
            return _page(
                request,
                editable,
                wording,
                customised=customised,
                status=400,
                preview=preview,
                problem=problem,
            )
        user = request.user
        subject, text, html = preview
        service.queue_email(request.db, user.email, f"[Test] {subject}", text, html)
        result = f"A test email with the sample values was queued for {user.email}."
    return _page(request, editable, wording, customised=customised, preview=preview, result=result)

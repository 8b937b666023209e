"""Dashboard: the admin's lead settings: lead forms per site, qualification questions and
rules. Every change is a POST with a CSRF token and an audit entry; bad input is a 400 that
names the field."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config

from asthron.forms import FormError, matched_id, parse_form, redirect
from asthron.leads import admin_settings, capture, forms, page_forms, pipeline, validation
from asthron.leads.models import QUESTION_KINDS, QualificationQuestion
from asthron.leads.qualification import RULE_OPS
from asthron.security.permissions import Permission
from asthron.sites.models import Site

# Notices after a redirect come from this list only, so a link cannot inject text.
# -- admin settings -------------------------------------------------------------------------


def _settings_page(request, error=None, errors=None, status=200, values=None):
    db = request.db
    request.response.status_code = status
    settings = capture.lead_settings(db)
    questions = admin_settings.all_questions(db)
    rules = list(settings.rules or [])
    return {
        "settings": settings,
        "values": values
        or {
            "phone_region": settings.phone_region or "US",
            "handoff_when_qualified": settings.handoff_when_qualified,
            "notify_when_qualified": settings.notify_when_qualified,
        },
        "questions": questions,
        "question_keys": [q.key for q in questions],
        "question_kinds": QUESTION_KINDS,
        "rules": [*rules, {"question": "", "op": "==", "value": ""}],
        "rule_ops": RULE_OPS,
        "rule_text": admin_settings.rule_text,
        "sites": pipeline.site_choices(db),
        "errors": errors or {},
        "notice": page_forms.notice(request),
        "error": error,
    }


def _refused_errors(exc: FormError | validation.LeadInputError) -> dict:
    if isinstance(exc, FormError):
        return exc.errors
    return {exc.field: exc.message} if exc.field else {}


def _settings_refused(request, exc):
    return _settings_page(request, exc.message, _refused_errors(exc), 400)


@view_config(
    route_name="leads.settings",
    renderer="leads/settings.html",
    permission=Permission.SETTINGS,
    request_method="GET",
)
def lead_settings(request):
    return _settings_page(request)


@view_config(
    route_name="leads.settings",
    renderer="leads/settings.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def lead_settings_save(request):
    try:
        new = parse_form(forms.LeadSettingsForm, request.POST)
    except FormError as exc:
        return _settings_refused(request, exc)
    admin_settings.save_settings(
        request.db,
        request.actor,
        new.phone_region,
        new.handoff_when_qualified,
        new.notify_when_qualified,
    )
    return redirect(request, "leads.settings", "settings_saved")


@view_config(
    route_name="leads.rules",
    renderer="leads/settings.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def lead_rules_save(request):
    try:
        rules = forms.parse_rules(request.POST, admin_settings.all_questions(request.db))
    except FormError as exc:
        return _settings_refused(request, exc)
    admin_settings.save_rules(request.db, request.actor, rules)
    return redirect(request, "leads.settings", "rules_saved")


@view_config(
    route_name="leads.questions",
    renderer="leads/settings.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def lead_question_add(request):
    try:
        new = parse_form(forms.NewQuestionForm, request.POST)
        admin_settings.add_question(request.db, request.actor, new.data())
    except (FormError, validation.LeadInputError) as exc:
        return _settings_refused(request, exc)
    return redirect(request, "leads.settings", "question_saved")


def _question(request) -> QualificationQuestion:
    question = request.db.get(QualificationQuestion, matched_id(request, "question_id"))
    if question is None:
        raise HTTPNotFound()
    return question


@view_config(
    route_name="leads.question",
    renderer="leads/settings.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def lead_question_update(request):
    question = _question(request)
    try:
        new = parse_form(forms.QuestionUpdateForm, request.POST)
    except FormError as exc:
        return _settings_refused(request, exc)
    admin_settings.update_question(request.db, request.actor, question, new.data(), new.active)
    return redirect(request, "leads.settings", "question_saved")


@view_config(
    route_name="leads.question_move",
    renderer="leads/settings.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def lead_question_move(request):
    question = _question(request)
    try:
        new = parse_form(forms.QuestionMoveForm, request.POST)
    except FormError as exc:
        return _settings_refused(request, exc)
    admin_settings.move_question(request.db, request.actor, question, new.direction == "up")
    return redirect(request, "leads.settings", "question_saved")


def _site(request):

    site = request.db.get(Site, matched_id(request, "site_id"))
    if site is None:
        raise HTTPNotFound()
    return site


def _form_page(request, site, rows, values, error=None, errors=None, status=200):
    request.response.status_code = status
    return {
        "site": site,
        "rows": rows,
        "values": values,
        "custom_kinds": forms.CUSTOM_FIELD_KINDS,
        "errors": errors or {},
        "notice": page_forms.notice(request),
        "error": error,
    }


def _form_values(form) -> dict:
    return {
        "intro": form.intro or "",
        "after_messages": form.after_messages or 0,
        "before_handoff": bool(form.before_handoff),
        "on_booking_intent": bool(form.on_booking_intent),
        "notify_emails": "\n".join(form.notify_emails or []),
        "custom_fields": "\n".join(form.custom_fields or []),
    }


@view_config(
    route_name="leads.site_form",
    renderer="leads/site_form.html",
    permission=Permission.SETTINGS,
    request_method="GET",
)
def lead_site_form(request):
    site = _site(request)
    form = capture.lead_form(request.db, site.id)
    return _form_page(request, site, admin_settings.form_rows(form), _form_values(form))


@view_config(
    route_name="leads.site_form",
    renderer="leads/site_form.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def lead_site_form_save(request):
    site = _site(request)
    try:
        data = forms.parse_lead_form(request.POST)
    except FormError as exc:
        form = capture.lead_form(request.db, site.id)
        values = _form_values(form)
        for name in values:
            posted = request.POST.getall(name)
            if len(posted) == 1 and isinstance(posted[0], str):
                values[name] = posted[0][:4000]
        return _form_page(
            request, site, admin_settings.form_rows(form), values, exc.message, exc.errors, 400
        )
    admin_settings.save_lead_form(request.db, request.actor, site.id, data)
    return redirect(request, "leads.site_form", "form_saved", site_id=site.id)

"""Dashboard → Leads: the pipeline list with filters, search, sorting and bulk actions; one
lead with its timeline, edits, proposals and AI note; the CSV export; the admin settings.

Every state change is a POST with a CSRF token and an audit entry; bad input is a 400 that
names the field, never a 500, and nothing is written before the input is known to be good.
"""

from __future__ import annotations

from pyramid.httpexceptions import HTTPBadRequest, HTTPNotFound
from pyramid.response import Response
from pyramid.view import view_config

from asthron.accounts.models import User
from asthron.forms import field, matched_id, parse_id, redirect
from asthron.leads import capture, normalize, service
from asthron.leads.models import LEAD_STATUSES, QUESTION_KINDS, Lead, QualificationQuestion
from asthron.leads.qualification import RULE_OPS
from asthron.security.permissions import Permission
from asthron.sites.models import Site

# Notices after a redirect come from this list only, so a link cannot inject text.
NOTICES = {
    "leads_updated": "The selected leads were updated.",
    "lead_saved": "The lead was saved.",
    "note_added": "The note was added.",
    "proposal_accepted": "The proposed value was accepted.",
    "proposal_rejected": "The proposed value was rejected.",
    "ai_note_saved": "Your edit of the AI note was saved; it is kept until someone regenerates.",
    "ai_note_regenerating": "The AI note is being written again.",
    "settings_saved": "The lead settings were saved.",
    "rules_saved": "The qualification rules were saved.",
    "question_saved": "The question was saved.",
    "form_saved": "The lead form was saved.",
}
FIELD_LIMITS = {"name": 1000, "email": 1000, "phone": 100, "company": 1000}


def _notice(request) -> str | None:
    values = request.GET.getall("notice")
    return NOTICES.get(values[0]) if len(values) == 1 else None


def _getter(request):
    """``get(name, max_length)`` over the posted form; unreadable input is a LeadInputError."""

    def get(name: str, max_length: int) -> str:
        try:
            return field(request, name, max_length)
        except HTTPBadRequest as exc:
            raise service.LeadInputError(exc.detail, name) from None

    return get


# -- the list -------------------------------------------------------------------------------


def _list_page(request, query, page, error=None, status=200):
    request.response.status_code = status
    return {
        "page": page,
        "query": query,
        "statuses": LEAD_STATUSES,
        "sorts": service.SORTS,
        "sites": service.site_choices(request.db),
        "users": service.user_choices(request.db),
        "assignable": service.user_choices(request.db, active_only=True),
        "notice": _notice(request),
        "error": error,
    }


@view_config(
    route_name="leads.list",
    renderer="leads/list.html",
    permission=Permission.LEADS,
    request_method="GET",
)
def lead_list(request):
    try:
        query = service.parse_query(request.db, request.GET, request.user.id)
    except service.LeadInputError as exc:
        return _list_page(request, service.LeadQuery(), service.Page([], None), exc.message, 400)
    return _list_page(request, query, service.list_leads(request.db, query))


def _selected_ids(request) -> list[int]:
    values = request.POST.getall("lead_id")
    if len(values) > service.MAX_BULK:
        raise service.LeadInputError(f"Select at most {service.MAX_BULK} leads at a time.")
    ids = []
    for value in values:
        number = parse_id(value) if isinstance(value, str) else None
        if number is None:
            raise service.LeadInputError("The selection is not valid; reload the page.")
        if number not in ids:
            ids.append(number)
    return ids


@view_config(
    route_name="leads.bulk",
    renderer="leads/list.html",
    permission=Permission.LEADS,
    request_method="POST",
)
def lead_bulk(request):
    get = _getter(request)
    try:
        ids = _selected_ids(request)
        action = get("action", 20)
        status = get("status", 20)
        assignee_text = get("assignee", 20)
        if action not in ("status", "assign"):
            raise service.LeadInputError("Choose what to do with the selected leads.", "action")
        leads = service.leads_by_ids(request.db, ids)
        if not leads or len(leads) != len(ids):
            raise service.LeadInputError("Select at least one lead (of those listed).")
        if action == "status":
            if status not in LEAD_STATUSES:
                raise service.LeadInputError("Choose a status.", "status")
            service.bulk_status(request.db, request.actor, leads, status)
        else:
            user = service.assignable_user(request.db, assignee_text)
            service.bulk_assign(request.db, request.actor, leads, user)
    except service.LeadInputError as exc:
        return _list_page(request, service.LeadQuery(), service.Page([], None), exc.message, 400)
    return redirect(request, "leads.list", "leads_updated")


@view_config(route_name="leads.export", permission=Permission.LEADS, request_method="POST")
def lead_export(request):
    # A POST with a CSRF token: the export is itself recorded in the audit log.
    try:
        query = service.parse_query(request.db, request.POST, request.user.id, with_cursor=False)
    except service.LeadInputError as exc:
        raise HTTPBadRequest(exc.message) from None
    rows = service.count_leads(request.db, query)
    service.record_export(request.db, request.actor, query, "csv", rows)
    session_factory = request.registry["dbsession_factory"]

    def body():
        # Runs after the request's transaction has committed: its own short sessions only.
        yield "\ufeff".encode()  # so spreadsheets read the file as UTF-8
        for chunk in service.csv_chunks(service.iter_export_rows(session_factory, query)):
            if chunk:
                yield chunk.encode("utf-8")

    response = Response(content_type="text/csv", charset="utf-8")
    response.app_iter = body()
    response.content_disposition = 'attachment; filename="asthron-leads.csv"'
    response.cache_control = "no-store"
    return response


# -- one lead -------------------------------------------------------------------------------


def _lead(request) -> Lead:
    lead = request.db.get(Lead, matched_id(request, "lead_id"))
    if lead is None:
        raise HTTPNotFound()
    return lead


def _values_of(db, lead: Lead) -> dict:
    return {
        "name": lead.name or "",
        "email": lead.email or "",
        "phone": lead.phone or "",
        "company": lead.company or "",
        "custom": {
            n: (lead.custom_fields or {}).get(n, "") for n in service.custom_field_names(db, lead)
        },
        "tags": ", ".join(lead.tags or []),
        "ai_note": lead.ai_note or "",
    }


def _detail_page(request, lead, error=None, errors=None, values=None, status=200):

    db = request.db
    request.response.status_code = status
    site = db.get(Site, lead.source_site_id) if lead.source_site_id else None
    assignee = db.get(User, lead.assigned_user_id) if lead.assigned_user_id else None
    return {
        "lead": lead,
        "site": site,
        "assignee": assignee,
        "values": values or _values_of(db, lead),
        "errors": errors or {},
        "statuses": LEAD_STATUSES,
        "assignable": service.user_choices(db, active_only=True),
        "timeline": service.timeline(db, lead),
        "conversations": service.linked_conversations(db, lead.id),
        "proposals": service.pending_proposals(db, lead.id),
        "answers": service.answer_rows(db, lead.id),
        "notice": _notice(request),
        "error": error,
    }


def _posted_values(request, lead) -> dict:
    """What was posted, to show again after a refusal."""
    values = _values_of(request.db, lead)
    for name in [*list(FIELD_LIMITS), "tags", "ai_note"]:
        posted = request.POST.getall(name)
        if len(posted) == 1 and isinstance(posted[0], str):
            values[name] = posted[0][:5000]
    for name in values["custom"]:
        posted = request.POST.getall(f"custom.{name}")
        if len(posted) == 1 and isinstance(posted[0], str):
            values["custom"][name] = posted[0][:500]
    return values


def _refused(request, lead, exc):
    field_name = getattr(exc, "field", None)
    message = getattr(exc, "message", str(exc))
    errors = {field_name: message} if field_name else {}
    return _detail_page(request, lead, message, errors, _posted_values(request, lead), 400)


@view_config(
    route_name="leads.detail",
    renderer="leads/detail.html",
    permission=Permission.LEADS,
    request_method="GET",
)
def lead_detail(request):
    return _detail_page(request, _lead(request))


def _saved(request, lead, notice="lead_saved"):
    return redirect(request, "leads.detail", notice, lead_id=lead.id)


@view_config(
    route_name="leads.update",
    renderer="leads/detail.html",
    permission=Permission.LEADS,
    request_method="POST",
)
def lead_update(request):
    lead = _lead(request)
    get = _getter(request)
    try:
        values = {name: get(name, limit) for name, limit in FIELD_LIMITS.items()}
        custom = {n: get(f"custom.{n}", 2000) for n in service.custom_field_names(request.db, lead)}
        service.update_fields(request.db, request.actor, lead, values, custom)
    except (service.LeadInputError, normalize.LeadDataError) as exc:
        return _refused(request, lead, exc)
    return _saved(request, lead)


@view_config(
    route_name="leads.status",
    renderer="leads/detail.html",
    permission=Permission.LEADS,
    request_method="POST",
)
def lead_status(request):
    lead = _lead(request)
    try:
        status = _getter(request)("status", 20)
        service.set_status(request.db, request.actor, lead, status)
    except service.LeadInputError as exc:
        return _refused(request, lead, exc)
    return _saved(request, lead)


@view_config(
    route_name="leads.assign",
    renderer="leads/detail.html",
    permission=Permission.LEADS,
    request_method="POST",
)
def lead_assign(request):
    lead = _lead(request)
    try:
        user = service.assignable_user(request.db, _getter(request)("assignee", 20))
        service.assign(request.db, request.actor, lead, user)
    except service.LeadInputError as exc:
        return _refused(request, lead, exc)
    return _saved(request, lead)


@view_config(
    route_name="leads.tags",
    renderer="leads/detail.html",
    permission=Permission.LEADS,
    request_method="POST",
)
def lead_tags(request):
    lead = _lead(request)
    try:
        tags = service.parse_tags(_getter(request)("tags", 2000))
        service.set_tags(request.db, request.actor, lead, tags)
    except service.LeadInputError as exc:
        return _refused(request, lead, exc)
    return _saved(request, lead)


@view_config(
    route_name="leads.note",
    renderer="leads/detail.html",
    permission=Permission.LEADS,
    request_method="POST",
)
def lead_note(request):
    lead = _lead(request)
    try:
        body = _getter(request)("body", service.MAX_NOTE + 1000)
        service.add_note(request.db, request.actor, lead, body)
    except service.LeadInputError as exc:
        return _refused(request, lead, exc)
    return _saved(request, lead, "note_added")


@view_config(
    route_name="leads.ai_note",
    renderer="leads/detail.html",
    permission=Permission.LEADS,
    request_method="POST",
)
def lead_ai_note(request):
    lead = _lead(request)
    try:
        text = _getter(request)("ai_note", service.MAX_AI_NOTE + 1000)
        service.edit_ai_note(request.db, request.actor, lead, text)
    except service.LeadInputError as exc:
        return _refused(request, lead, exc)
    return _saved(request, lead, "ai_note_saved")


@view_config(
    route_name="leads.ai_note_regenerate", permission=Permission.LEADS, request_method="POST"
)
def lead_ai_note_regenerate(request):
    lead = _lead(request)
    service.request_regenerate(request.db, request.actor, lead)
    return _saved(request, lead, "ai_note_regenerating")


@view_config(
    route_name="leads.proposal",
    renderer="leads/detail.html",
    permission=Permission.LEADS,
    request_method="POST",
)
def lead_proposal(request):
    lead = _lead(request)
    proposal_id = matched_id(request, "proposal_id")
    try:
        decision = _getter(request)("decision", 10)
        if decision not in ("accept", "reject"):
            raise service.LeadInputError("Accept or reject the proposal.", "decision")
        service.resolve_proposal(request.db, request.actor, lead, proposal_id, decision == "accept")
    except (service.LeadInputError, normalize.LeadDataError) as exc:
        return _refused(request, lead, exc)
    return _saved(request, lead, f"proposal_{decision}ed")


# -- admin settings -------------------------------------------------------------------------


def _settings_page(request, error=None, errors=None, status=200, values=None):
    db = request.db
    request.response.status_code = status
    settings = capture.lead_settings(db)
    questions = service.all_questions(db)
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
        "rule_text": service.rule_text,
        "sites": service.site_choices(db),
        "errors": errors or {},
        "notice": _notice(request),
        "error": error,
    }


def _settings_refused(request, exc):
    errors = {exc.field: exc.message} if getattr(exc, "field", None) else {}
    return _settings_page(request, exc.message, errors, 400)


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
    get = _getter(request)
    try:
        region = service.parse_phone_region(get("phone_region", 10))
        handoff = get("handoff_when_qualified", 5) == "1"
        notify = get("notify_when_qualified", 5) == "1"
    except service.LeadInputError as exc:
        return _settings_refused(request, exc)
    service.save_settings(request.db, request.actor, region, handoff, notify)
    return redirect(request, "leads.settings", "settings_saved")


@view_config(
    route_name="leads.rules",
    renderer="leads/settings.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def lead_rules_save(request):
    try:
        rows = service.MAX_RULES + 1
        rules = service.parse_rules(request.db, _getter(request), rows)
    except service.LeadInputError as exc:
        return _settings_refused(request, exc)
    service.save_rules(request.db, request.actor, rules)
    return redirect(request, "leads.settings", "rules_saved")


@view_config(
    route_name="leads.questions",
    renderer="leads/settings.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def lead_question_add(request):
    try:
        data = service.parse_question(_getter(request), key_required=True)
        service.add_question(request.db, request.actor, data)
    except service.LeadInputError as exc:
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
    get = _getter(request)
    try:
        data = service.parse_question(get, key_required=False)
        active = get("active", 5) == "1"
    except service.LeadInputError as exc:
        return _settings_refused(request, exc)
    service.update_question(request.db, request.actor, question, data, active)
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
        direction = _getter(request)("direction", 10)
        if direction not in ("up", "down"):
            raise service.LeadInputError("Move the question up or down.", "direction")
    except service.LeadInputError as exc:
        return _settings_refused(request, exc)
    service.move_question(request.db, request.actor, question, direction == "up")
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
        "custom_kinds": service.CUSTOM_FIELD_KINDS,
        "errors": errors or {},
        "notice": _notice(request),
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
    return _form_page(request, site, service.form_rows(form), _form_values(form))


@view_config(
    route_name="leads.site_form",
    renderer="leads/site_form.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def lead_site_form_save(request):
    site = _site(request)
    try:
        data = service.parse_lead_form(_getter(request))
    except service.LeadInputError as exc:
        form = capture.lead_form(request.db, site.id)
        values = _form_values(form)
        for name in values:
            posted = request.POST.getall(name)
            if len(posted) == 1 and isinstance(posted[0], str):
                values[name] = posted[0][:4000]
        errors = {exc.field: exc.message} if exc.field else {}
        return _form_page(request, site, service.form_rows(form), values, exc.message, errors, 400)
    service.save_lead_form(request.db, request.actor, site.id, data)
    return redirect(request, "leads.site_form", "form_saved", site_id=site.id)

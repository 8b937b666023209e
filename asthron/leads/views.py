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
from asthron.forms import matched_id, parse_id, redirect
from asthron.leads import (
    detail,
    edits,
    export,
    normalize,
    page_forms,
    pipeline,
    validation,
)
from asthron.leads.models import LEAD_STATUSES, Lead
from asthron.security.permissions import Permission
from asthron.sites.models import Site

# Notices after a redirect come from this list only, so a link cannot inject text.
FIELD_LIMITS = {"name": 1000, "email": 1000, "phone": 100, "company": 1000}


# -- the list -------------------------------------------------------------------------------


def _list_page(request, query, page, error=None, status=200):
    request.response.status_code = status
    return {
        "page": page,
        "query": query,
        "statuses": LEAD_STATUSES,
        "sorts": pipeline.SORTS,
        "sites": pipeline.site_choices(request.db),
        "users": pipeline.user_choices(request.db),
        "assignable": pipeline.user_choices(request.db, active_only=True),
        "notice": page_forms.notice(request),
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
        query = pipeline.parse_query(request.db, request.GET, request.user.id)
    except validation.LeadInputError as exc:
        return _list_page(request, pipeline.LeadQuery(), pipeline.Page([], None), exc.message, 400)
    return _list_page(request, query, pipeline.list_leads(request.db, query))


def _selected_ids(request) -> list[int]:
    values = request.POST.getall("lead_id")
    if len(values) > pipeline.MAX_BULK:
        raise validation.LeadInputError(f"Select at most {pipeline.MAX_BULK} leads at a time.")
    ids = []
    for value in values:
        number = parse_id(value) if isinstance(value, str) else None
        if number is None:
            raise validation.LeadInputError("The selection is not valid; reload the page.")
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
    get = page_forms.form_getter(request)
    try:
        ids = _selected_ids(request)
        action = get("action", 20)
        status = get("status", 20)
        assignee_text = get("assignee", 20)
        if action not in ("status", "assign"):
            raise validation.LeadInputError("Choose what to do with the selected leads.", "action")
        leads = edits.leads_by_ids(request.db, ids)
        if not leads or len(leads) != len(ids):
            raise validation.LeadInputError("Select at least one lead (of those listed).")
        if action == "status":
            if status not in LEAD_STATUSES:
                raise validation.LeadInputError("Choose a status.", "status")
            edits.bulk_status(request.db, request.actor, leads, status)
        else:
            user = edits.assignable_user(request.db, assignee_text)
            edits.bulk_assign(request.db, request.actor, leads, user)
    except validation.LeadInputError as exc:
        return _list_page(request, pipeline.LeadQuery(), pipeline.Page([], None), exc.message, 400)
    return redirect(request, "leads.list", "leads_updated")


@view_config(route_name="leads.export", permission=Permission.LEADS, request_method="POST")
def lead_export(request):
    # A POST with a CSRF token: the export is itself recorded in the audit log.
    try:
        query = pipeline.parse_query(request.db, request.POST, request.user.id, with_cursor=False)
    except validation.LeadInputError as exc:
        raise HTTPBadRequest(exc.message) from None
    rows = pipeline.count_leads(request.db, query)
    export.record_export(request.db, request.actor, query, "csv", rows)
    session_factory = request.registry["dbsession_factory"]

    def body():
        # Runs after the request's transaction has committed: its own short sessions only.
        yield "\ufeff".encode()  # so spreadsheets read the file as UTF-8
        for chunk in export.csv_chunks(export.iter_export_rows(session_factory, query)):
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
            n: (lead.custom_fields or {}).get(n, "") for n in detail.custom_field_names(db, lead)
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
        "assignable": pipeline.user_choices(db, active_only=True),
        "timeline": detail.timeline(db, lead),
        "conversations": detail.linked_conversations(db, lead.id),
        "proposals": detail.pending_proposals(db, lead.id),
        "answers": detail.answer_rows(db, lead.id),
        "notice": page_forms.notice(request),
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
    get = page_forms.form_getter(request)
    try:
        values = {name: get(name, limit) for name, limit in FIELD_LIMITS.items()}
        custom = {n: get(f"custom.{n}", 2000) for n in detail.custom_field_names(request.db, lead)}
        edits.update_fields(request.db, request.actor, lead, values, custom)
    except (validation.LeadInputError, normalize.LeadDataError) as exc:
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
        status = page_forms.form_getter(request)("status", 20)
        edits.set_status(request.db, request.actor, lead, status)
    except validation.LeadInputError as exc:
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
        user = edits.assignable_user(request.db, page_forms.form_getter(request)("assignee", 20))
        edits.assign(request.db, request.actor, lead, user)
    except validation.LeadInputError as exc:
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
        tags = validation.parse_tags(page_forms.form_getter(request)("tags", 2000))
        edits.set_tags(request.db, request.actor, lead, tags)
    except validation.LeadInputError as exc:
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
        body = page_forms.form_getter(request)("body", edits.MAX_NOTE + 1000)
        edits.add_note(request.db, request.actor, lead, body)
    except validation.LeadInputError as exc:
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
        text = page_forms.form_getter(request)("ai_note", edits.MAX_AI_NOTE + 1000)
        edits.edit_ai_note(request.db, request.actor, lead, text)
    except validation.LeadInputError as exc:
        return _refused(request, lead, exc)
    return _saved(request, lead, "ai_note_saved")


@view_config(
    route_name="leads.ai_note_regenerate", permission=Permission.LEADS, request_method="POST"
)
def lead_ai_note_regenerate(request):
    lead = _lead(request)
    edits.request_regenerate(request.db, request.actor, lead)
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
        decision = page_forms.form_getter(request)("decision", 10)
        if decision not in ("accept", "reject"):
            raise validation.LeadInputError("Accept or reject the proposal.", "decision")
        edits.resolve_proposal(request.db, request.actor, lead, proposal_id, decision == "accept")
    except (validation.LeadInputError, normalize.LeadDataError) as exc:
        return _refused(request, lead, exc)
    return _saved(request, lead, f"proposal_{decision}ed")

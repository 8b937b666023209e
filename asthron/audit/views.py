"""The audit log viewer and its CSV export (owner and admin).

Filters are an exact actor, an exact action and a date range, all bound as query parameters.
Input that cannot be a filter is a 400, never a 500.
"""

from __future__ import annotations

import datetime as dt

from pyramid.httpexceptions import HTTPBadRequest
from pyramid.response import Response
from pyramid.view import view_config

from asthron.audit import service
from asthron.forms import field, parse_id, query_field
from asthron.security.permissions import Permission

FILTER_FIELDS = ("actor", "action", "since", "until")


def _date(value: str, name: str) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise HTTPBadRequest(f"{name} must be a date like 2026-01-31.") from None


def _filter(get) -> service.AuditFilter:
    """The filter from the query string (the list) or the form (the export)."""
    return service.AuditFilter(
        actor=get("actor", 320).strip() or None,
        action=get("action", 64).strip() or None,
        since=_date(get("since", 40), "since"),
        until=_date(get("until", 40), "until"),
    )


@view_config(
    route_name="audit.list",
    renderer="audit/list.html",
    permission=Permission.AUDIT,
    request_method="GET",
)
def audit_list(request):
    audit_filter = _filter(lambda name, size: query_field(request, name, size))
    before = query_field(request, "before", 20)
    before_id = parse_id(before)
    if before and before_id is None:
        raise HTTPBadRequest("before must be an entry id.")
    entries = service.search(request.db, audit_filter, before_id, limit=101)
    return {
        "entries": entries[:100],
        "next_before": entries[99].id if len(entries) > 100 else None,
        "filter": audit_filter,
        "actions": service.known_actions(request.db),
        "query": {
            name: request.GET[name] for name in FILTER_FIELDS if request.GET.get(name, "").strip()
        },
    }


@view_config(route_name="audit.export", permission=Permission.AUDIT, request_method="POST")
def audit_export(request):
    # A POST with a CSRF token, because an export is itself recorded in the log.
    audit_filter = _filter(lambda name, size: field(request, name, size))
    service.record(
        request.db,
        request.actor,
        "audit.export",
        summary={
            "actor": audit_filter.actor,
            "action": audit_filter.action,
            "since": str(audit_filter.since or ""),
            "until": str(audit_filter.until or ""),
        },
    )
    rows = "".join(service.export_csv(request.db, audit_filter))
    response = Response(rows, content_type="text/csv", charset="utf-8")
    response.content_disposition = 'attachment; filename="asthron-audit.csv"'
    response.cache_control = "no-store"
    return response

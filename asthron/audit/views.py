"""The audit log viewer and its CSV export (owner and admin)."""

from __future__ import annotations

import datetime as dt

from pyramid.httpexceptions import HTTPBadRequest
from pyramid.response import Response
from pyramid.view import view_config

from asthron.accounts.permissions import Permission
from asthron.audit import service


def _date(value: str, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise HTTPBadRequest(f"{name} must be a date like 2026-01-31.") from None


def _filter(request) -> service.AuditFilter:
    params = request.GET
    action = params.get("action", "").strip()[:64]
    return service.AuditFilter(
        actor=params.get("actor", "").strip()[:320] or None,
        action=action or None,
        since=_date(params.get("since", ""), "since"),
        until=_date(params.get("until", ""), "until"),
    )


@view_config(
    route_name="audit.list",
    renderer="audit/list.html",
    permission=Permission.AUDIT,
    request_method="GET",
)
def audit_list(request):
    audit_filter = _filter(request)
    before = request.GET.get("before", "")
    before_id = int(before) if before.isdigit() else None
    entries = service.search(request.db, audit_filter, before_id, limit=101)
    return {
        "entries": entries[:100],
        "next_before": entries[99].id if len(entries) > 100 else None,
        "filter": audit_filter,
        "actions": service.known_actions(request.db),
        "query": {k: v for k, v in request.GET.items() if k != "before"},
    }


@view_config(route_name="audit.export", permission=Permission.AUDIT, request_method="GET")
def audit_export(request):
    audit_filter = _filter(request)
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
    request.db.flush()
    rows = "".join(service.export_csv(request.db, audit_filter))
    response = Response(rows, content_type="text/csv", charset="utf-8")
    response.content_disposition = 'attachment; filename="asthron-audit.csv"'
    return response

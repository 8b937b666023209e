"""The owner's privacy page: look a person up, export or erase them, set retention windows."""

from __future__ import annotations

from pyramid.response import Response
from pyramid.view import view_config

from asthron import audit
from asthron.forms import field, notice, query_field, redirect
from asthron.privacy import retention, subjects
from asthron.security.permissions import Permission

KINDS = ("email", "phone", "visitor")


def _query(kind: str, value: str) -> subjects.SubjectQuery:
    if kind not in KINDS:
        raise subjects.SubjectError("Choose email, phone or visitor id.")
    return subjects.SubjectQuery.parse(*(value if kind == k else None for k in KINDS))


def _page(request, kind="email", value="", found=None, error=None, status=200):
    request.response.status_code = status
    settings = request.app_settings
    return {
        "windows": retention.windows(request.db, settings),
        "defaults": settings.retention_days,
        "kinds": KINDS,
        "kind": kind,
        "value": value,
        "found": found,
        "error": error,
        "notice": notice(request),
    }


@view_config(
    route_name="privacy.page",
    renderer="privacy/page.html",
    permission=Permission.DATA_DELETION,
    request_method="GET",
)
def privacy_page(request):
    kind = query_field(request, "kind", 10) or "email"
    value = query_field(request, "value", 320).strip()
    if not value:
        return _page(request, kind)
    try:
        subject = subjects.find(request.db, _query(kind, value), request.registry["secret_box"])
    except subjects.SubjectError as exc:
        return _page(request, kind, value, error=str(exc))
    return _page(request, kind, value, found=sorted(subject.counts().items()))


@view_config(
    route_name="privacy.retention",
    renderer="privacy/page.html",
    permission=Permission.DATA_DELETION,
    request_method="POST",
)
def privacy_retention(request):
    settings = request.app_settings
    current = retention.windows(request.db, settings)
    changes = {}
    for category in settings.retention_days:
        text = field(request, category, 6).strip()
        if not text:
            continue
        if not text.isdigit() or int(text) > retention.MAX_DAYS:
            return _page(
                request,
                error=f"{category}: enter a number of days from 0 to {retention.MAX_DAYS}.",
                status=400,
            )
        if int(text) != current[category]:
            changes[category] = int(text)
    # Every value was checked above, so nothing is written unless all of them are good.
    for category, days in changes.items():
        retention.set_window(request.db, request.actor, settings, category, days)
    return redirect(request, "privacy.page", "retention_saved")


def _posted_subject(request):
    kind, value = field(request, "kind", 10), field(request, "value", 320).strip()
    subject = subjects.find(request.db, _query(kind, value), request.registry["secret_box"])
    return kind, value, subject


@view_config(
    route_name="privacy.export",
    renderer="privacy/page.html",
    permission=Permission.DATA_DELETION,
    request_method="POST",
)
def privacy_export(request):
    try:
        kind, value, subject = _posted_subject(request)
    except subjects.SubjectError as exc:
        return _page(request, error=str(exc), status=400)
    data = subjects.export_bytes(
        subjects.rows_of(request.db, subject, request.registry["secret_box"])
    )
    audit.record(
        request.db,
        request.actor,
        "privacy.subject_exported",
        "subject",
        None,
        {"tables": subject.counts()},
    )
    response = Response(body=data, content_type="application/zip")
    response.content_disposition = 'attachment; filename="personal-data.zip"'
    response.cache_control = "no-store"
    return response


@view_config(
    route_name="privacy.erase",
    renderer="privacy/page.html",
    permission=Permission.DATA_DELETION,
    request_method="POST",
)
def privacy_erase(request):
    try:
        kind, value, subject = _posted_subject(request)
    except subjects.SubjectError as exc:
        return _page(request, error=str(exc), status=400)
    if field(request, "confirm", 10) != "erase":
        found = sorted(subject.counts().items())
        return _page(request, kind, value, found, "Type erase to confirm.", status=400)
    settings = request.app_settings
    subjects.erase(
        request.db, subject, request.actor, request.registry["secrets"], settings.var_dir
    )
    return redirect(request, "privacy.page", "subject_erased")

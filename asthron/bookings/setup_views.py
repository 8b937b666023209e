"""Bookings → Setup (owners and admins): services, staff members and resources, each one's
weekly hours (a grid; the site's business hours by default), date overrides and holidays.

Views parse with ``asthron.forms.parse_form`` and call ``setup_service``; a form with a
problem comes back as a 400 page with the message beside the field and what was typed kept.
"""

from __future__ import annotations

from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config

from asthron.bookings import setup_service as setup
from asthron.bookings.models import BookingResource, BookingService
from asthron.bookings.setup_forms import (
    DAY_NAMES,
    OVERRIDE_RANGES,
    RANGES_PER_DAY,
    HolidaysForm,
    HoursForm,
    OverrideForm,
    RemoveOverrideForm,
    ResourceForm,
    ServiceForm,
    SiteChoice,
    hours_field,
)
from asthron.forms import (
    FormError,
    matched_id,
    notice,
    parse_form,
    parse_id,
    read_form,
    redirect,
)
from asthron.security.permissions import Permission
from asthron.sites.hours import DAYS

MAX_RESOURCE_BOXES = 200


@view_config(
    route_name="bookings.setup",
    renderer="bookings/setup/index.html",
    permission=Permission.SETTINGS,
    request_method="GET",
)
def setup_index(request):
    db = request.db
    return {
        "sites": [
            (site, setup.services_of(db, site.id), setup.resources_of_site(db, site.id))
            for site in setup.sites(db)
        ],
        "notice": notice(request),
    }


# -- services ------------------------------------------------------------------------------


def _service(request) -> BookingService:
    service = request.db.get(BookingService, matched_id(request, "service_id"))
    if service is None:
        raise HTTPNotFound()
    return service


def _money(cents) -> str:
    return "" if cents is None else f"{cents / 100:.2f}"


def _service_values(service: BookingService | None) -> dict:
    if service is None:
        return {
            "duration_minutes": "30",
            "window_days": "60",
            "min_notice_minutes": "60",
            "currency": "EUR",
            "active": "1",
        }
    values = {
        key: "" if getattr(service, key) is None else str(getattr(service, key))
        for key in ServiceForm.model_fields
        if hasattr(service, key) and key not in ("requires_approval", "active")
    }
    values.update(
        price=_money(service.price_cents),
        deposit=_money(service.deposit_cents),
        requires_approval="1" if service.requires_approval else "",
        active="1" if service.active else "",
    )
    return values


def _service_page(request, service, site_id, *, status=200, errors=None, values=None, chosen=None):
    request.response.status_code = status
    db = request.db
    sites = setup.sites(db)
    resources = {site.id: setup.resources_of_site(db, site.id) for site in sites}
    if chosen is None:
        chosen = setup.serving(db, service.id) if service else set()
    return {
        "service": service,
        "sites": sites,
        "site_id": site_id,
        "resources": resources,
        "chosen": chosen,
        "values": values if values is not None else _service_values(service),
        "errors": errors or {},
        "error": next(iter((errors or {}).values()), None),
    }


def _posted_resources(request) -> list[int]:
    """The ticked "serves this" boxes; anything that is not an id is a form error."""
    posted = request.POST.getall("resources")
    if len(posted) > MAX_RESOURCE_BOXES:
        raise FormError({"resources": "Too many staff members or resources."})
    ids = [parse_id(value) for value in posted]
    if any(i is None for i in ids):
        raise FormError({"resources": "Choose staff members or resources of this site."})
    return sorted(set(ids))


def _save_service(request, service: BookingService | None):
    """Every field's problem at once; the page comes back with what was typed."""
    db = request.db
    names = [*ServiceForm.model_fields, "site_id"]
    values, _ = read_form(request.POST, names, ServiceForm.read_limits, ServiceForm.read_limit)
    errors: dict[str, str] = {}
    form = site = None
    chosen: list[int] = []
    site_id = service.site_id if service else parse_id(values["site_id"])
    try:
        form = parse_form(ServiceForm, request.POST)
    except FormError as error:
        errors.update(error.errors)
    try:
        if service is None:
            parse_form(SiteChoice, request.POST)
        site = setup.site_or_error(db, site_id or 0)
    except FormError as error:
        errors.update(error.errors)
    try:
        chosen = _posted_resources(request)
        if site is not None:
            setup.check_resources(db, site.id, chosen)
    except FormError as error:
        errors.update(error.errors)
    if not errors:
        try:
            saved = setup.save_service(db, request.actor, site, form, chosen, service)
        except FormError as error:
            errors.update(error.errors)
    if errors:
        return _service_page(
            request,
            service,
            site_id,
            status=400,
            errors=errors,
            values=values,
            chosen=set(chosen),
        )
    return redirect(request, "bookings.service_edit", "booking_service_saved", service_id=saved.id)


@view_config(
    route_name="bookings.service_new",
    renderer="bookings/setup/service.html",
    permission=Permission.SETTINGS,
    request_method="GET",
)
def service_new(request):
    sites = setup.sites(request.db)
    return _service_page(request, None, sites[0].id if len(sites) == 1 else None)


@view_config(
    route_name="bookings.service_new",
    renderer="bookings/setup/service.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def service_create(request):
    return _save_service(request, None)


@view_config(
    route_name="bookings.service_edit",
    renderer="bookings/setup/service.html",
    permission=Permission.SETTINGS,
    request_method="GET",
)
def service_edit(request):
    service = _service(request)
    page = _service_page(request, service, service.site_id)
    page["notice"] = notice(request)
    return page


@view_config(
    route_name="bookings.service_edit",
    renderer="bookings/setup/service.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def service_update(request):
    return _save_service(request, _service(request))


# -- staff members and resources -------------------------------------------------------------


def _resource(request) -> BookingResource:
    resource = request.db.get(BookingResource, matched_id(request, "resource_id"))
    if resource is None:
        raise HTTPNotFound()
    return resource


def _hours_values(resource: BookingResource | None, site) -> dict:
    """The grid's fields, from their own hours or else the site's business hours."""
    own = resource is not None and resource.working_hours is not None
    week = (resource.working_hours if own else site.business_hours) or {}
    values = {"use_site_hours": "" if own else "1"}
    for day in DAYS:
        for number, pair in enumerate(week.get(day, [])[:RANGES_PER_DAY], start=1):
            values[hours_field(day, number, "start")] = pair[0]
            values[hours_field(day, number, "end")] = pair[1]
    return values


def _holidays_values(resource: BookingResource) -> dict:
    own = resource.holidays is not None
    return {"use_site_holidays": "" if own else "1", "holidays": "\n".join(resource.holidays or [])}


def _resource_page(request, resource, site_id, *, status=200, part=None, errors=None, values=None):
    """The staff member's page; ``part`` names the form that failed (its errors and values)."""
    request.response.status_code = status
    db = request.db
    sites = setup.sites(db)
    site = next((s for s in sites if s.id == site_id), None)
    forms = {"basic": {}, "hours": {}, "override": {}, "holidays": {}}
    if resource is not None:
        forms["basic"] = {
            "name": resource.name,
            "kind": resource.kind,
            "user_id": str(resource.user_id or ""),
            "active": "1" if resource.active else "",
        }
        forms["hours"] = _hours_values(resource, site)
        forms["holidays"] = _holidays_values(resource)
    else:
        forms["basic"] = {"kind": "staff", "active": "1"}
    if part is not None:
        forms[part] = values or {}
    return {
        "resource": resource,
        "site": site,
        "sites": sites,
        "site_id": site_id,
        "team": setup.team(db),
        "days": [(day, DAY_NAMES[day]) for day in DAYS],
        "ranges_per_day": RANGES_PER_DAY,
        "override_ranges": OVERRIDE_RANGES,
        "overrides": sorted((resource.overrides or {}).items()) if resource else [],
        "site_hours": site.business_hours if site else {},
        "site_holidays": site.holidays if site else [],
        "part": part,
        "forms": forms,
        "errors": errors or {},
        "error": next(iter((errors or {}).values()), None),
    }


def _checkboxes(request, values: dict, *names: str) -> dict:
    for name in names:
        posted = request.POST.get(name)
        values[name] = posted if isinstance(posted, str) else ""
    return values


@view_config(
    route_name="bookings.resource_new",
    renderer="bookings/setup/resource.html",
    permission=Permission.SETTINGS,
    request_method="GET",
)
def resource_new(request):
    sites = setup.sites(request.db)
    return _resource_page(request, None, sites[0].id if len(sites) == 1 else None)


@view_config(
    route_name="bookings.resource_new",
    renderer="bookings/setup/resource.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def resource_create(request):
    names = [*ResourceForm.model_fields, "site_id"]
    values, _ = read_form(request.POST, names, limit=ResourceForm.read_limit)
    site_id = parse_id(values["site_id"])
    errors: dict[str, str] = {}
    form = site = None
    try:
        form = parse_form(ResourceForm, request.POST)
    except FormError as error:
        errors.update(error.errors)
    try:
        parse_form(SiteChoice, request.POST)
        site = setup.site_or_error(request.db, site_id or 0)
    except FormError as error:
        errors.update(error.errors)
    if not errors:
        try:
            resource = setup.save_resource(request.db, request.actor, site, form)
        except FormError as error:
            errors.update(error.errors)
    if errors:
        return _resource_page(
            request, None, site_id, status=400, part="basic", errors=errors, values=values
        )
    return redirect(
        request, "bookings.resource_edit", "booking_resource_saved", resource_id=resource.id
    )


@view_config(
    route_name="bookings.resource_edit",
    renderer="bookings/setup/resource.html",
    permission=Permission.SETTINGS,
    request_method="GET",
)
def resource_edit(request):
    resource = _resource(request)
    page = _resource_page(request, resource, resource.site_id)
    page["notice"] = notice(request)
    return page


def _resource_post(request, part: str, apply, checkboxes=()):
    """Parse and apply one of the staff member's forms, or show it again with its errors."""
    resource = _resource(request)
    try:
        apply(request.db, resource)
    except FormError as error:
        values = _checkboxes(request, dict(error.values), *checkboxes)
        return _resource_page(
            request,
            resource,
            resource.site_id,
            status=400,
            part=part,
            errors=error.errors,
            values=values,
        )
    return redirect(
        request, "bookings.resource_edit", "booking_resource_saved", resource_id=resource.id
    )


@view_config(
    route_name="bookings.resource_edit",
    renderer="bookings/setup/resource.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def resource_update(request):
    def apply(db, resource):
        form = parse_form(ResourceForm, request.POST)
        site = setup.site_or_error(db, resource.site_id)
        setup.save_resource(db, request.actor, site, form, resource)

    return _resource_post(request, "basic", apply, ("active",))


@view_config(
    route_name="bookings.resource_hours",
    renderer="bookings/setup/resource.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def resource_hours(request):
    def apply(db, resource):
        form = parse_form(HoursForm, request.POST)
        setup.set_hours(db, request.actor, resource, form.week())

    return _resource_post(request, "hours", apply, ("use_site_hours",))


@view_config(
    route_name="bookings.resource_override",
    renderer="bookings/setup/resource.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def resource_override(request):
    def apply(db, resource):
        form = parse_form(OverrideForm, request.POST)
        setup.set_override(db, request.actor, resource, form.date, form.ranges())

    return _resource_post(request, "override", apply, ("closed",))


@view_config(
    route_name="bookings.resource_override_remove",
    renderer="bookings/setup/resource.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def resource_override_remove(request):
    def apply(db, resource):
        form = parse_form(RemoveOverrideForm, request.POST)
        setup.remove_override(db, request.actor, resource, form.date)

    return _resource_post(request, "override", apply)


@view_config(
    route_name="bookings.resource_holidays",
    renderer="bookings/setup/resource.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def resource_holidays(request):
    def apply(db, resource):
        form = parse_form(HolidaysForm, request.POST)
        setup.set_holidays(
            db, request.actor, resource, None if form.use_site_holidays else form.holidays
        )

    return _resource_post(request, "holidays", apply, ("use_site_holidays",))

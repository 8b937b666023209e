"""Bookings → Calendars: connect Google or CalDAV per staff member/resource, pick calendars,
test, disconnect, and see each one's state. Owners and admins manage every resource; a staff
member only their own. The logic is in ``calendar_service``.
"""

from __future__ import annotations

import sqlalchemy as sa
from pyramid.httpexceptions import HTTPFound, HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from asthron.bookings import calendar_service as setup
from asthron.bookings.calendar_forms import CaldavForm, CalendarChoiceForm, GoogleAppForm
from asthron.bookings.models import CalendarConnection, GoogleOAuthApp
from asthron.forms import FormError, matched_id, parse_form, query_field, read_form
from asthron.security.permissions import Permission, has_permission

# Notices shown after a redirect come from this list only, so a link cannot inject text.
NOTICES = {
    "connected": "The calendar is connected.",
    "saved": "Saved.",
    "tested": "The calendar was read successfully.",
    "disconnected": "The calendar was disconnected.",
    "disconnected_unrevoked": "The calendar was disconnected. Google could not be told: "
    "remove Asthron's access in the Google account's security settings.",
    "declined": "Google access was not granted; nothing changed.",
    "google_app": "The Google OAuth client was saved.",
}


def _redirect(request, notice: str) -> HTTPSeeOther:
    return HTTPSeeOther(request.route_url("bookings.calendars", _query={"notice": notice}))


def _page(request, *, message=None, errors=None, values=None, status=200):
    request.response.status_code = status
    notice = NOTICES.get(query_field(request, "notice", 40))
    configured = request.db.scalar(sa.select(GoogleOAuthApp.client_id).limit(1)) or (
        request.app_settings.extra.get("asthron.google_client_id") or ""
    )
    return {
        "rows": setup.rows_for(request.db, request.user),
        "message": message,
        "notice": notice,
        "errors": errors or {},
        "values": values or {},
        "google_configured": bool(configured),
        "google_client_id": configured,
        "may_set_google_app": has_permission(request.user.role, Permission.INTEGRATIONS),
    }


def _resource(request):
    try:
        return setup.resource_for(request.db, request.user, matched_id(request, "resource_id"))
    except setup.NotYours:
        raise HTTPNotFound() from None


def _connection(request) -> CalendarConnection:
    resource = _resource(request)
    connection = request.db.scalar(
        sa.select(CalendarConnection).where(CalendarConnection.resource_id == resource.id)
    )
    if connection is None:
        raise HTTPNotFound()
    return connection


def _redirect_uri(request) -> str:
    # Google compares it with the registered one exactly: the public address, not the Host.
    return request.route_url(
        "bookings.calendar_google_callback", _app_url=request.app_settings.public_url
    )


@view_config(
    route_name="bookings.calendars",
    renderer="bookings/calendars.html",
    permission=Permission.BOOKINGS,
    request_method="GET",
)
def calendars_page(request):
    return _page(request)


@view_config(
    route_name="bookings.calendar_caldav",
    renderer="bookings/calendars.html",
    permission=Permission.BOOKINGS,
    request_method="POST",
)
def connect_caldav(request):
    resource = _resource(request)
    try:
        form = parse_form(CaldavForm, request.POST)
        setup.connect_caldav(
            request.db,
            request.actor,
            request.user,
            resource,
            url=form.url,
            username=form.username,
            password=form.password,
            box=request.secret_box,
            allowed_private=request.app_settings.outbound_allowed_private_hosts,
        )
    except FormError as error:
        values = {k: v for k, v in error.values.items() if k != "password"}
        return _page(request, errors=error.errors, values=values, status=400)
    except setup.CalendarSetupError as error:
        values = {"url": request.POST.get("url", ""), "username": request.POST.get("username", "")}
        return _page(request, message=str(error), values=values, status=400)
    return _redirect(request, "connected")


@view_config(
    route_name="bookings.calendar_google_start",
    renderer="bookings/calendars.html",
    permission=Permission.BOOKINGS,
    request_method="POST",
)
def google_start(request):
    resource = _resource(request)
    try:
        url = setup.start_google(
            request.db,
            request.user_session.id,
            resource,
            redirect_uri=_redirect_uri(request),
            settings=request.app_settings,
            box=request.secret_box,
        )
    except setup.CalendarSetupError as error:
        return _page(request, message=str(error), status=400)
    return HTTPFound(url)


@view_config(
    route_name="bookings.calendar_google_callback",
    renderer="bookings/calendars_problem.html",
    permission=Permission.BOOKINGS,
    request_method="GET",
)
def google_callback(request):
    try:
        flow = setup.take_state(request.db, request.user_session.id, query_field(request, "state"))
    except setup.OAuthStateMismatch as error:
        request.response.status_code = 400
        return {"message": str(error)}
    error = query_field(request, "error", 100)
    if error:
        if error == "access_denied":
            return _redirect(request, "declined")
        request.response.status_code = 400
        return {"message": f"Google did not connect the calendar ({error})."}
    try:
        setup.finish_google(
            request.db,
            request.actor,
            request.user,
            flow,
            code=query_field(request, "code", 2000),
            redirect_uri=_redirect_uri(request),
            settings=request.app_settings,
            box=request.secret_box,
        )
    except setup.NotYours:
        raise HTTPNotFound() from None
    except setup.CalendarSetupError as problem:
        request.response.status_code = 400
        return {"message": str(problem)}
    return _redirect(request, "connected")


@view_config(
    route_name="bookings.calendar_choose",
    renderer="bookings/calendars.html",
    permission=Permission.BOOKINGS,
    request_method="POST",
)
def choose(request):
    connection = _connection(request)
    listed = connection.calendars or []
    boxes, problems = read_form(request.POST, [f"busy_{n}" for n in range(len(listed))], limit=10)
    try:
        if problems:
            raise FormError(problems)
        form = parse_form(CalendarChoiceForm, request.POST)
        if form.write and (not form.write.isdigit() or int(form.write) >= len(listed)):
            raise setup.CalendarSetupError("Please pick calendars from the list.")
        write_id = listed[int(form.write)]["id"] if form.write else ""
        busy_ids = [listed[n]["id"] for n in range(len(listed)) if boxes[f"busy_{n}"]]
        setup.choose_calendars(
            request.db,
            request.actor,
            connection,
            busy_ids=busy_ids,
            write_id=write_id,
            write_bookings=form.write_bookings,
            box=request.secret_box,
        )
    except FormError as error:
        return _page(request, message=error.message, status=400)
    except setup.CalendarSetupError as error:
        return _page(request, message=str(error), status=400)
    return _redirect(request, "saved")


@view_config(
    route_name="bookings.calendar_test",
    renderer="bookings/calendars.html",
    permission=Permission.BOOKINGS,
    request_method="POST",
)
def test(request):
    connection = _connection(request)
    problem = setup.test_connection(request.db, request.actor, connection, request.secret_box)
    if problem:
        # The failed read is kept (it makes the resource unbookable until a read works).
        return _page(request, message=f"The calendar could not be read: {problem}", status=400)
    return _redirect(request, "tested")


@view_config(
    route_name="bookings.calendar_disconnect",
    permission=Permission.BOOKINGS,
    request_method="POST",
)
def disconnect(request):
    told = setup.disconnect(
        request.db, request.actor, _connection(request), request.secret_box, request.app_settings
    )
    return _redirect(request, "disconnected" if told else "disconnected_unrevoked")


@view_config(
    route_name="bookings.google_app",
    renderer="bookings/calendars.html",
    permission=Permission.INTEGRATIONS,
    request_method="POST",
)
def google_app(request):
    try:
        form = parse_form(GoogleAppForm, request.POST)
    except FormError as error:
        values = {k: v for k, v in error.values.items() if k != "client_secret"}
        return _page(request, errors=error.errors, values=values, status=400)
    setup.set_google_app(
        request.db, request.actor, request.secret_box, form.client_id, form.client_secret
    )
    return _redirect(request, "google_app")

"""The public booking page of a service (a server-rendered form that works without
JavaScript), and the staff's bookings: the filtered list, the day/week calendar, and
approve, decline, cancel, no-show and reschedule (each a POST; the logic is in service.py).

No login: the site's public key and the service's slug name the page; the booking reference
(random, 128 bits) is the authority for its confirmation page. The form carries the
pre-login CSRF token like the login form.
"""

from __future__ import annotations

import datetime as dt
from itertools import groupby

import sqlalchemy as sa
from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.renderers import render_to_response
from pyramid.view import view_config

from asthron.bookings import agenda, payment_events
from asthron.bookings import service as bookings
from asthron.bookings.forms import (
    LIST_STATUSES,
    BookingFilters,
    BookingForm,
    CalendarQuery,
    StaffRescheduleForm,
)
from asthron.bookings.models import Booking, BookingService
from asthron.bookings.tasks import queue_calendar_write
from asthron.db import utcnow
from asthron.forms import FormError, matched_id, notice, parse_form, redirect
from asthron.security.permissions import Permission
from asthron.sites.hours import zone
from asthron.sites.models import Site

PAGE_DAYS = 14
PAGE_SLOTS = 300


def _site_and_service(request) -> tuple[Site, BookingService]:
    key = request.matchdict.get("site_key", "")
    site = request.db.scalar(sa.select(Site).where(Site.public_key == key))
    if site is None:
        raise HTTPNotFound()
    try:
        return site, bookings.get_service(request.db, site.id, request.matchdict.get("slug", ""))
    except bookings.ServiceNotFound:
        raise HTTPNotFound() from None


def slot_days(slots, site: Site) -> list[tuple[str, list[tuple[str, str]]]]:
    """Slots grouped by local day: [("Monday 2 March", [(value, "09:30"), …]), …]."""
    tz = zone(site.timezone)
    local = [(s.start.isoformat(), s.start.astimezone(tz)) for s in slots]
    return [
        (day.strftime("%A %d %B"), [(value, moment.strftime("%H:%M")) for value, moment in group])
        for day, group in groupby(local, key=lambda pair: pair[1].date())
    ]


def _page(request, site, service, *, slots=None, errors=None, values=None, message=None):
    now = utcnow()
    if slots is None:
        slots = bookings.offered_slots(
            request.db,
            service,
            now=now,
            end=now + dt.timedelta(days=PAGE_DAYS),
            limit=PAGE_SLOTS,
        )
    return {
        "site": site,
        "service": service,
        "days": slot_days(slots, site),
        "errors": errors or {},
        "values": values or {},
        "message": message,
    }


@view_config(route_name="bookings.page", renderer="bookings/page.html", request_method="GET")
def booking_page(request):
    site, service = _site_and_service(request)
    return _page(request, site, service)


@view_config(route_name="bookings.page", renderer="bookings/page.html", request_method="POST")
def booking_post(request):
    site, service = _site_and_service(request)
    try:
        form = parse_form(BookingForm, request.POST)
    except FormError as error:
        request.response.status = 400
        return _page(request, site, service, errors=error.errors, values=error.values)
    customer = bookings.Customer(
        name=form.name, email=form.email, phone=form.phone or None, notes=form.notes
    )
    paid = payment_events.amount_due(service) > 0
    try:
        if paid:
            booking = payment_events.hold_for_payment(request.db, service, form.slot, customer)
        else:
            booking = bookings.book(request.db, service, form.slot, customer)
    except bookings.SlotTaken as taken:
        request.response.status = 409
        values = {"name": form.name, "email": form.email, "phone": form.phone, "notes": form.notes}
        return _page(
            request, site, service, slots=taken.alternatives, values=values, message=str(taken)
        )
    except bookings.BookingError as error:
        request.response.status = 400
        return _page(request, site, service, message=str(error))
    if paid:
        # The payments feature's pay page (booking.held made the payment); it comes back to
        # bookings.done after Checkout.
        return HTTPSeeOther(request.route_url("payments.booking", reference=booking.reference))
    queue_calendar_write(request.db, booking)
    return HTTPSeeOther(request.route_url("bookings.done", reference=booking.reference))


@view_config(route_name="bookings.done", renderer="bookings/done.html", request_method="GET")
def booking_done(request):
    booking = request.db.scalar(
        sa.select(Booking).where(Booking.reference == request.matchdict.get("reference", ""))
    )
    if booking is None:
        raise HTTPNotFound()
    service = request.db.get(BookingService, booking.service_id)
    site = request.db.get(Site, service.site_id)
    local = booking.starts_at.astimezone(zone(site.timezone))
    return {
        "booking": booking,
        "service": service,
        "when": f"{local.strftime('%A %d %B %Y, %H:%M')} ({site.timezone})",
    }


# -- the staff's dashboard -------------------------------------------------------------------


def _list_page(request, *, message=None, filters=None, errors=None):
    if filters is None:
        try:
            filters = parse_form(BookingFilters, request.GET)
        except FormError as error:
            request.response.status = 400
            errors = error.errors
            filters = BookingFilters(
                status="open", service=None, resource=None, since=None, until=None
            )
    return {
        "rows": agenda.list_bookings(request.db, filters),
        "filters": filters,
        "errors": errors or {},
        "statuses": LIST_STATUSES,
        "labels": bookings.STATUS_LABELS,
        "services": agenda.service_choices(request.db),
        "resources": agenda.resource_choices(request.db),
        "message": message,
        "notice": notice(request),
        "now": utcnow(),
    }


@view_config(
    route_name="bookings.list",
    renderer="bookings/list.html",
    permission=Permission.BOOKINGS,
    request_method="GET",
)
def booking_list(request):
    return _list_page(request)


@view_config(
    route_name="bookings.agenda",
    renderer="bookings/calendar.html",
    permission=Permission.BOOKINGS,
    request_method="GET",
)
def booking_calendar(request):
    try:
        query = parse_form(CalendarQuery, request.GET)
        errors = {}
    except FormError as error:
        request.response.status = 400
        query, errors = CalendarQuery(date=None, view="week", resource=None), error.errors
    return {
        "grid": agenda.calendar(request.db, query),
        "query": query,
        "errors": errors,
        "resources": agenda.resource_choices(request.db),
        "labels": bookings.STATUS_LABELS,
    }


def _staff_change(request, change, notice_key: str):
    """Run one staff action on the booking in the URL; a refusal is the list with its reason
    (400, or 409 with the free times when the new time is taken), and nothing changed."""
    booking = request.db.get(Booking, matched_id(request, "booking_id"))
    if booking is None:
        raise HTTPNotFound()
    try:
        change(booking)
    except bookings.SlotTaken as taken:
        times = ", ".join(_local(request, booking, o.start) for o in taken.alternatives)
        message = str(taken) + (f" Free: {times}." if times else "")
        return _list_response(request, message, 409)
    except bookings.BookingError as error:
        return _list_response(request, str(error), 400)
    # The calendar event follows: confirmed, moved or cancelled.
    queue_calendar_write(request.db, booking)
    return redirect(request, "bookings.list", notice=notice_key)


def _list_response(request, message: str, status: int):
    response = render_to_response(
        "bookings/list.html", _list_page(request, message=message), request
    )
    response.status = status
    return response


def _local(request, booking: Booking, moment: dt.datetime) -> str:
    service = request.db.get(BookingService, booking.service_id)
    site = request.db.get(Site, service.site_id)
    return moment.astimezone(zone(site.timezone)).strftime("%a %d %b %H:%M")


@view_config(route_name="bookings.approve", permission=Permission.BOOKINGS, request_method="POST")
def booking_approve(request):
    return _staff_change(
        request, lambda b: bookings.approve(request.db, request.actor, b), "booking_approved"
    )


@view_config(route_name="bookings.decline", permission=Permission.BOOKINGS, request_method="POST")
def booking_decline(request):
    return _staff_change(
        request, lambda b: bookings.decline(request.db, request.actor, b), "booking_declined"
    )


@view_config(route_name="bookings.cancel", permission=Permission.BOOKINGS, request_method="POST")
def booking_cancel(request):
    return _staff_change(
        request, lambda b: bookings.cancel(request.db, request.actor, b), "booking_cancelled"
    )


@view_config(route_name="bookings.no_show", permission=Permission.BOOKINGS, request_method="POST")
def booking_no_show(request):
    return _staff_change(
        request, lambda b: bookings.mark_no_show(request.db, request.actor, b), "booking_no_show"
    )


@view_config(
    route_name="bookings.reschedule", permission=Permission.BOOKINGS, request_method="POST"
)
def booking_reschedule(request):
    def move(booking):
        try:
            form = parse_form(StaffRescheduleForm, request.POST)
        except FormError as error:
            raise bookings.BookingError(error.message) from None
        start = bookings.in_site_zone(request.db, booking, form.starts_at)
        bookings.reschedule(request.db, request.actor, booking, start)

    return _staff_change(request, move, "booking_rescheduled")

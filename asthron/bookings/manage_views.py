"""The customer's links from the booking's emails: see the booking, cancel it, move it.

No login: the link's random token is the authority (``links.py``). GET only shows a page
(mail scanners and link previews follow links); the change is a POST from that page, with
the pre-login CSRF token. An unknown token is a 404 page, a revoked one a 410 page, and
neither changes anything.
"""

from __future__ import annotations

import datetime as dt

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config

from asthron.audit.service import Actor
from asthron.bookings import service as bookings
from asthron.bookings.forms import RescheduleForm
from asthron.bookings.links import LinkNotValid, booking_for_token
from asthron.bookings.models import Booking, BookingService
from asthron.bookings.notices import local_time
from asthron.bookings.tasks import queue_calendar_write
from asthron.bookings.views import slot_days
from asthron.db import utcnow
from asthron.forms import FormError, parse_form
from asthron.sites.models import Site

RESCHEDULE_DAYS = 21
RESCHEDULE_SLOTS = 300


class _Invalid(Exception):
    def __init__(self, page: dict):
        self.page = page


def _context(request) -> tuple[Booking, BookingService, Site]:
    try:
        booking = booking_for_token(request.db, request.matchdict.get("token", ""))
    except LinkNotValid as invalid:
        request.response.status = 410 if invalid.gone else 404
        raise _Invalid({"invalid": str(invalid)}) from None
    service = request.db.get(BookingService, booking.service_id)
    return booking, service, request.db.get(Site, service.site_id)


def _page(request, booking, service, site, **extra) -> dict:
    now = utcnow()
    return {
        "invalid": None,
        "booking": booking,
        "service": service,
        "site": site,
        "when": local_time(booking.starts_at, site.timezone),
        "status_label": bookings.STATUS_LABELS.get(booking.status, booking.status),
        "can_change": booking.status in ("pending", "confirmed") and booking.starts_at > now,
        "token": request.matchdict["token"],
        "message": None,
        "days": [],
        **extra,
    }


def _customer(request) -> Actor:
    return Actor(label="customer", ip_address=request.client_addr)


@view_config(route_name="bookings.manage", renderer="bookings/manage.html", request_method="GET")
def manage(request):
    try:
        return _page(request, *_context(request))
    except _Invalid as invalid:
        return invalid.page


@view_config(
    route_name="bookings.manage_cancel",
    renderer="bookings/manage_cancel.html",
    request_method="GET",
)
def manage_cancel_confirm(request):
    try:
        return _page(request, *_context(request))
    except _Invalid as invalid:
        return invalid.page


@view_config(
    route_name="bookings.manage_cancel",
    renderer="bookings/manage_cancel.html",
    request_method="POST",
)
def manage_cancel(request):
    try:
        booking, service, site = _context(request)
    except _Invalid as invalid:
        return invalid.page
    try:
        bookings.cancel(request.db, _customer(request), booking, by=bookings.CUSTOMER)
    except bookings.BookingError as error:
        request.response.status = 409
        return _page(request, booking, service, site, message=str(error))
    queue_calendar_write(request.db, booking)
    return HTTPSeeOther(request.route_url("bookings.done", reference=booking.reference))


def _reschedule_page(request, booking, service, site, *, slots=None, message=None):
    if slots is None:
        now = utcnow()
        slots = bookings.offered_slots(
            request.db,
            service,
            now=now,
            end=now + dt.timedelta(days=RESCHEDULE_DAYS),
            limit=RESCHEDULE_SLOTS,
        )
    # The booking's own time is taken by itself: never offer it as "another time".
    slots = [slot for slot in slots if slot.start != booking.starts_at]
    return _page(request, booking, service, site, days=slot_days(slots, site), message=message)


@view_config(
    route_name="bookings.manage_reschedule",
    renderer="bookings/manage_reschedule.html",
    request_method="GET",
)
def manage_reschedule_form(request):
    try:
        return _reschedule_page(request, *_context(request))
    except _Invalid as invalid:
        return invalid.page


@view_config(
    route_name="bookings.manage_reschedule",
    renderer="bookings/manage_reschedule.html",
    request_method="POST",
)
def manage_reschedule(request):
    try:
        booking, service, site = _context(request)
    except _Invalid as invalid:
        return invalid.page
    try:
        form = parse_form(RescheduleForm, request.POST)
        bookings.reschedule(
            request.db, _customer(request), booking, form.slot, by=bookings.CUSTOMER
        )
    except FormError as error:
        request.response.status = 400
        return _reschedule_page(request, booking, service, site, message=error.message)
    except bookings.SlotTaken as taken:
        request.response.status = 409
        return _reschedule_page(
            request, booking, service, site, slots=taken.alternatives, message=str(taken)
        )
    except bookings.BookingError as error:
        request.response.status = 400
        return _reschedule_page(request, booking, service, site, message=str(error))
    queue_calendar_write(request.db, booking)
    return HTTPSeeOther(request.route_url("bookings.done", reference=booking.reference))

"""The public booking page of a service (a server-rendered form that works without
JavaScript), and the staff's list of upcoming bookings with approve, reject and cancel.

No login: the site's public key and the service's slug name the page; the booking reference
(random, 128 bits) is the authority for its confirmation page. The form carries the
pre-login CSRF token like the login form.
"""

from __future__ import annotations

import datetime as dt
from itertools import groupby

import sqlalchemy as sa
from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from asthron.bookings import payment_events
from asthron.bookings import service as bookings
from asthron.bookings.forms import BookingForm
from asthron.bookings.models import Booking, BookingService
from asthron.bookings.tasks import queue_calendar_write
from asthron.db import utcnow
from asthron.forms import FormError, matched_id, parse_form, redirect
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


def _days(slots, site: Site) -> list[tuple[str, list[tuple[str, str]]]]:
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
        "days": _days(slots, site),
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


@view_config(
    route_name="bookings.list",
    renderer="bookings/list.html",
    permission=Permission.BOOKINGS,
    request_method="GET",
)
def booking_list(request, message: str | None = None):
    rows = bookings.upcoming(request.db)
    return {
        "rows": [
            (row, row.booking.starts_at.astimezone(zone(row.timezone)).strftime("%a %d %b %H:%M"))
            for row in rows
        ],
        "message": message,
    }


@view_config(
    route_name="bookings.decide",
    renderer="bookings/list.html",
    permission=Permission.BOOKINGS,
    request_method="POST",
)
def booking_decide(request):
    booking = request.db.get(Booking, matched_id(request, "booking_id"))
    if booking is None:
        raise HTTPNotFound()
    action = request.POST.get("action", "")
    try:
        bookings.decide(
            request.db, request.actor, booking, action if isinstance(action, str) else ""
        )
    except bookings.BookingError as error:
        request.response.status = 400
        return booking_list(request, message=str(error))
    if action == "cancel":
        payment_events.booking_cancelled(request.db, booking)
    # The calendar event follows: confirmed, or cancelled.
    queue_calendar_write(request.db, booking)
    return redirect(request, "bookings.list")

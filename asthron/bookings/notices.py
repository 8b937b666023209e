"""What the customer and the staff are told about a booking, by email through the outbox.

The customer gets one email per change (``templates/email/booking_customer.*``), each with a
reschedule/cancel link of its own while the booking is open, and the calendar invitation
(.ics) when the booking is confirmed or moved, or its cancellation when it is cancelled. The
staff member who serves the booking (their user account), or else the site's owners and
admins, hear of new bookings, requests waiting for approval, and the customer's changes
(``templates/email/booking_staff.*``), as alerts (``asthron.alerts``: routing rules apply).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.accounts.models import User
from asthron.alerts.service import Alert, send_alert
from asthron.bookings.invitations import invitation, invitation_attachment
from asthron.bookings.links import issue_link
from asthron.bookings.models import Booking, BookingResource, BookingService
from asthron.db import registry_of
from asthron.notify.service import get_settings, queue_templated_email
from asthron.sites.hours import zone
from asthron.sites.models import Site

# what → the invitation method sent with it (None: no .ics)
CUSTOMER_EMAILS = {
    "confirmed": "REQUEST",
    "requested": None,
    "rescheduled": "REQUEST",
    "reminder": None,
    "cancelled": "CANCEL",
    "declined": None,
}
OPEN_STATUSES = ("pending", "confirmed")


def local_time(moment: dt.datetime, timezone: str) -> str:
    """'Tuesday 03 March 2026, 10:00 (Europe/Berlin)': the business's wall clock, named."""
    return f"{moment.astimezone(zone(timezone)).strftime('%A %d %B %Y, %H:%M')} ({timezone})"


def _public_url(db: Session) -> str:
    return registry_of(db)["app_settings"].public_url


def customer_email(
    db: Session, booking: Booking, what: str, *, now: dt.datetime, invite: bool = True
) -> None:
    """Queue the customer's email about ``what`` happened (see ``CUSTOMER_EMAILS``);
    ``invite=False`` leaves the .ics out (a cancelled request never had one)."""
    if not booking.customer_email:
        return
    service = db.get(BookingService, booking.service_id)
    site = db.get(Site, service.site_id)
    db.flush()
    manage_url = None
    if booking.status in OPEN_STATUSES:
        manage_url = f"{_public_url(db)}/booking/{issue_link(db, booking)}"
    attachments = []
    method = CUSTOMER_EMAILS[what]
    if method and invite:
        smtp = get_settings(db)
        text = invitation(
            booking,
            service,
            business_name=site.name,
            organizer_email=smtp.from_address if smtp else None,
            stamp=now,
            method=method,
        )
        attachments.append(invitation_attachment(text, method))
    queue_templated_email(
        db,
        booking.customer_email,
        "booking_customer",
        attachments=attachments,
        what=what,
        booking=booking,
        service=service,
        site=site,
        when=local_time(booking.starts_at, site.timezone),
        manage_url=manage_url,
    )


def staff_recipients(db: Session, booking: Booking) -> list[str]:
    """The staff member who serves the booking, or else every active owner and admin."""
    resource = db.get(BookingResource, booking.resource_id)
    if resource is not None and resource.user_id is not None:
        user = db.get(User, resource.user_id)
        if user is not None and user.is_active:
            return [user.email]
    return list(
        db.scalars(
            sa.select(User.email)
            .where(User.is_active.is_(True), User.role.in_(("owner", "admin")))
            .order_by(User.id)
        )
    )


# what → the alert event (asthron/alerts/catalogue.py) the staff's email goes out under
STAFF_ALERTS = {
    "new": "booking.new",
    "requested": "booking.new",
    "cancelled": "booking.cancelled",
    "rescheduled": "booking.rescheduled",
}


def staff_email(
    db: Session, booking: Booking, what: str, *, previous: dt.datetime | None = None
) -> None:
    """Tell the staff: ``what`` is new, requested, cancelled or rescheduled (by the
    customer). It goes out as an alert, so the owner's routing rules may add recipients or
    put it in a digest; the default recipients are ``staff_recipients``."""
    service = db.get(BookingService, booking.service_id)
    site = db.get(Site, service.site_id)
    resource = db.get(BookingResource, booking.resource_id)
    when = local_time(booking.starts_at, site.timezone)
    link = f"{_public_url(db)}/bookings?status={booking.status}"
    status = {"pending": "requested"}.get(booking.status, booking.status)
    facts = {"service": service.name, "staff": resource.name if resource else "", "status": status}
    if service.price_cents is not None:
        facts["price"] = service.price_cents / 100
    who = booking.customer_name or booking.customer_email or booking.reference
    send_alert(
        db,
        Alert(
            event=STAFF_ALERTS[what],
            site_id=site.id,
            facts=facts,
            email="booking_staff",
            values={
                "what": what,
                "booking": booking,
                "service": service,
                "site": site,
                "resource_name": resource.name if resource else "",
                "when": when,
                "previous": local_time(previous, site.timezone) if previous else None,
                "dashboard_url": link,
            },
            line=f"{service.name}, {when} — {who} ({what})",
            link=link,
            default_recipients=staff_recipients(db, booking),
        ),
    )


# Sample values for the email editor (config.add_email_template) and its test.
_SAMPLE_BOOKING = {
    "reference": "q3Zt8xLk2mP0aB7c",
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "customer_phone": "+442071234567",
    "notes": "First visit",
    "status": "confirmed",
}
_SAMPLE_COMMON = {
    "booking": _SAMPLE_BOOKING,
    "service": {"name": "Haircut", "duration_minutes": 30},
    "site": {"name": "Salon", "timezone": "Europe/Berlin"},
    "when": "Tuesday 03 March 2026, 10:00 (Europe/Berlin)",
}
CUSTOMER_SAMPLE = {
    **_SAMPLE_COMMON,
    "what": "confirmed",
    "manage_url": "https://example.com/booking/7yQ2…",
}
STAFF_SAMPLE = {
    **_SAMPLE_COMMON,
    "what": "new",
    "resource_name": "Stylist 1",
    "previous": None,
    "dashboard_url": "https://example.com/bookings?status=confirmed",
}

"""External calendars: busy times in, bookings out, over CalDAV or Google Calendar.

Busy times are read every few minutes into ``ExternalBusy`` rows (replaced on each sync), so
showing slots never waits for a calendar server; booking re-reads the calendars uncached
(``fresh_busy``) before it commits. A calendar that could not be read on its last try, or whose
grant was revoked (``broken_at``), makes its resource fully busy: never false free time.

CalDAV: a time-range search that expands recurring events; transparent events ("free") and
cancelled ones are ignored; an all-day event blocks its whole local day in the business's time
zone. Events written for our own bookings carry the UID ``booking-<reference>@asthron`` and
are skipped when reading: local bookings are the truth for those. They are written with
``If-None-Match: *`` (create) or ``If-Match: <etag>`` (update), so a retry or an edit made in
the calendar meanwhile is noticed, and our booking's time wins. Google: see
``google_calendar``.

The CalDAV password and the Google tokens are stored Fernet-encrypted
(``asthron.security.crypto.SecretBox``); every CalDAV URL passes the SSRF guard with the
operator's allowlist before we connect. caldav is pinned below 2 (setup.cfg says why).
"""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import quote, urljoin
from zoneinfo import ZoneInfo

import caldav
import caldav.lib.error
import icalendar
import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.accounts.models import User
from asthron.bookings import google_calendar as google
from asthron.bookings.models import (
    Booking,
    BookingResource,
    BookingService,
    CalendarConnection,
    ExternalBusy,
)
from asthron.db import new_transaction, registry_of, utcnow
from asthron.notify.service import queue_templated_email
from asthron.security.crypto import SecretBox
from asthron.security.ssrf import SSRFError, check_url
from asthron.sites.hours import zone
from asthron.sites.models import Site

log = logging.getLogger(__name__)
UID_SUFFIX = "@asthron"
TIMEOUT_SECONDS = 20
WRITE_STATUSES = ("pending", "confirmed")


class CalendarError(Exception):
    """A calendar could not be read or written; the message is fit to show to staff."""


def booking_uid(booking: Booking) -> str:
    return f"booking-{booking.reference}{UID_SUFFIX}"


def _settings(db: Session):
    return registry_of(db)["app_settings"]


def _box(db: Session, box: SecretBox | None) -> SecretBox:
    return box if box is not None else db.info["secret_box"]


# -- CalDAV ------------------------------------------------------------------------------------


def caldav_client(url: str, username: str, password: str, allowed_private) -> caldav.DAVClient:
    """A client for ``url`` once the SSRF guard has let it through (``SSRFError`` if not)."""
    check_url(url, allowed_private)
    client = caldav.DAVClient(
        url=url, username=username or None, password=password or None, timeout=TIMEOUT_SECONDS
    )

    def refuse_private_redirects(response, *args, **kwargs):
        # A public server's redirect must not lead the client somewhere private.
        if response.is_redirect:
            check_url(urljoin(response.url, response.headers.get("Location", "")), allowed_private)

    client.session.hooks["response"].append(refuse_private_redirects)
    return client


def connect(connection: CalendarConnection, box: SecretBox, allowed_private=None):
    password = box.decrypt(connection.password_encrypted) if connection.password_encrypted else ""
    if allowed_private is None:
        allowed_private = ()
    client = caldav_client(connection.calendar_url, connection.username, password, allowed_private)
    return client.calendar(url=connection.calendar_url)


def set_password(connection: CalendarConnection, box: SecretBox, password: str) -> None:
    connection.password_encrypted = box.encrypt(password) if password else None


def discover_calendars(
    url: str, username: str, password: str, allowed_private
) -> list[dict[str, str]]:
    """The calendars at ``url``: the account's (principal discovery), the collections under a
    calendar home, or the calendar the URL names. [{"url", "name"}]."""
    client = caldav_client(url, username, password, allowed_private)
    found: list = []
    try:
        try:
            found = client.principal().calendars()
        except caldav.lib.error.DAVError:
            found = []
        if not found:
            found = caldav.CalendarSet(client, url=url).calendars()
        if not found:
            calendar = client.calendar(url=url)
            calendar.get_supported_components()  # fails when the URL is not a calendar
            found = [calendar]
    except caldav.lib.error.AuthorizationError:
        raise CalendarError("The calendar server refused the username or password.") from None
    except (caldav.lib.error.DAVError, requests.RequestException, OSError) as error:
        raise CalendarError(f"No calendar found at that address ({_short(error)}).") from None
    result = []
    for calendar in found:
        for check in (calendar.url,):
            check_url(str(check), allowed_private)  # a server may point anywhere
        result.append({"url": str(calendar.url), "name": str(calendar.name or calendar.url)})
    return result


def _as_instant(value, tz: ZoneInfo) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # floating time: the business's wall clock
            value = value.replace(tzinfo=tz)
        return value.astimezone(dt.UTC)
    # A date: local midnight of that day.
    return dt.datetime.combine(value, dt.time(), tzinfo=tz).astimezone(dt.UTC)


def busy_intervals(
    calendar: caldav.Calendar, start: dt.datetime, end: dt.datetime, tz: ZoneInfo
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Busy [start, end) intervals of the calendar's events meeting [start, end)."""
    found = []
    for event in calendar.search(start=start, end=end, event=True, expand=True):
        for component in event.icalendar_instance.walk("VEVENT"):
            if str(component.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
                continue
            if str(component.get("STATUS", "")).upper() == "CANCELLED":
                continue
            if str(component.get("UID", "")).endswith(UID_SUFFIX):
                continue
            begins = component.decoded("DTSTART")
            if "DTEND" in component:
                ends = component.decoded("DTEND")
            elif "DURATION" in component:
                ends = begins + component.decoded("DURATION")
            elif isinstance(begins, dt.datetime):
                ends = begins  # an instant takes no time
            else:
                ends = begins + dt.timedelta(days=1)  # an all-day event: that day
            low, high = _as_instant(begins, tz), _as_instant(ends, tz)
            if low < high and low < end and start < high:
                found.append((low, high))
    return sorted(found)


def booking_event(booking: Booking, service: BookingService, stamp: dt.datetime) -> str:
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Asthron//bookings//EN")
    calendar.add("version", "2.0")
    event = icalendar.Event()
    event.add("uid", booking_uid(booking))
    event.add("dtstamp", stamp)
    event.add("dtstart", booking.starts_at)
    event.add("dtend", booking.ends_at)
    event.add("summary", f"{service.name}: {booking.customer_name or 'booking'}")
    status = {"confirmed": "CONFIRMED", "pending": "TENTATIVE"}.get(booking.status, "CANCELLED")
    event.add("status", status)
    if booking.customer_email:
        event.add("description", f"{booking.customer_email}\n{booking.notes}".strip())
    calendar.add_component(event)
    return calendar.to_ical().decode()


def _event_url(calendar_url: str, booking: Booking) -> str:
    # The URL caldav's save_event gives a UID, so events written before ETags are found.
    base = calendar_url if calendar_url.endswith("/") else calendar_url + "/"
    return base + quote(booking_uid(booking).replace("/", "%2F")) + ".ics"


def _current_etag(client: caldav.DAVClient, url: str) -> str | None:
    answer = client.request(url, "GET")
    if answer.status in (404, 410):
        return None
    if answer.status != 200:
        raise CalendarError(f"The calendar answered {answer.status} for the booking's event.")
    return answer.headers.get("ETag")


def _caldav_put(connection, box, allowed_private, booking, service, now) -> None:
    calendar = connect(connection, box, allowed_private)
    client = calendar.client
    url = booking.calendar_event_where or _event_url(connection.calendar_url, booking)
    body = booking_event(booking, service, now)
    headers = {"Content-Type": "text/calendar; charset=utf-8"}
    condition = (
        {"If-Match": booking.calendar_event_etag}
        if booking.calendar_event_etag
        else {"If-None-Match": "*"}
    )
    answer = client.put(url, body, {**headers, **condition})
    if answer.status == 412:
        # Made by an attempt whose answer was lost, changed in the calendar since, or deleted
        # there: the booking's time is the truth, so write it over what is there now.
        etag = _current_etag(client, url)
        condition = {"If-Match": etag} if etag else {"If-None-Match": "*"}
        answer = client.put(url, body, {**headers, **condition})
    if answer.status not in (200, 201, 204):
        raise CalendarError(f"The calendar refused the booking's event ({answer.status}).")
    booking.calendar_event_uid = booking_uid(booking)
    booking.calendar_event_where = url
    booking.calendar_event_etag = answer.headers.get("ETag") or _current_etag(client, url)


def _caldav_delete(connection, box, allowed_private, booking) -> None:
    calendar = connect(connection, box, allowed_private)
    url = booking.calendar_event_where or _event_url(connection.calendar_url, booking)
    answer = calendar.client.delete(url)
    if answer.status not in (200, 202, 204, 404, 410):
        raise CalendarError(
            f"The calendar refused to delete the booking's event ({answer.status})."
        )


def _short(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".replace("\n", " ")[:300]


# -- either provider ---------------------------------------------------------------------------


def connection_of(db: Session, resource_id: int) -> CalendarConnection | None:
    return db.scalar(
        sa.select(CalendarConnection).where(CalendarConnection.resource_id == resource_id)
    )


def _google_api(db, connection, box, http):
    client = google.oauth_client(db, _settings(db), box)
    if http is None:
        # Tests put googleapiclient's offline HTTP mock here: Google is out of their reach.
        http = registry_of(db).get("google_calendar_http")
    return google.calendar_api(connection, box, client, http=http)


def read_busy(
    db: Session,
    connection: CalendarConnection,
    start: dt.datetime,
    end: dt.datetime,
    box: SecretBox | None = None,
    *,
    http=None,
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The calendar's busy intervals in [start, end), read now. Raises ``CalendarError``
    (``google.GrantRevoked`` when only reconnecting helps)."""
    box = _box(db, box)
    if connection.broken_at is not None:
        raise CalendarError("This calendar has to be connected again.")
    try:
        if connection.provider == "google":
            if not connection.busy_calendar_ids:
                return []
            api = _google_api(db, connection, box, http)
            return google.busy_intervals(api, list(connection.busy_calendar_ids), start, end)
        resource = db.get(BookingResource, connection.resource_id)
        site = db.get(Site, resource.site_id)
        calendar = connect(connection, box, _settings(db).outbound_allowed_private_hosts)
        return busy_intervals(calendar, start, end, zone(site.timezone))
    except google.GrantRevoked:
        raise
    except (google.GoogleCalendarError, SSRFError) as error:
        raise CalendarError(str(error)) from None
    except CalendarError:
        raise
    except Exception as error:
        # A timeout, a refused connection, an answer that is not iCalendar: all mean "unread".
        raise CalendarError(f"The calendar could not be read ({_short(error)}).") from None


def mark_broken(db: Session, connection: CalendarConnection, reason: str) -> None:
    """Stop trusting the connection until it is connected again, and tell its person (once)."""
    connection.last_error = reason[:500]
    if connection.broken_at is not None:
        return
    connection.broken_at = utcnow()
    resource = db.get(BookingResource, connection.resource_id)
    user_id = connection.connected_by_id or (resource.user_id if resource else None)
    user = db.get(User, user_id) if user_id else None
    if user is not None and user.is_active:
        settings = _settings(db)
        queue_templated_email(
            db,
            user.email,
            "calendar_broken",
            resource_name=resource.name if resource else "",
            provider="Google Calendar" if connection.provider == "google" else "CalDAV",
            reason=connection.last_error,
            link=f"{settings.public_url}/bookings/calendars",
        )
    db.flush()


def sync_busy(
    db: Session,
    connection: CalendarConnection,
    box: SecretBox | None = None,
    *,
    now: dt.datetime | None = None,
    days: int = 90,
    http=None,
) -> int | None:
    """Replace the resource's stored busy times with the calendar's, ``days`` ahead; returns
    how many. When the calendar cannot be read the error is kept on the connection (which
    makes its resource unbookable until a read succeeds; a revoked grant marks it broken) and
    None is returned: nothing is raised, so the mark commits."""
    now = now or utcnow()
    try:
        intervals = read_busy(db, connection, now, now + dt.timedelta(days=days), box, http=http)
    except google.GrantRevoked as error:
        mark_broken(db, connection, str(error))
        return None
    except CalendarError as error:
        connection.last_error = str(error)[:500]
        db.flush()
        return None
    db.execute(sa.delete(ExternalBusy).where(ExternalBusy.resource_id == connection.resource_id))
    db.add_all(
        ExternalBusy(resource_id=connection.resource_id, starts_at=s, ends_at=e)
        for s, e in intervals
    )
    connection.synced_at = now
    connection.last_error = ""
    db.flush()
    return len(intervals)


def fresh_busy(
    db: Session, resource_ids: list[int], start: dt.datetime, end: dt.datetime, *, http=None
) -> tuple[dict[int, list], set[int]]:
    """Uncached busy intervals of the resources' calendars in [start, end), for the check
    before a booking commits: (busy per resource, the resources whose calendar could not be
    read now). Called before the booking's lock is taken: the network is slow."""
    busy: dict[int, list] = {}
    unreadable: set[int] = set()
    connections = db.scalars(
        sa.select(CalendarConnection).where(CalendarConnection.resource_id.in_(resource_ids))
    )
    for connection in connections:
        try:
            busy[connection.resource_id] = read_busy(db, connection, start, end, http=http)
        except (CalendarError, google.GoogleCalendarError) as error:
            log.warning("calendar %s unreadable before booking: %s", connection.id, error)
            unreadable.add(connection.resource_id)
    return busy, unreadable


def write_booking(
    db: Session,
    booking: Booking,
    box: SecretBox | None = None,
    *,
    now: dt.datetime | None = None,
    http=None,
) -> str | None:
    """Make the resource's calendar show the booking as it is now: its event created or
    updated while it is pending or confirmed, deleted once it is cancelled, rejected or expired.
    Idempotent (the event's name derives from the booking). Returns the event's UID/id, or
    None when there is no event (no calendar, or deleted)."""
    box = _box(db, box)
    connection = connection_of(db, booking.resource_id)
    if connection is None:
        return None
    if connection.broken_at is not None:
        raise CalendarError("The calendar has to be connected again before its events are written.")
    wanted = booking.status in WRITE_STATUSES and connection.write_bookings
    if not wanted and booking.calendar_event_uid is None:
        return None
    service = db.get(BookingService, booking.service_id)
    allowed_private = _settings(db).outbound_allowed_private_hosts
    try:
        if connection.provider == "google":
            api = _google_api(db, connection, box, http)
            where = booking.calendar_event_where or connection.write_calendar_id
            if wanted:
                where = connection.write_calendar_id or where
                if not where:
                    raise CalendarError("No Google calendar is chosen to receive bookings.")
                booking.calendar_event_uid = google.put_event(api, where, booking, service)
                booking.calendar_event_where = where
            else:
                google.delete_event(
                    api, where, booking.calendar_event_uid or google.event_id(booking)
                )
        elif wanted:
            _caldav_put(connection, box, allowed_private, booking, service, now or utcnow())
        else:
            _caldav_delete(connection, box, allowed_private, booking)
    except google.GrantRevoked as error:
        # Marked in a transaction of its own: this one rolls back with the failed write.
        with new_transaction(registry_of(db)) as other:
            mark_broken(other, other.get(CalendarConnection, connection.id), str(error))
        raise CalendarError(str(error)) from None
    except google.GoogleCalendarError as error:
        raise CalendarError(str(error)) from None
    if not wanted:
        booking.calendar_event_uid = None
        booking.calendar_event_where = None
        booking.calendar_event_etag = None
    db.flush()
    return booking.calendar_event_uid

"""Connecting, checking and removing the calendars of staff members and resources.

Who may: the owner and admins for every resource; a staff member only for the resource that
is theirs (``BookingResource.user_id``), so a staff member connects their own Google account
and no one else's. Every change is audited (``booking_calendar.*``), without secrets.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
import zope.sqlalchemy
from sqlalchemy.orm import Session

from asthron import audit
from asthron.accounts.models import User
from asthron.audit.service import Actor
from asthron.bookings import calendars
from asthron.bookings import google_calendar as google
from asthron.bookings.models import (
    Booking,
    BookingResource,
    CalendarConnection,
    ExternalBusy,
    GoogleOAuthState,
)
from asthron.db import registry_of, utcnow
from asthron.security.crypto import SecretBox
from asthron.security.ssrf import SSRFError, check_url

STATE_LIFETIME = dt.timedelta(minutes=10)
MANAGER_ROLES = ("owner", "admin")


class CalendarSetupError(Exception):
    """A calendar cannot be connected or changed as asked; the message is fit to show."""


class NotYours(CalendarSetupError):
    """The resource is not the person's to manage (shown as "not found")."""


class OAuthStateMismatch(CalendarSetupError):
    pass


@dataclass(frozen=True)
class CalendarRow:
    resource: BookingResource
    connection: CalendarConnection | None


def may_manage(user: User, resource: BookingResource) -> bool:
    return user.role in MANAGER_ROLES or (
        resource.user_id is not None and resource.user_id == user.id
    )


def rows_for(db: Session, user: User) -> list[CalendarRow]:
    """The resources whose calendars ``user`` may manage, with their connections."""
    query = sa.select(BookingResource, CalendarConnection).outerjoin(
        CalendarConnection, CalendarConnection.resource_id == BookingResource.id
    )
    if user.role not in MANAGER_ROLES:
        query = query.where(BookingResource.user_id == user.id)
    return [CalendarRow(r, c) for r, c in db.execute(query.order_by(BookingResource.id))]


def resource_for(db: Session, user: User, resource_id: int) -> BookingResource:
    resource = db.get(BookingResource, resource_id)
    if resource is None or not may_manage(user, resource):
        raise NotYours("No such staff member or resource.")
    return resource


def _forget_calendar(db: Session, resource_id: int) -> None:
    """Remove the resource's calendar, its busy times, and where its bookings' events were
    (they stay in the old calendar; the next change of a booking writes it to the new one)."""
    db.execute(sa.delete(ExternalBusy).where(ExternalBusy.resource_id == resource_id))
    db.execute(sa.delete(CalendarConnection).where(CalendarConnection.resource_id == resource_id))
    db.execute(
        sa.update(Booking)
        .where(Booking.resource_id == resource_id, Booking.calendar_event_uid.is_not(None))
        .values(calendar_event_uid=None, calendar_event_where=None, calendar_event_etag=None)
    )
    zope.sqlalchemy.mark_changed(db)
    db.flush()


def _replace_connection(db: Session, resource: BookingResource) -> None:
    """A resource has one calendar: connecting a new one removes the old."""
    _forget_calendar(db, resource.id)


def _first_sync(db: Session, connection: CalendarConnection, box: SecretBox) -> None:
    # Until its first read the resource offers nothing (never false free time); read at once.
    calendars.sync_busy(db, connection, box)


# -- CalDAV ------------------------------------------------------------------------------------


def connect_caldav(
    db: Session,
    actor: Actor,
    user: User,
    resource: BookingResource,
    *,
    url: str,
    username: str,
    password: str,
    box: SecretBox,
    allowed_private,
) -> CalendarConnection:
    """Check the address (SSRF guard), find the calendars there, connect the first one (the
    person may pick another afterwards) and read its busy times."""
    try:
        check_url(url, allowed_private)
        found = calendars.discover_calendars(url, username, password, allowed_private)
    except SSRFError as error:
        raise CalendarSetupError(str(error)) from None
    except calendars.CalendarError as error:
        raise CalendarSetupError(str(error)) from None
    if not found:
        raise CalendarSetupError("The server has no calendar at that address.")
    _replace_connection(db, resource)
    chosen = next((c for c in found if c["url"].rstrip("/") == url.rstrip("/")), found[0])
    connection = CalendarConnection(
        resource_id=resource.id,
        provider="caldav",
        calendar_url=chosen["url"],
        username=username,
        calendars=[{"id": c["url"], "summary": c["name"], "writable": True} for c in found],
        connected_by_id=user.id,
    )
    calendars.set_password(connection, box, password)
    db.add(connection)
    db.flush()
    _first_sync(db, connection, box)
    audit.record(
        db,
        actor,
        "booking_calendar.connect",
        "booking_resource",
        resource.id,
        {"provider": "caldav", "calendars": len(found)},
    )
    return connection


# -- Google ------------------------------------------------------------------------------------


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def start_google(
    db: Session,
    user_session_id: int,
    resource: BookingResource,
    *,
    redirect_uri: str,
    settings,
    box: SecretBox,
) -> str:
    """Begin the OAuth flow for ``resource``: the state is bound to this login session and
    kept (hashed) with the PKCE verifier. Returns the address to send the person to."""
    try:
        client = google.oauth_client(db, settings, box)
    except google.GoogleNotConfigured as error:
        raise CalendarSetupError(str(error)) from None
    state = secrets.token_urlsafe(32)
    url, verifier = google.authorization_url(client, redirect_uri, state)
    db.execute(sa.delete(GoogleOAuthState).where(GoogleOAuthState.expires_at < utcnow()))
    db.add(
        GoogleOAuthState(
            state_hash=_state_hash(state),
            user_session_id=user_session_id,
            resource_id=resource.id,
            code_verifier_encrypted=box.encrypt(verifier),
            expires_at=utcnow() + STATE_LIFETIME,
        )
    )
    db.flush()
    return url


def take_state(db: Session, user_session_id: int, state: str) -> GoogleOAuthState:
    """The started flow ``state`` names, if this login session started it (used once)."""
    row = None
    if state:
        row = db.scalar(
            sa.select(GoogleOAuthState).where(GoogleOAuthState.state_hash == _state_hash(state))
        )
    if row is None or row.user_session_id != user_session_id or row.expires_at < utcnow():
        raise OAuthStateMismatch(
            "This Google sign-in was not started here, or it took too long. Please start again."
        )
    db.delete(row)
    db.flush()
    return row


def finish_google(
    db: Session,
    actor: Actor,
    user: User,
    flow: GoogleOAuthState,
    *,
    code: str,
    redirect_uri: str,
    settings,
    box: SecretBox,
    http=None,
) -> CalendarConnection:
    """Trade the code for tokens, list the account's calendars and connect: busy = the
    primary calendar, bookings go to it (the person may change both)."""
    resource = resource_for(db, user, flow.resource_id)
    if not code:
        raise CalendarSetupError("Google sent no authorisation code. Please start again.")
    try:
        client = google.oauth_client(db, settings, box)
        credentials = google.exchange_code(
            client, redirect_uri, code, box.decrypt(flow.code_verifier_encrypted)
        )
    except google.GoogleCalendarError as error:
        raise CalendarSetupError(str(error)) from None
    _replace_connection(db, resource)
    connection = CalendarConnection(
        resource_id=resource.id, provider="google", connected_by_id=user.id
    )
    google.store_credentials(connection, box, credentials)
    if http is None:
        http = registry_of(db).get("google_calendar_http")  # as in calendars._google_api
    try:
        found = google.calendar_list(google.calendar_api(connection, box, client, http=http))
    except google.GoogleCalendarError as error:
        raise CalendarSetupError(str(error)) from None
    primary = next((c for c in found if c["primary"]), found[0] if found else None)
    connection.calendars = found
    connection.username = primary["id"] if primary else ""
    connection.busy_calendar_ids = [primary["id"]] if primary else []
    connection.write_calendar_id = primary["id"] if primary and primary["writable"] else ""
    db.add(connection)
    db.flush()
    calendars.sync_busy(db, connection, box, http=http)
    audit.record(
        db,
        actor,
        "booking_calendar.connect",
        "booking_resource",
        resource.id,
        {"provider": "google", "calendars": len(found)},
    )
    return connection


def set_google_app(db: Session, actor: Actor, box: SecretBox, client_id: str, secret: str) -> None:
    google.set_oauth_app(db, box, client_id, secret)
    audit.record(
        db, actor, "booking_calendar.google_app", "booking_google_app", 1, {"client_id": client_id}
    )


# -- either ------------------------------------------------------------------------------------


def choose_calendars(
    db: Session,
    actor: Actor,
    connection: CalendarConnection,
    *,
    busy_ids: list[str],
    write_id: str,
    write_bookings: bool,
    box: SecretBox,
) -> None:
    """Which of the account's calendars count as busy and which one receives bookings
    (CalDAV: the one calendar that does both)."""
    known = {c["id"]: c for c in connection.calendars or []}
    if any(i not in known for i in busy_ids) or (write_id and write_id not in known):
        raise CalendarSetupError("Please pick calendars from the list.")
    if write_id and not known[write_id].get("writable", True):
        raise CalendarSetupError("Bookings can only go to a calendar you may write to.")
    if connection.provider == "caldav":
        if not write_id:
            raise CalendarSetupError("Please pick a calendar.")
        connection.calendar_url = write_id
    else:
        connection.busy_calendar_ids = busy_ids
        connection.write_calendar_id = write_id
    connection.write_bookings = write_bookings and bool(write_id)
    db.flush()
    calendars.sync_busy(db, connection, box)
    audit.record(
        db,
        actor,
        "booking_calendar.choose",
        "booking_resource",
        connection.resource_id,
        {"busy": len(busy_ids), "write_bookings": connection.write_bookings},
    )


def test_connection(
    db: Session, actor: Actor, connection: CalendarConnection, box: SecretBox
) -> str | None:
    """Read the calendar now; None when it worked, else what went wrong."""
    count = calendars.sync_busy(db, connection, box)
    audit.record(
        db,
        actor,
        "booking_calendar.test",
        "booking_resource",
        connection.resource_id,
        {"ok": count is not None},
    )
    return None if count is not None else connection.last_error


def disconnect(
    db: Session, actor: Actor, connection: CalendarConnection, box: SecretBox, settings
) -> bool:
    """Forget the calendar, its tokens or password and its busy times; a Google grant is
    revoked at Google too. Returns False when Google could not be told."""
    resource_id, provider = connection.resource_id, connection.provider
    told = True
    if provider == "google" and connection.token_encrypted:
        try:
            told = google.revoke(connection, box, google.oauth_client(db, settings, box))
        except google.GoogleNotConfigured:
            told = False
    db.expunge(connection)
    _forget_calendar(db, resource_id)
    audit.record(
        db,
        actor,
        "booking_calendar.disconnect",
        "booking_resource",
        resource_id,
        {"provider": provider, "revoked_at_google": told if provider == "google" else None},
    )
    return told

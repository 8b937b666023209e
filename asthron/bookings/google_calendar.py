"""Google Calendar: the OAuth web flow, tokens, free/busy in, booking events out.

- The flow is the authorization-code flow with PKCE (``google_auth_oauthlib.flow.Flow``),
  ``access_type=offline`` for a refresh token and ``prompt=consent`` so one comes back on a
  reconnect too. The state and the PKCE verifier stay on the server, bound to the login
  session that started the flow (``GoogleOAuthState``).
- Tokens are stored SecretBox-encrypted; the client id and secret are never part of them (they
  come from the dashboard or the .ini each time), so changing the OAuth client needs no
  reconnect. A refresh that Google answers ``invalid_grant`` (revoked, expired, password
  changed) raises ``GrantRevoked``: the caller marks the connection broken.
- A booking's event id is derived from the booking (``event_id``), so a retried insert can
  never make a second event: Google answers 409 and we patch the one that is there. Deleting
  an event that is gone (404, 410) is done.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import google.auth.transport.requests
import google_auth_httplib2
import httplib2
import requests
import sqlalchemy as sa
from google.auth.exceptions import GoogleAuthError, RefreshError
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from sqlalchemy.orm import Session

from asthron.bookings.models import Booking, BookingService, CalendarConnection, GoogleOAuthApp
from asthron.security.crypto import SecretBox

SCOPES = [
    "https://www.googleapis.com/auth/calendar.freebusy",
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.calendarlist.readonly",
]
AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - an address, not a secret
REVOKE_URI = "https://oauth2.googleapis.com/revoke"
TIMEOUT_SECONDS = 20
# Google answers free/busy for a limited range per query; longer ranges are asked in parts.
FREEBUSY_SPAN = dt.timedelta(days=60)


class GoogleCalendarError(Exception):
    """Google could not be reached or answered something unusable; the message is fit to show."""


class GoogleNotConfigured(GoogleCalendarError):
    pass


class GrantRevoked(GoogleCalendarError):
    """The refresh token no longer works (``invalid_grant``): only reconnecting helps."""


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    client_secret: str
    auth_uri: str = AUTH_URI
    token_uri: str = TOKEN_URI
    revoke_uri: str = REVOKE_URI

    def config(self) -> dict:
        return {
            "web": {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "auth_uri": self.auth_uri,
                "token_uri": self.token_uri,
            }
        }


def oauth_client(db: Session, settings, box: SecretBox) -> OAuthClient:
    """The OAuth client typed in the dashboard, else the .ini's
    (``asthron.google_client_id`` / ``asthron.google_client_secret``)."""
    extra = getattr(settings, "extra", {}) or {}
    endpoints = {
        "auth_uri": extra.get("asthron.google_auth_uri") or AUTH_URI,
        "token_uri": extra.get("asthron.google_token_uri") or TOKEN_URI,
        "revoke_uri": extra.get("asthron.google_revoke_uri") or REVOKE_URI,
    }
    row = db.scalar(sa.select(GoogleOAuthApp).order_by(GoogleOAuthApp.id).limit(1))
    if row is not None:
        return OAuthClient(row.client_id, box.decrypt(row.client_secret_encrypted), **endpoints)
    client_id = str(extra.get("asthron.google_client_id") or "").strip()
    secret = str(extra.get("asthron.google_client_secret") or "").strip()
    if not client_id or not secret:
        raise GoogleNotConfigured(
            "Google Calendar is not set up: the owner enters the OAuth client id and secret "
            "on this page (or asthron.google_client_id and asthron.google_client_secret in "
            "the .ini file)."
        )
    return OAuthClient(client_id, secret, **endpoints)


def set_oauth_app(db: Session, box: SecretBox, client_id: str, client_secret: str) -> None:
    row = db.scalar(sa.select(GoogleOAuthApp).order_by(GoogleOAuthApp.id).limit(1))
    if row is None:
        row = GoogleOAuthApp(client_id="", client_secret_encrypted="")
        db.add(row)
    row.client_id = client_id
    row.client_secret_encrypted = box.encrypt(client_secret)
    row.updated_at = dt.datetime.now(dt.UTC)
    db.flush()


# -- the OAuth flow ----------------------------------------------------------------------------


def _flow(client: OAuthClient, redirect_uri: str, code_verifier: str | None = None) -> Flow:
    return Flow.from_client_config(
        client.config(),
        scopes=SCOPES,
        redirect_uri=redirect_uri,
        code_verifier=code_verifier,
        autogenerate_code_verifier=code_verifier is None,
    )


def authorization_url(client: OAuthClient, redirect_uri: str, state: str) -> tuple[str, str]:
    """Where to send the person, and the PKCE verifier to keep for the callback."""
    flow = _flow(client, redirect_uri)
    url, _ = flow.authorization_url(state=state, access_type="offline", prompt="consent")
    return url, flow.code_verifier


def exchange_code(client: OAuthClient, redirect_uri: str, code: str, verifier: str) -> Credentials:
    """Trade the callback's code (with the PKCE verifier) for tokens."""
    flow = _flow(client, redirect_uri, code_verifier=verifier)
    try:
        flow.fetch_token(code=code)
    except Warning:
        # oauthlib's "Scope has changed": the person unticked a permission we need.
        raise GoogleCalendarError(
            "Google did not grant every permission Asthron asks for (free/busy, events and "
            "the calendar list). Please connect again and allow all of them."
        ) from None
    except (requests.RequestException, ValueError, GoogleAuthError) as error:
        # oauthlib's OAuth2Error (invalid_grant for a used code, …) is a ValueError.
        raise GoogleCalendarError(f"Google refused the sign-in: {_short(error)}") from None
    credentials = flow.credentials
    if not credentials.refresh_token:
        raise GoogleCalendarError("Google sent no refresh token; please connect again.")
    return credentials


# -- tokens ------------------------------------------------------------------------------------


def store_credentials(connection: CalendarConnection, box: SecretBox, credentials) -> None:
    expiry = credentials.expiry.replace(tzinfo=dt.UTC).isoformat() if credentials.expiry else None
    connection.token_encrypted = box.encrypt(
        json.dumps(
            {
                "token": credentials.token,
                "refresh_token": credentials.refresh_token,
                "expiry": expiry,
                "scopes": list(credentials.scopes or SCOPES),
            }
        )
    )


def _credentials(connection: CalendarConnection, box: SecretBox, client: OAuthClient):
    if not connection.token_encrypted:
        raise GrantRevoked("This Google calendar has no stored authorisation; connect it again.")
    stored = json.loads(box.decrypt(connection.token_encrypted))
    expiry = stored.get("expiry")
    return Credentials(
        token=stored.get("token"),
        refresh_token=stored.get("refresh_token"),
        token_uri=client.token_uri,
        client_id=client.client_id,
        client_secret=client.client_secret,
        scopes=stored.get("scopes") or SCOPES,
        # google-auth compares expiry as naive UTC.
        expiry=dt.datetime.fromisoformat(expiry).replace(tzinfo=None) if expiry else None,
    )


class _TimedRequest(google.auth.transport.requests.Request):
    """google-auth's transport with our timeout instead of its two minutes."""

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        return super().__call__(url, method, body, headers, timeout=TIMEOUT_SECONDS, **kwargs)


def fresh_credentials(
    connection: CalendarConnection, box: SecretBox, client: OAuthClient
) -> Credentials:
    """Credentials with a valid access token, refreshed (and stored again) when needed."""
    credentials = _credentials(connection, box, client)
    if credentials.valid:
        return credentials
    try:
        credentials.refresh(_TimedRequest())
    except RefreshError as error:
        if "invalid_grant" in str(error) or "invalid_client" in str(error):
            raise GrantRevoked(
                f"Google no longer accepts this calendar's authorisation ({_short(error)}); "
                "it has to be connected again."
            ) from None
        raise GoogleCalendarError(f"Google could not refresh the token: {_short(error)}") from None
    except GoogleAuthError as error:
        raise GoogleCalendarError(f"Google could not refresh the token: {_short(error)}") from None
    store_credentials(connection, box, credentials)
    return credentials


def revoke(connection: CalendarConnection, box: SecretBox, client: OAuthClient) -> bool:
    """Ask Google to revoke the grant (on disconnect), so the tokens are worthless wherever
    they are. Best effort: False when Google could not be told (the person can remove the
    access in their Google account)."""
    try:
        stored = json.loads(box.decrypt(connection.token_encrypted or ""))
        token = stored.get("refresh_token") or stored.get("token")
        answer = requests.post(
            client.revoke_uri,
            data={"token": token},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=TIMEOUT_SECONDS,
        )
    except (ValueError, requests.RequestException):
        return False
    return answer.status_code == 200


def calendar_api(connection, box, client, *, http=None):
    """The Calendar v3 client (its discovery document ships with the library: no fetch).
    ``http``: an httplib2-like object to use instead (tests pass googleapiclient's mocks)."""
    if http is None:
        credentials = fresh_credentials(connection, box, client)
        http = google_auth_httplib2.AuthorizedHttp(
            credentials, http=httplib2.Http(timeout=TIMEOUT_SECONDS)
        )
    return build("calendar", "v3", http=http, cache_discovery=False, static_discovery=True)


def _short(error: BaseException) -> str:
    return str(error).replace("\n", " ")[:300]


def _execute(request):
    """Run an API request; what goes wrong is a GoogleCalendarError (HttpError passes through
    for the callers that act on its status)."""
    try:
        answer = request.execute()
    except HttpError:
        raise
    except RefreshError as error:
        if "invalid_grant" in str(error):
            raise GrantRevoked(f"Google revoked the authorisation ({_short(error)}).") from None
        raise GoogleCalendarError(f"Google: {_short(error)}") from None
    except (OSError, httplib2.HttpLib2Error, ValueError, GoogleAuthError) as error:
        raise GoogleCalendarError(f"Google could not be reached: {_short(error)}") from None
    if answer not in (None, "") and not isinstance(answer, dict):
        raise GoogleCalendarError("Google answered something that is not a calendar answer.")
    return answer


def _status(error: HttpError) -> int:
    return int(getattr(error.resp, "status", 0) or 0)


# -- reading -----------------------------------------------------------------------------------


def calendar_list(api) -> list[dict]:
    """The account's calendars: [{"id", "summary", "primary", "writable"}]."""
    found, page = [], None
    while True:
        try:
            answer = _execute(api.calendarList().list(pageToken=page, maxResults=250))
        except HttpError as error:
            raise GoogleCalendarError(
                f"Google refused the calendar list: {_short(error)}"
            ) from None
        for item in answer.get("items", []):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise GoogleCalendarError("Google answered a calendar list without ids.")
            found.append(
                {
                    "id": item["id"],
                    "summary": str(item.get("summaryOverride") or item.get("summary") or "")[:200],
                    "primary": bool(item.get("primary")),
                    "writable": item.get("accessRole") in ("owner", "writer"),
                }
            )
        page = answer.get("nextPageToken")
        if not page:
            return found


def _instant(value) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    if moment is None or moment.tzinfo is None:
        raise ValueError(value)
    return moment.astimezone(dt.UTC)


def busy_intervals(
    api, calendar_ids: list[str], start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Busy [start, end) intervals of the calendars. A calendar Google reports an error for
    (not found, not shared, a backend error) fails the whole read: a calendar we cannot read
    must never look free."""
    found: list[tuple[dt.datetime, dt.datetime]] = []
    low = start
    while low < end:
        high = min(end, low + FREEBUSY_SPAN)
        body = {
            "timeMin": low.isoformat(),
            "timeMax": high.isoformat(),
            "items": [{"id": calendar_id} for calendar_id in calendar_ids],
        }
        try:
            answer = _execute(api.freebusy().query(body=body))
        except HttpError as error:
            raise GoogleCalendarError(
                f"Google refused the free/busy query: {_short(error)}"
            ) from None
        calendars = answer.get("calendars")
        if not isinstance(calendars, dict):
            raise GoogleCalendarError("Google's free/busy answer has no calendars.")
        for calendar_id in calendar_ids:
            info = calendars.get(calendar_id)
            if not isinstance(info, dict):
                raise GoogleCalendarError(f"Google said nothing about the calendar {calendar_id}.")
            if info.get("errors"):
                reasons = ", ".join(str(e.get("reason", "?")) for e in info["errors"] if e)
                raise GoogleCalendarError(
                    f"Google could not read the calendar {calendar_id}: {reasons}."
                )
            try:
                for busy in info.get("busy", []):
                    begins, ends = _instant(busy["start"]), _instant(busy["end"])
                    if begins < ends:
                        found.append((begins, ends))
            except (KeyError, TypeError, ValueError):
                raise GoogleCalendarError(
                    f"Google answered unreadable busy times for {calendar_id}."
                ) from None
        low = high
    return sorted(found)


# -- writing -----------------------------------------------------------------------------------


def event_id(booking: Booking) -> str:
    """The booking's Google event id: base32hex (lower case), as Google requires, derived from
    the booking's reference, so every retry names the same event."""
    digest = hashlib.sha256(f"asthron-booking:{booking.reference}".encode()).digest()
    return base64.b32hexencode(digest).decode().rstrip("=").lower()


def event_body(booking: Booking, service: BookingService) -> dict:
    body = {
        "summary": f"{service.name}: {booking.customer_name or 'booking'}",
        "start": {"dateTime": booking.starts_at.isoformat()},
        "end": {"dateTime": booking.ends_at.isoformat()},
        "status": "tentative" if booking.status == "pending" else "confirmed",
        "extendedProperties": {"private": {"asthron_booking": booking.reference}},
    }
    if booking.customer_email:
        body["description"] = f"{booking.customer_email}\n{booking.notes}".strip()
    return body


def put_event(api, calendar_id: str, booking: Booking, service: BookingService) -> str:
    """Create or update the booking's event; returns its id. Idempotent."""
    identifier = event_id(booking)
    body = event_body(booking, service)
    events = api.events()
    try:
        if booking.calendar_event_uid == identifier:
            try:
                _execute(events.patch(calendarId=calendar_id, eventId=identifier, body=body))
                return identifier
            except HttpError as error:
                if _status(error) not in (404, 410):
                    raise
        try:
            _execute(
                events.insert(
                    calendarId=calendar_id, body={"id": identifier, **body}, sendUpdates="none"
                )
            )
        except HttpError as error:
            if _status(error) != 409:
                raise
            # Already there: an earlier attempt whose answer was lost made it.
            _execute(events.patch(calendarId=calendar_id, eventId=identifier, body=body))
    except HttpError as error:
        raise GoogleCalendarError(f"Google refused the event: {_short(error)}") from None
    return identifier


def delete_event(api, calendar_id: str, identifier: str) -> None:
    """Delete the event; one that is already gone (404, 410) is done."""
    try:
        _execute(
            api.events().delete(calendarId=calendar_id, eventId=identifier, sendUpdates="none")
        )
    except HttpError as error:
        if _status(error) not in (404, 410):
            raise GoogleCalendarError(
                f"Google refused to delete the event: {_short(error)}"
            ) from None

"""The public widget API (/api/widget/v1/...): JSON in and out, bearer tokens, CORS.

No cookies are used here, so CSRF does not apply (require_csrf=False); instead every call is
bound to a site's allowed origins and a visitor token that reaches only its own
conversations. Views parse, call the conversations service and answer; features that add
widget endpoints (the lead form) use the same ``authenticate``, ``url_conversation``,
``json_body``, ``parse`` (asthron.conversations.schemas) and ``rate_limit``.
"""

from __future__ import annotations

import json

from pyramid.response import Response
from pyramid.view import exception_view_config, view_config, view_defaults

from asthron.conversations import service
from asthron.conversations.handoff import request_handoff
from asthron.conversations.models import Visitor
from asthron.conversations.schemas import (
    MessageRequest,
    OfflineMessageRequest,
    OpenConversationRequest,
    ReadRequest,
    SessionRequest,
    SignedIdentity,
    parse,
)
from asthron.conversations.service import ConversationError, InvalidInput, NotFound
from asthron.conversations.streams import event_stream, long_poll
from asthron.conversations.visitor_limits import STATE, limit_visitor
from asthron.errors import status_of
from asthron.forms import parse_id
from asthron.sites import service as sites
from asthron.sites.config import widget_config
from asthron.sites.models import Site
from asthron.text import single_line

MAX_BODY_BYTES = 16 * 1024
MAX_EVENT_ID_DIGITS = 18  # ids fit a signed 64-bit integer on every database
CORS_HEADERS = "Authorization, Content-Type, Last-Event-ID"
CORS_METHODS = "GET, POST, OPTIONS"


class ApiError(ConversationError):
    """A refusal at the API's edge (authentication, CORS, the body's form)."""


def json_body(request) -> dict:
    if request.content_length and request.content_length > MAX_BODY_BYTES:
        raise ApiError("The request body is too large.", "payload_too_large")
    raw = request.body
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError("The request body is too large.", "payload_too_large")
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: "[[[[…" nested deeper than the parser goes is not JSON we accept.
        raise ApiError("The request body is not valid JSON.", "malformed_json") from None
    if not isinstance(body, dict):
        raise ApiError("The request body must be a JSON object.", "malformed_json")
    _check_unicode(body)
    return body


def _check_unicode(body: dict) -> None:
    """Refuse lone surrogates: "\\ud800" is valid JSON but not Unicode, and no database
    stores it. (NUL characters, which PostgreSQL text cannot hold either, are refused by the
    request models, field by field, so the document can say where.)"""
    stack: list = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ApiError(
                    "The request body contains text that is not valid Unicode.",
                    "malformed_json",
                ) from None


def _cors(request, site: Site | None) -> None:
    """Echo the Origin only when it is one of the site's allowed origins."""
    origin = request.headers.get("Origin")
    if not origin:
        return
    if site is None or not sites.origin_allowed(site, origin):
        raise ApiError("This origin may not use this site's widget.", "origin_not_allowed")
    _allow_origin(request.response, origin)


def _allow_origin(response, origin: str) -> None:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    response.vary = tuple({*(response.vary or ()), "Origin"})


def client_ip(request) -> str:
    return request.client_addr or "unknown"


def rate_limit(request, bucket: str, key: str, limit: int, window: int) -> None:
    if not request.registry["rate_limiter"].hit(bucket, key, limit, window):
        raise ApiError("Too many requests; wait a moment and try again.", "rate_limited")


def _invalid_identity(message: str) -> ApiError:
    return ApiError(message, "invalid_identity")


def _unknown_site(_message: str = "") -> ApiError:
    return ApiError("Unknown site key.", "unknown_site")


def _verified_identity(request, site: Site, identity: SignedIdentity) -> tuple[str, str | None]:
    """(email, name) from a signed identity, or 422 ``invalid_identity``.

    A bad identity refuses the session rather than starting an anonymous one: a business that
    sends identities wants them verified, and a silent downgrade would hide a wrong secret or
    a signing bug until someone noticed unverified leads. (Its form was checked by
    SessionRequest, whose identity problems are invalid_identity too.)
    """
    name = single_line(identity.name or "")
    if site.identity_secret_encrypted is None:
        raise _invalid_identity(
            "This site has no identity secret, so identities cannot be verified."
        )
    if not sites.identity_signature_valid(
        request.secret_box, site, identity.email, identity.signature
    ):
        raise _invalid_identity("The identity signature does not match.")
    return identity.email, name or None


def url_conversation(request, visitor: Visitor):
    """The visitor's conversation named in the URL; anything else, or a malformed id, is 404."""
    conversation_id = parse_id(request.matchdict.get("conversation_id"))
    if conversation_id is None:
        raise NotFound()
    return service.visitor_conversation(request.db, visitor, conversation_id)


def authenticate(request) -> tuple[Visitor, Site]:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError("A visitor token is required.", "unauthenticated")
    visitor = service.visitor_for_token(request.db, token.strip())
    if visitor is None:
        raise ApiError("The visitor token is not valid.", "unauthenticated")
    site = sites.site_snapshot(request.db, visitor.site_id)
    _cors(request, site)
    return visitor, site


@view_defaults(renderer="json", require_csrf=False)
class WidgetApi:
    def __init__(self, request):
        self.request = request
        self.settings = request.app_settings
        # The API's responses are data, never pages: no framing, no scripts, nothing.
        request.csp.clear()
        request.csp.update({"default-src": ["'none'"], "frame-ancestors": ["'none'"]})

    @view_config(route_name="widget_api.sessions", request_method="POST")
    def create_session(self):
        request = self.request
        body = json_body(request)
        # The Origin first: without one nothing about the site is answered (not even whether
        # the key exists), and the document lists the header as required.
        if not request.headers.get("Origin"):
            raise ApiError("This origin may not use this site's widget.", "origin_not_allowed")
        payload = parse(
            SessionRequest,
            body,
            refuse={"site_key": _unknown_site, "identity": _invalid_identity},
        )
        site = sites.get_by_key(request.db, payload.site_key)
        if site is None:
            raise _unknown_site()
        if not sites.origin_allowed(site, request.headers.get("Origin")):
            raise ApiError("This origin may not use this site's widget.", "origin_not_allowed")
        _cors(request, site)
        rate_limit(
            request,
            "session-ip",
            client_ip(request),
            self.settings.widget_sessions_per_hour_per_ip,
            3600,
        )
        rate_limit(
            request,
            "session-site",
            str(site.id),
            self.settings.widget_sessions_per_hour_per_site,
            3600,
        )
        identity = payload.identity
        verified = None if identity is None else _verified_identity(request, site, identity)
        _visitor, token = service.start_visitor(
            request.db,
            site,
            request.user_agent,
            payload.page_url,
            payload.timezone,
            verified_identity=verified,
        )
        request.response.status_code = 201
        sites.note_widget_seen(
            request.db, site, request.headers.get("Origin"), self.settings.public_url
        )
        return {
            "visitor_token": token,
            "site_key": site.public_key,
            "config": widget_config(request, site),
        }

    @view_config(route_name="widget_api.config", request_method="GET")
    def config(self):
        request = self.request
        visitor = None
        if request.headers.get("Authorization"):
            visitor, site = authenticate(request)
        else:
            site = sites.get_by_key(request.db, request.GET.get("site_key"))
            if site is None:
                raise ApiError("Unknown site key.", "unknown_site")
            _cors(request, site)
        request.response.cache_control = "no-store"
        # The home page's "installed" tick: the first load on one of the site's own pages.
        sites.note_widget_seen(
            request.db, site, request.headers.get("Origin"), self.settings.public_url
        )
        config = widget_config(request, site)
        if visitor is not None:
            # The visitor's own state, so consent survives a cleared browser cache.
            consent = visitor.consent_at
            config["visitor"] = {
                "consent_at": consent.isoformat().replace("+00:00", "Z") if consent else None,
                "name": visitor.name,
            }
        return config

    @view_config(route_name="widget_api.consent", request_method="POST")
    def consent(self):
        visitor, site = authenticate(self.request)
        limit_visitor(self.request, visitor.id, STATE)
        service.record_consent(self.request.db, visitor, site)
        return {"consent_at": visitor.consent_at.isoformat().replace("+00:00", "Z")}

    @view_config(route_name="widget_api.conversations", request_method="POST")
    def open_conversation(self):
        request = self.request
        visitor, _site = authenticate(request)
        payload = parse(OpenConversationRequest, json_body(request))
        service.update_page(visitor, payload.page_url, request.db)
        limit_visitor(request, visitor.id, STATE)
        conversation, created = service.open_conversation(request.db, visitor)
        request.response.status_code = 201 if created else 200
        return service.conversation_json(conversation)

    @view_config(route_name="widget_api.messages", request_method="POST")
    def post_message(self):
        request = self.request
        visitor, _site = authenticate(request)
        conversation = url_conversation(request, visitor)
        body = json_body(request)
        rate_limit(
            request, "msg-visitor", str(visitor.id), self.settings.widget_messages_per_minute, 60
        )
        rate_limit(
            request,
            "msg-ip",
            client_ip(request),
            self.settings.widget_messages_per_minute_per_ip,
            60,
        )
        # Parsed after the rate limits, so refused messages count towards them too.
        payload = parse(MessageRequest, body)
        event, created = service.receive_visitor_message(
            request.db,
            visitor,
            conversation,
            payload.body,
            payload.client_id,
            payload.page_url,
        )
        request.response.status_code = 201 if created else 200
        return service.event_json(event)

    @view_config(route_name="widget_api.handoff", request_method="POST")
    def request_person(self):
        """The widget's "Talk to a person" control."""
        request = self.request
        visitor, _site = authenticate(request)
        conversation = url_conversation(request, visitor)
        limit_visitor(request, visitor.id)
        if conversation.status != "open":
            raise ApiError("This conversation is closed.", "conversation_closed")
        if conversation.owner == "assistant":
            request_handoff(request.db, conversation, "visitor", "The visitor asked for a person.")
        return service.conversation_json(conversation)

    @view_config(route_name="widget_api.events", request_method="GET")
    def events(self):
        request = self.request
        visitor, _site = authenticate(request)
        conversation = url_conversation(request, visitor)
        after = _int_param(request, "after", 0)
        wait = min(_int_param(request, "wait", 0), self.settings.widget_max_wait)
        events = service.events_after(request.db, conversation.id, after)
        if not events and wait > 0:
            # End the request's transaction before waiting: it may hold a write (the
            # visitor's last_seen_at), and a waiting poll must not keep the visitor's row (on
            # SQLite, the whole database) locked for up to max_wait seconds. long_poll reads
            # in sessions of its own.
            conversation_id, visitor_id = conversation.id, visitor.id
            request.tm.commit()
            request.tm.begin()
            # A waiting poll pins a waitress thread just as a stream does: same slots.
            with request.registry["stream_counter"].slot(
                visitor_id,
                self.settings.widget_max_streams_per_visitor,
                self.settings.stream_capacity,
                client_ip(request),
                self.settings.stream_capacity_per_ip,
            ):
                events = long_poll(request.registry, conversation_id, after, wait)
        request.response.cache_control = "no-store"
        return {
            "events": [service.event_json(e) for e in events],
            "last_id": events[-1].id if events else after,
        }

    @view_config(route_name="widget_api.stream", request_method="GET")
    def stream(self):
        request = self.request
        visitor, _site = authenticate(request)
        conversation = url_conversation(request, visitor)
        after = _int_param(request, "after", 0)
        last_event_id = request.headers.get("Last-Event-ID", "").strip()
        if _is_event_id(last_event_id):
            after = max(after, int(last_event_id))
        streams = request.registry["stream_counter"]
        ip = client_ip(request)
        if not streams.acquire(
            visitor.id,
            self.settings.widget_max_streams_per_visitor,
            self.settings.stream_capacity,
            ip,
            self.settings.stream_capacity_per_ip,
        ):
            raise ApiError("Too many open streams; use long polling.", "too_many_streams")
        response = request.response
        response.content_type = "text/event-stream"
        response.charset = "utf-8"
        response.cache_control = "no-cache"
        response.headers["X-Accel-Buffering"] = "no"
        response.app_iter = event_stream(
            request.registry,
            conversation.id,
            after,
            release=lambda: streams.release(visitor.id, ip),
            disconnected=request.environ.get("waitress.client_disconnected"),
        )
        return response

    @view_config(route_name="widget_api.read", request_method="POST")
    def read(self):
        request = self.request
        visitor, _site = authenticate(request)
        conversation = url_conversation(request, visitor)
        payload = parse(ReadRequest, json_body(request))
        limit_visitor(request, visitor.id, STATE)
        service.mark_read_by_visitor(request.db, conversation, payload.last_event_id)
        return {"unread": conversation.unread_for_visitor}

    @view_config(route_name="widget_api.offline_messages", request_method="POST")
    def offline_message(self):
        request = self.request
        visitor, _site = authenticate(request)
        body = json_body(request)
        limit_visitor(request, visitor.id)
        payload = parse(OfflineMessageRequest, body)
        conversation, event = service.leave_offline_message(
            request.db, visitor, payload.name, payload.email, payload.message
        )
        request.response.status_code = 201
        return {
            "conversation": service.conversation_json(conversation),
            "event": service.event_json(event),
        }


def _is_event_id(value: str) -> bool:
    # isascii: "²".isdigit() is True, but int("²") fails.
    return value.isascii() and value.isdigit() and len(value) <= MAX_EVENT_ID_DIGITS


def _int_param(request, name: str, default: int) -> int:
    value = request.GET.get(name)
    if value is None or value == "":
        return default
    if not _is_event_id(value):
        raise InvalidInput(f"{name} must be a non-negative integer.")
    return int(value)


@view_config(route_name="widget_api.preflight", request_method="OPTIONS", require_csrf=False)
def preflight(request):
    """CORS preflight. It carries no token, so allow an origin that any site lists."""
    response = Response(status=204)
    origin = request.headers.get("Origin")
    if origin and sites.origin_listed_anywhere(request.db, origin):
        _allow_origin(response, origin)
        response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
        response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
    return response


@exception_view_config(ConversationError, path_info=r"^/api/", renderer="json")
def api_error(exc, request):
    request.response.status_code = status_of(exc)
    origin = request.headers.get("Origin")
    # Errors are readable by an allowed page too, so the widget can show a clear message.
    if (
        origin
        and exc.code != "origin_not_allowed"
        and sites.origin_listed_anywhere(request.db, origin)
    ):
        _allow_origin(request.response, origin)
    if request.response.status_code == 429:
        request.response.headers["Retry-After"] = "30"
    error = {"code": exc.code, "message": exc.message}
    fields = getattr(exc, "fields", None)
    if fields:
        # Per-field messages, so a form card can show each error next to its field.
        error["fields"] = fields
    return {"error": error}

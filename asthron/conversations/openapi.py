"""The widget API's OpenAPI 3.1 document, served at /api/widget/v1/openapi.json.

The document is the contract the widget (and anyone embedding their own client) codes against;
the test suite validates real responses from every endpoint against these schemas, so a field
added to a response must be described here too. Request bodies are not written here: their
schemas are generated from the pydantic models the views parse with
(asthron.conversations.schemas), so the document cannot promise what the code refuses.
"""

from __future__ import annotations

import copy
from functools import cache

from pyramid.view import view_config

from asthron.conversations.schemas import REQUEST_MODELS
from asthron.conversations.service import PUBLIC_DATA_KEYS
from asthron.sites.hours import DAYS

API = "/api/widget/v1"
MAX_WAIT_NOTE = "capped by the server's asthron.widget.max_wait (25 s by default)"
# Query parameters that are event ids or seconds: ASCII digits, at most 18 of them.
MAX_QUERY_INTEGER = 10**18 - 1


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: dict, required=None, description=None, closed=True) -> dict:
    schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else list(required),
    }
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


TIMESTAMP = {"type": "string", "format": "date-time", "description": "UTC, ISO 8601 with Z."}
HH_MM = {"type": "string", "pattern": r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$"}

SCHEMAS = {
    "Error": _object(
        {
            "error": _object(
                {
                    "code": {
                        "type": "string",
                        "description": (
                            "Stable, machine-readable: malformed_json, invalid_input, too_long, "
                            "payload_too_large, unauthenticated, origin_not_allowed, "
                            "unknown_site, not_found, conversation_closed, rate_limited, "
                            "too_many_streams, invalid_identity, slot_unavailable, bad_request, …"
                        ),
                        "pattern": "^[a-z_]+$",
                    },
                    "message": {"type": "string", "description": "Safe to show to a person."},
                    "fields": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "description": "Per-field messages (a lead or booking card), when given.",
                    },
                },
                required=["code", "message"],
            )
        },
        description="Every error response has this shape.",
    ),
    "WidgetConfig": _object(
        {
            "site_key": {"type": "string"},
            "title": {"type": "string"},
            "greeting": {"type": "string"},
            "accent_color": {"type": "string", "pattern": "^#[0-9a-f]{6}$"},
            "position": {"enum": ["right", "left"]},
            "theme": {
                "enum": ["auto", "light", "dark"],
                "description": "auto follows the visitor's prefers-color-scheme.",
            },
            "launcher_text": {"type": "string", "description": "Beside the launcher's icon."},
            "reply_time": {"type": "string", "description": '"Usually replies in …"'},
            "avatar_url": _nullable({"type": "string", "format": "uri"}),
            "language": {"type": "string"},
            "strings": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Translated interface strings; empty for English.",
            },
            "privacy": _object(
                {"notice": {"type": "string"}, "url": _nullable({"type": "string"})}
            ),
            "hours": _object(
                {
                    "timezone": {"type": "string"},
                    "schedule": {
                        "type": "object",
                        "propertyNames": {"enum": list(DAYS)},
                        "additionalProperties": {
                            "type": "array",
                            "items": {
                                "type": "array",
                                "prefixItems": [HH_MM, HH_MM],
                                "minItems": 2,
                                "maxItems": 2,
                            },
                        },
                        "description": "Opening ranges per day; empty means always open.",
                    },
                    "holidays": {"type": "array", "items": {"type": "string", "format": "date"}},
                    "open_now": {"type": "boolean"},
                    "next_open_at": _nullable(TIMESTAMP),
                }
            ),
            "available": {"type": "boolean"},
            "limits": _object({"max_message_length": {"type": "integer", "minimum": 1}}),
            "visitor": _object(
                {"consent_at": _nullable(TIMESTAMP), "name": _nullable({"type": "string"})},
                description="Only with a visitor token: the visitor's own state.",
            ),
        },
        required=[
            "site_key",
            "title",
            "greeting",
            "accent_color",
            "position",
            "language",
            "strings",
            "privacy",
            "hours",
            "available",
            "limits",
        ],
        description="What the widget needs to draw itself: look, strings, hours, privacy.",
    ),
    "Session": _object(
        {
            "visitor_token": {
                "type": "string",
                "minLength": 22,
                "description": (
                    "A bearer token of at least 128 random bits. Shown only here; the server "
                    "stores only its hash. Send it as `Authorization: Bearer …`."
                ),
            },
            "site_key": {"type": "string"},
            "config": _ref("WidgetConfig"),
        }
    ),
    "Consent": _object({"consent_at": TIMESTAMP}),
    "Conversation": _object(
        {
            "id": {"type": "integer", "minimum": 1},
            "status": {"enum": ["open", "closed"]},
            "owner": {
                "enum": ["assistant", "waiting", "human"],
                "description": "Who answers now: the assistant, nobody yet (waiting), or staff.",
            },
            "created_at": TIMESTAMP,
            "unread": {"type": "integer", "minimum": 0},
        }
    ),
    "Event": _object(
        {
            "id": {
                "type": "integer",
                "minimum": 1,
                "description": "Global and increasing: pass it as `after` or Last-Event-ID.",
            },
            "conversation_id": {"type": "integer", "minimum": 1},
            "type": {
                "enum": ["visitor_message", "assistant_message", "staff_message", "system", "card"],
                "description": "`card`: an interactive card (the lead form, a confirmation).",
            },
            "author": {"enum": ["visitor", "assistant", "staff", "system"]},
            "author_name": _nullable({"type": "string"}),
            "body": {"type": "string", "description": "Plain text; render it as text."},
            "created_at": TIMESTAMP,
            "client_id": _nullable({"type": "string"}),
            "data": {
                "type": "object",
                "description": (
                    "Public details: reply_id (assistant replies), offline, cut_off, action, "
                    "and for cards card, card_id, fields, values, done, booking (the booking "
                    "card: services, the service chosen, what was asked for, what was "
                    "confirmed); staff_name."
                ),
                "propertyNames": {"enum": sorted(PUBLIC_DATA_KEYS)},
                "properties": {
                    "reply_id": {"type": "string"},
                    "offline": {"type": "boolean"},
                    "cut_off": {"type": "boolean"},
                    "card": {"type": "string"},
                    "card_id": {"type": "string"},
                    "done": {"type": "boolean"},
                    "booking": {"type": "object"},
                },
            },
        }
    ),
    "EventList": _object(
        {
            "events": {"type": "array", "items": _ref("Event")},
            "last_id": {
                "type": "integer",
                "minimum": 0,
                "description": "Pass as `after` next time (the `after` given when empty).",
            },
        }
    ),
    "ReadResult": _object({"unread": {"type": "integer", "minimum": 0}}),
    "OfflineMessageResult": _object({"conversation": _ref("Conversation"), "event": _ref("Event")}),
    "LeadSaved": _object({"saved": {"const": True}}),
    "LeadFormOffer": _object(
        {
            "event": _nullable(_ref("Event")),
        },
        description="The lead form card, or null when a lead is known or a card is open.",
    ),
    "BookingSlots": _object(
        {
            "service": _object(
                {
                    "slug": {"type": "string"},
                    "name": {"type": "string"},
                    "duration_minutes": {"type": "integer", "minimum": 1},
                    "price_cents": _nullable({"type": "integer"}),
                    "currency": {"type": "string"},
                }
            ),
            "timezone": {"type": "string", "description": "The zone the days are grouped in."},
            "relaxed": {
                "type": "boolean",
                "description": "Nothing was free when the visitor asked: these are the next times.",
            },
            "days": {
                "type": "array",
                "items": _object(
                    {
                        "date": {"type": "string", "format": "date"},
                        "slots": {
                            "type": "array",
                            "items": _object(
                                {
                                    "start": TIMESTAMP,
                                    "end": TIMESTAMP,
                                    "time": {**HH_MM, "description": "Local wall-clock start."},
                                }
                            ),
                        },
                    }
                ),
            },
        },
        description="A service's free times, by day in the visitor's time zone.",
    ),
    "BookingHold": _object(
        {
            "hold": {"type": "string", "description": "Pass it to confirm."},
            "start": TIMESTAMP,
            "end": TIMESTAMP,
            "expires_at": TIMESTAMP,
            "prefill": _object(
                {
                    "name": {"type": "string"},
                    "email": {"type": "string"},
                    "phone": {"type": "string"},
                },
                description="Details the visitor already gave, for the form.",
            ),
        },
        description="The time is kept for this visitor for a few minutes.",
    ),
    "BookingConfirmed": _object(
        {
            "status": {
                "enum": ["confirmed", "pending"],
                "description": "pending: the business approves it first.",
            },
            "event": _ref("Event"),
        }
    ),
    # The data of live (never stored) stream frames.
    "StreamDelta": _object(
        {
            "kind": {"const": "delta"},
            "reply_id": {"type": "string"},
            "text": {"type": "string"},
        },
        description="`event: delta`: a piece of the assistant's reply as it is written.",
    ),
    "StreamTyping": _object(
        {
            "kind": {"const": "typing"},
            "author": {"enum": ["assistant", "staff"]},
            "active": {"type": "boolean"},
            "reply_id": {"type": "string"},
            "name": {"type": "string"},
        },
        required=["kind", "author", "active"],
        description="`event: typing`: someone started or stopped writing.",
    ),
    "StreamReplyCancelled": _object(
        {"kind": {"const": "reply_cancelled"}, "reply_id": {"type": "string"}},
        description=(
            "`event: reply_cancelled`: the reply with this id will not be stored (a person "
            "took over); drop its deltas."
        ),
    ),
    "StreamOwnership": _object(
        {"kind": {"const": "ownership"}, "owner": {"enum": ["assistant", "waiting", "human"]}},
        description="`event: ownership`: who answers now changed (a person took over...).",
    ),
    "StreamPresence": {
        "type": "object",
        "properties": {"kind": {"const": "presence"}},
        "required": ["kind"],
        "description": "`event: presence`: staff availability changed.",
    },
}


def _untitled(schema):
    """pydantic titles every schema after its Python name; the document does not need them."""
    if isinstance(schema, dict):
        return {
            key: _untitled(value)
            for key, value in schema.items()
            if not (key == "title" and isinstance(value, str))
        }
    if isinstance(schema, list):
        return [_untitled(item) for item in schema]
    return schema


def request_schemas() -> dict:
    """The request bodies' schemas, from the models the views validate with."""
    schemas = {}
    for model in REQUEST_MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, nested in schema.pop("$defs", {}).items():
            schemas[name] = _untitled(nested)
        schemas[model.__name__] = _untitled(schema)
    return schemas


ERROR_TEXT = {
    400: "The body is not JSON, not a JSON object, or a parameter is malformed.",
    401: "The bearer token is missing or not valid.",
    403: "The Origin is not one of the site's allowed origins.",
    404: "Unknown site key, or no such conversation for this visitor.",
    409: "The conversation is closed; or (booking card, code slot_unavailable) the time is no "
    "longer free or has passed: ask for fresh times.",
    413: "The request body is larger than 16 KiB.",
    422: "A field is missing, of the wrong type, empty or too long (code too_long).",
    429: "Rate limited (or, for streams and waiting long polls, too many open at once). "
    "Honour Retry-After.",
}


def _error(status: int) -> dict:
    response = {
        "description": ERROR_TEXT[status],
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    if status == 429:
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before trying again.",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return response


def _json(schema_name: str, description: str, links: dict | None = None) -> dict:
    response = {
        "description": description,
        "content": {"application/json": {"schema": _ref(schema_name)}},
    }
    if links:
        response["links"] = links
    return response


def _conversation_links(id_pointer: str) -> dict:
    """Links from a response that names a conversation to what can be done with it next
    (clients, and the stateful fuzzer, follow them)."""
    parameters = {"conversation_id": f"$response.body#{id_pointer}"}
    return {
        name: {"operationId": operation_id, "parameters": parameters}
        for name, operation_id in (
            ("PostMessage", "postMessage"),
            ("ListEvents", "listEvents"),
            ("MarkRead", "markRead"),
            ("RequestPerson", "requestPerson"),
            ("OfferLeadForm", "offerLeadForm"),
            ("SubmitLead", "submitLead"),
        )
    }


CONVERSATION_LINKS = _conversation_links("/id")
EVENT_LINKS = {
    "MarkRead": {
        "operationId": "markRead",
        "parameters": {"conversation_id": "$response.body#/conversation_id"},
    },
    "ListEvents": {
        "operationId": "listEvents",
        "parameters": {"conversation_id": "$response.body#/conversation_id"},
    },
}


def _body(schema_name: str, required: bool = True) -> dict:
    return {
        "required": required,
        "content": {"application/json": {"schema": _ref(schema_name)}},
    }


def _operation(operation_id, summary, responses, errors, *, auth=True, body=None, params=None):
    operation = {
        "operationId": operation_id,
        "summary": summary,
        "responses": {**responses, **{str(s): _error(s) for s in sorted(errors)}},
    }
    if not auth:
        operation["security"] = []
    if body:
        operation["requestBody"] = body
    if params:
        operation["parameters"] = params
    return operation


ORIGIN_HEADER = {
    "name": "Origin",
    "in": "header",
    "required": False,
    "description": (
        "Sent by browsers. When present it must be one of the site's allowed origins "
        "(required when creating a session)."
    ),
    "schema": {"type": "string"},
}
CONVERSATION_ID = {
    "name": "conversation_id",
    "in": "path",
    "required": True,
    "description": "One of this visitor's conversations; any other id is 404.",
    "schema": {"type": "integer", "minimum": 1},
}
AFTER = {
    "name": "after",
    "in": "query",
    "required": False,
    "description": "Only events with a larger id.",
    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_QUERY_INTEGER, "default": 0},
}

STREAM_DESCRIPTION = """\
Server-Sent Events. Frames:

- `event: message` with an `id:` line: a stored event (data: `Event`). Reconnect with the
  `Last-Event-ID` header (browsers do) or `after` to resume with no gaps and no duplicates.
- `event: delta` (data: `StreamDelta`) and `event: typing` (data: `StreamTyping`): live and
  never stored; the assistant's reply arrives as deltas before the stored `assistant_message`.
- `event: reply_cancelled` (data: `StreamReplyCancelled`): drop that reply's deltas.
- `event: ownership` (data: `StreamOwnership`): who answers changed.
- `event: presence` (data: `StreamPresence`).
- `: heartbeat` comments about every 15 seconds, and `retry:` once at the start.

A visitor (and a client address) may hold only a few streams at once (429
`too_many_streams`); fall back to long polling on `/events?wait=…` then. A long poll that
would wait takes one of the same slots, and is answered 429 with Retry-After beyond them.
"""


def _paths() -> dict:
    return {
        f"{API}/sessions": {
            "post": _operation(
                "createSession",
                "Start a visitor session on a site and get its bearer token and configuration.",
                {"201": _json("Session", "A new visitor and its token.")},
                {400, 403, 404, 413, 422, 429},
                auth=False,
                body=_body("SessionRequest"),
                params=[{**ORIGIN_HEADER, "required": True}],
            )
        },
        f"{API}/config": {
            "get": {
                **_operation(
                    "getConfig",
                    "The widget configuration, by site key or by visitor token.",
                    {"200": _json("WidgetConfig", "The configuration.")},
                    {400, 401, 403, 404},
                    params=[
                        {
                            "name": "site_key",
                            "in": "query",
                            "required": False,
                            "description": "Needed when no bearer token is sent.",
                            "schema": {"type": "string"},
                        },
                        ORIGIN_HEADER,
                    ],
                ),
                "security": [{}, {"visitorToken": []}],
            }
        },
        f"{API}/consent": {
            "post": _operation(
                "recordConsent",
                "Record that the visitor acknowledged the privacy notice (idempotent).",
                {"200": _json("Consent", "When consent was first recorded.")},
                {401, 403, 429},
                params=[ORIGIN_HEADER],
            )
        },
        f"{API}/conversations": {
            "post": _operation(
                "openConversation",
                "The visitor's open conversation, created when there is none.",
                {
                    "200": _json(
                        "Conversation", "The already open conversation.", CONVERSATION_LINKS
                    ),
                    "201": _json("Conversation", "A new conversation.", CONVERSATION_LINKS),
                },
                {400, 401, 403, 413, 422, 429},
                body=_body("OpenConversationRequest", required=False),
                params=[ORIGIN_HEADER],
            )
        },
        f"{API}/conversations/{{conversation_id}}/messages": {
            "post": _operation(
                "postMessage",
                "Send a visitor message (idempotent by client_id).",
                {
                    "200": _json("Event", "The message was already stored under this client_id."),
                    "201": _json("Event", "The stored message.", EVENT_LINKS),
                },
                {400, 401, 403, 404, 409, 413, 422, 429},
                body=_body("MessageRequest"),
                params=[CONVERSATION_ID, ORIGIN_HEADER],
            )
        },
        f"{API}/conversations/{{conversation_id}}/events": {
            "get": _operation(
                "listEvents",
                "Events after an id; with `wait`, a long poll that returns as soon as one arrives.",
                {"200": _json("EventList", "Events (empty when the wait ran out).")},
                {400, 401, 403, 404, 422, 429},
                params=[
                    CONVERSATION_ID,
                    AFTER,
                    {
                        "name": "wait",
                        "in": "query",
                        "required": False,
                        "description": f"Seconds to wait for a first event; {MAX_WAIT_NOTE}.",
                        "schema": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": MAX_QUERY_INTEGER,
                            "default": 0,
                        },
                    },
                    ORIGIN_HEADER,
                ],
            )
        },
        f"{API}/conversations/{{conversation_id}}/stream": {
            "get": _operation(
                "streamEvents",
                "The conversation as a Server-Sent Events stream.",
                {
                    "200": {
                        "description": STREAM_DESCRIPTION,
                        "content": {
                            "text/event-stream": {
                                "schema": {"type": "string"},
                                "x-data-schema": {
                                    "anyOf": [
                                        _ref("Event"),
                                        _ref("StreamDelta"),
                                        _ref("StreamTyping"),
                                        _ref("StreamReplyCancelled"),
                                        _ref("StreamOwnership"),
                                        _ref("StreamPresence"),
                                    ]
                                },
                            }
                        },
                    }
                },
                {400, 401, 403, 404, 422, 429},
                params=[
                    CONVERSATION_ID,
                    AFTER,
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "description": "Resume after this event id (wins when larger than after).",
                        "schema": {"type": "string"},
                    },
                    ORIGIN_HEADER,
                ],
            )
        },
        f"{API}/conversations/{{conversation_id}}/handoff": {
            "post": _operation(
                "requestPerson",
                "Ask for a person: the assistant stops and the conversation waits for staff.",
                {"200": _json("Conversation", "The conversation, now waiting (or with staff).")},
                {401, 403, 404, 409, 429},
                params=[CONVERSATION_ID, ORIGIN_HEADER],
            )
        },
        f"{API}/conversations/{{conversation_id}}/lead-form": {
            "post": _operation(
                "offerLeadForm",
                "The visitor asks to leave their details: the lead form card appears.",
                {"200": _json("LeadFormOffer", "The card's event, or null.")},
                {401, 403, 404, 429},
                params=[CONVERSATION_ID, ORIGIN_HEADER],
            )
        },
        f"{API}/conversations/{{conversation_id}}/lead": {
            "post": _operation(
                "submitLead",
                "Submit a lead form card, or confirm contact details read from a message.",
                {"201": _json("LeadSaved", "The details were saved.")},
                {400, 401, 403, 404, 413, 422, 429},
                body=_body("LeadRequest"),
                params=[CONVERSATION_ID, ORIGIN_HEADER],
            )
        },
        f"{API}/conversations/{{conversation_id}}/booking/slots": {
            "post": _operation(
                "bookingSlots",
                "A booking card's free times for one service, in the visitor's time zone.",
                {"200": _json("BookingSlots", "The free times.")},
                {400, 401, 403, 404, 413, 422, 429},
                body=_body("BookingSlotsRequest"),
                params=[CONVERSATION_ID, ORIGIN_HEADER],
            )
        },
        f"{API}/conversations/{{conversation_id}}/booking/hold": {
            "post": _operation(
                "holdBookingSlot",
                "Keep a time for this visitor while they give their details (one at a time).",
                {"201": _json("BookingHold", "The time is held.")},
                {400, 401, 403, 404, 409, 413, 422, 429},
                body=_body("BookingHoldRequest"),
                params=[CONVERSATION_ID, ORIGIN_HEADER],
            )
        },
        f"{API}/conversations/{{conversation_id}}/booking/confirm": {
            "post": _operation(
                "confirmBooking",
                "Book the held time with the visitor's name and email or phone.",
                {"201": _json("BookingConfirmed", "Booked; the event says so in the chat.")},
                {400, 401, 403, 404, 409, 413, 422, 429},
                body=_body("BookingConfirmRequest"),
                params=[CONVERSATION_ID, ORIGIN_HEADER],
            )
        },
        f"{API}/conversations/{{conversation_id}}/read": {
            "post": _operation(
                "markRead",
                "Mark events up to an id as read by the visitor.",
                {"200": _json("ReadResult", "How many events remain unread.")},
                {400, 401, 403, 404, 413, 422, 429},
                body=_body("ReadRequest"),
                params=[CONVERSATION_ID, ORIGIN_HEADER],
            )
        },
        f"{API}/offline-messages": {
            "post": _operation(
                "leaveOfflineMessage",
                "Leave a message with a name and email; staff see it waiting in the inbox.",
                {
                    "201": _json(
                        "OfflineMessageResult",
                        "The conversation and the stored message.",
                        _conversation_links("/conversation/id"),
                    )
                },
                {400, 401, 403, 413, 422, 429},
                body=_body("OfflineMessageRequest"),
                params=[ORIGIN_HEADER],
            )
        },
        f"{API}/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document.",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The OpenAPI 3.1 document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }


@cache
def _document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Asthron widget API",
            "version": "1",
            "description": (
                "The API the chat widget uses. JSON in and out (bodies up to 16 KiB), a bearer "
                "visitor token from POST /sessions, and CORS limited to each site's allowed "
                'origins. Errors are always `{"error": {"code", "message"}}`.'
            ),
        },
        "paths": _paths(),
        "components": {
            "schemas": {**SCHEMAS, **request_schemas()},
            "securitySchemes": {
                "visitorToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The visitor_token from POST /sessions, bound to one site.",
                }
            },
        },
        "security": [{"visitorToken": []}],
    }


def openapi_document() -> dict:
    """A copy of the document, safe for a caller to change."""
    return copy.deepcopy(_document())


@view_config(
    route_name="widget_api.openapi", request_method="GET", renderer="json", require_csrf=False
)
def openapi_view(request):
    request.csp.clear()
    request.csp.update({"default-src": ["'none'"], "frame-ancestors": ["'none'"]})
    request.response.cache_control = "public, max-age=3600"
    return _document()

"""The booking card's widget endpoints: free times, a hold, the booking.

Same rules as the rest of the widget API: the visitor's bearer token, the site's origins,
only the visitor's own conversation (404 otherwise), the per-visitor rate limits, bodies
parsed with the request models of ``asthron.conversations.schemas``. A time that is no longer
free is 409 ``slot_unavailable``: the card says so and asks for fresh times.
"""

from __future__ import annotations

from pyramid.view import view_config, view_defaults

from asthron.bookings import card
from asthron.conversations.schemas import (
    BookingConfirmRequest,
    BookingHoldRequest,
    BookingSlotsRequest,
    parse,
)
from asthron.conversations.service import event_json
from asthron.conversations.visitor_limits import STATE, limit_visitor
from asthron.conversations.widget_api import authenticate, json_body, url_conversation


@view_defaults(renderer="json", require_csrf=False)
class WidgetBookingApi:
    def __init__(self, request):
        self.request = request
        # Data, never pages (as the rest of the widget API).
        request.csp.clear()
        request.csp.update({"default-src": ["'none'"], "frame-ancestors": ["'none'"]})

    def _visitor_conversation(self, bucket: str | None = None):
        request = self.request
        visitor, _site = authenticate(request)
        conversation = url_conversation(request, visitor)
        body = json_body(request)
        if bucket:
            limit_visitor(request, visitor.id, bucket)
        else:
            limit_visitor(request, visitor.id)
        return visitor, conversation, body

    @view_config(route_name="widget_api.booking_slots", request_method="POST")
    def slots(self):
        # Reading times only records nothing: the state bucket, with room for browsing days.
        visitor, conversation, body = self._visitor_conversation(STATE)
        payload = parse(BookingSlotsRequest, body)
        return card.card_slots(
            self.request.db,
            conversation,
            visitor,
            payload.card_id,
            payload.service,
            payload.timezone,
        )

    @view_config(route_name="widget_api.booking_hold", request_method="POST")
    def hold(self):
        visitor, conversation, body = self._visitor_conversation()
        payload = parse(BookingHoldRequest, body)
        held = card.hold_slot(
            self.request.db, conversation, visitor, payload.card_id, payload.service, payload.start
        )
        self.request.response.status_code = 201
        return held

    @view_config(route_name="widget_api.booking_confirm", request_method="POST")
    def confirm(self):
        visitor, conversation, body = self._visitor_conversation()
        payload = parse(BookingConfirmRequest, body)
        booking, event = card.confirm_slot(
            self.request.db,
            conversation,
            visitor,
            payload.card_id,
            payload.hold,
            {"name": payload.name, "email": payload.email, "phone": payload.phone},
            payload.timezone,
        )
        self.request.response.status_code = 201
        return {"status": booking.status, "event": event_json(event)}

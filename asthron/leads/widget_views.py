"""The widget's lead endpoints: the visitor asks for the lead form, or submits a card."""

from __future__ import annotations

from pyramid.view import view_config, view_defaults

from asthron.conversations.schemas import LeadRequest, parse
from asthron.conversations.service import event_json
from asthron.conversations.visitor_limits import limit_visitor
from asthron.conversations.widget_api import (
    authenticate,
    json_body,
    url_conversation,
)
from asthron.leads import chat


@view_defaults(renderer="json", require_csrf=False)
class WidgetLeadApi:
    def __init__(self, request):
        self.request = request
        self.settings = request.app_settings
        # Data, never pages (as the rest of the widget API).
        request.csp.clear()
        request.csp.update({"default-src": ["'none'"], "frame-ancestors": ["'none'"]})

    @view_config(route_name="widget_api.lead", request_method="POST")
    def submit_lead(self):
        """A lead-form card submitted, or extracted details confirmed."""
        request = self.request
        visitor, _site = authenticate(request)
        conversation = url_conversation(request, visitor)
        body = json_body(request)
        limit_visitor(request, visitor.id)
        payload = parse(LeadRequest, body, per_field="fields")
        chat.submit_card(request.db, conversation, visitor, payload.card_id, payload.fields)
        request.response.status_code = 201
        return {"saved": True}

    @view_config(route_name="widget_api.lead_form", request_method="POST")
    def lead_form(self):
        """The visitor asks to leave their details: the form card appears in the chat."""
        request = self.request
        visitor, _site = authenticate(request)
        conversation = url_conversation(request, visitor)
        limit_visitor(request, visitor.id)
        event = chat.offer_lead_form(request.db, conversation, "visitor asked")
        return {"event": event_json(event) if event else None}

"""Telling the business about new and qualified leads (an alert, routed by the email routing
rules), and handing a freshly qualified lead to a person when the leads settings say so."""

from __future__ import annotations

from sqlalchemy.orm import Session

from asthron.alerts.service import Alert, send_alert
from asthron.conversations.handoff import request_handoff
from asthron.conversations.models import Conversation
from asthron.db import registry_of
from asthron.leads.capture import lead_form, lead_settings
from asthron.leads.models import Lead


def lead_facts(lead: Lead) -> dict:
    """What a routing rule's conditions can test (asthron/alerts/catalogue.py)."""
    return {
        "name": lead.name,
        "email": lead.email,
        "phone": lead.phone,
        "company": lead.company,
        "status": lead.status,
        "qualified": lead.qualified,
        "tags": list(lead.tags or []),
        "custom": dict(lead.custom_fields or {}),
    }


def notify_new_or_qualified(
    db: Session,
    lead: Lead,
    conversation: Conversation | None,
    created: bool,
    qualified: bool,
    source: str | None = None,
) -> None:
    if not (created or qualified):
        return
    site_id = lead.source_site_id or (conversation.site_id if conversation else None)
    # The lead form's recipients are the default route; the routing rules add to them.
    recipients = list(lead_form(db, site_id).notify_emails or []) if site_id else []
    settings = lead_settings(db)
    if qualified and not settings.notify_when_qualified:
        recipients = []
    what = "qualified" if qualified else "new"
    link = f"{registry_of(db)['app_settings'].public_url}/leads/{lead.id}"
    facts = lead_facts(lead)
    facts["source"] = source
    who = lead.name or lead.email or lead.phone or f"Lead #{lead.id}"
    contact = " · ".join(v for v in (lead.email, lead.phone, lead.company) if v)
    send_alert(
        db,
        Alert(
            event="lead.qualified" if qualified else "lead.new",
            site_id=site_id,
            facts=facts,
            email="lead_notification",
            values={"lead": lead, "what": what, "link": link},
            line=f"{who}{' — ' + contact if contact else ''}",
            link=link,
            default_recipients=recipients,
        ),
    )
    # The inbox's own rule ("hand off when a lead qualifies") is its subscription to the
    # lead.qualified domain event; this is the leads setting of the same name.
    if (
        qualified
        and conversation is not None
        and conversation.owner == "assistant"
        and conversation.status == "open"
        and settings.handoff_when_qualified
    ):
        request_handoff(db, conversation, "rule", "The lead has just qualified.")

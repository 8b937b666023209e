"""Telling the business about new and qualified leads (email through the outbox), and handing
a freshly qualified lead to a person when the leads settings say so."""

from __future__ import annotations

from sqlalchemy.orm import Session

from asthron.conversations.handoff import request_handoff
from asthron.conversations.models import Conversation
from asthron.leads.capture import lead_form, lead_settings
from asthron.leads.models import Lead
from asthron.notify.service import queue_templated_email


def notify_new_or_qualified(
    db: Session, lead: Lead, conversation: Conversation | None, created: bool, qualified: bool
) -> None:
    if not (created or qualified):
        return
    site_id = lead.source_site_id or (conversation.site_id if conversation else None)
    recipients = lead_form(db, site_id).notify_emails if site_id else []
    settings = lead_settings(db)
    if qualified and not settings.notify_when_qualified:
        recipients = []
    for email in recipients or []:
        queue_templated_email(
            db, email, "lead_notification", lead=lead, what="qualified" if qualified else "new"
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

"""Telling the business about new and qualified leads (email through the outbox), and handing
a freshly qualified lead to a person when the rules say so."""

from __future__ import annotations

from sqlalchemy.orm import Session

from asthron.conversations.models import Conversation
from asthron.leads.capture import lead_form, lead_settings
from asthron.leads.models import Lead


def notify_new_or_qualified(
    db: Session, lead: Lead, conversation: Conversation | None, created: bool, qualified: bool
) -> None:
    from asthron.notify.service import queue_email

    if not (created or qualified):
        return
    site_id = lead.source_site_id or (conversation.site_id if conversation else None)
    recipients = lead_form(db, site_id).notify_emails if site_id else []
    what = "qualified" if qualified else "new"
    if qualified and not lead_settings(db).notify_when_qualified:
        recipients = []
    for email in recipients or []:
        queue_email(
            db,
            email,
            f"Asthron: a {what} lead — {lead.name or lead.email or lead.phone}",
            f"A {what} lead:\n\nName: {lead.name or '-'}\nEmail: {lead.email or '-'}\n"
            f"Phone: {lead.phone or '-'}\nCompany: {lead.company or '-'}\n\n"
            f"Open it in the dashboard: /leads/{lead.id}\n",
        )
    if qualified and conversation is not None and conversation.owner == "assistant":
        from asthron.inbox.triggers import hand_off, rules

        if lead_settings(db).handoff_when_qualified or rules(db).on_lead_qualified:
            hand_off(db, conversation, "rule", "The lead has just qualified.")

"""Leads: capture in chat, dedupe and merge, qualification, notes, the pipeline and export.

It plugs into the message path through hooks (asthron.conversations.hooks) and domain events;
it imports no other feature.
"""

from asthron.leads import chat, from_bookings, tasks
from asthron.leads.models import QualificationQuestion
from asthron.security.permissions import Permission
from asthron.snapshots import watch


def includeme(config):
    config.add_email_template(
        "lead_notification",
        "To the site's recipients and routing rules when a lead arrives or qualifies",
        {
            "what": "new",
            "lead": {
                "id": 7,
                "name": "Ada Lovelace",
                "email": "ada@example.com",
                "phone": "+442071234567",
                "company": "Analytical Engines Ltd",
            },
            "link": "https://example.com/leads/7",
        },
    )
    config.add_nav_item(
        "Leads",
        "Leads",
        "leads.list",
        Permission.LEADS,
        match=(
            "leads.detail",
            "leads.update",
            "leads.status",
            "leads.assign",
            "leads.tags",
            "leads.note",
            "leads.ai_note",
            "leads.proposal",
        ),
    )
    config.add_nav_item(
        "Settings",
        "Lead capture",
        "leads.settings",
        Permission.SETTINGS,
        match=("leads.rules", "leads.question", "leads.site_form"),
        order=35,
    )
    # The visitor's answer to the last qualification question is read after the inbox's
    # handoff rules (a chat handed to a person is not the assistant's to qualify) and before
    # the reply is prepared, so the reply moves on to the next question.
    config.add_message_hook("on_visitor_message", chat.read_qualification_answer, order=60)
    config.add_message_hook("on_visitor_message", chat.capture_offline_form)
    config.add_message_hook("prompt_contributors", chat.next_question_prompt)
    # Contact extraction with confirmation, and the lead form after N messages.
    config.add_message_hook("after_reply", chat.after_reply, order=60)
    config.add_message_hook("on_handoff", chat.lead_form_before_handoff, order=60)
    # The AI lead note: when a lead is captured, and when its conversation closes.
    config.add_message_hook("on_close", tasks.note_after_close)
    config.add_domain_event_subscriber("lead.created", tasks.note_after_capture)
    # Whoever books becomes (or is matched to) a lead.
    config.add_domain_event_subscriber("booking.requested", from_bookings.lead_from_booking)
    config.add_domain_event_subscriber("booking.confirmed", from_bookings.lead_from_booking)
    # The conversation's lead, beside the chat in the inbox.
    config.add_message_hook("side_panels", chat.lead_panel)
    # Each visitor message asks whether any question is active (asthron.snapshots).
    watch(QualificationQuestion)

"""When a conversation goes to a person: the visitor asks, the assistant decides, or a rule
fires (keywords, unanswered replies in a row, provider failure, a newly qualified lead)."""

from __future__ import annotations

import logging

import transaction
from sqlalchemy.orm import Session

from asthron.conversations import handoff
from asthron.conversations.models import Conversation
from asthron.db import get_tm_session, utcnow
from asthron.inbox import presence
from asthron.inbox.models import HandoffRules
from asthron.sites import hours
from asthron.sites.models import Site

log = logging.getLogger(__name__)

DECISION_SCHEMA = {
    "type": "object",
    "properties": {
        "handoff": {"type": "boolean"},
        "answered": {"type": "boolean"},
        "reason": {"type": "string", "maxLength": 300},
    },
    "required": ["handoff", "answered", "reason"],
    "additionalProperties": False,
}


def rules_snapshot(db: Session):
    """The rules as last committed (``asthron.snapshots``), for the visitor-message path."""
    from asthron.snapshots import frozen, snapshots

    return snapshots(db).get("handoff_rules", lambda: frozen(rules(db)))


def rules(db: Session) -> HandoffRules:
    return db.get(HandoffRules, 1) or HandoffRules(
        id=1,
        keywords=[],
        unanswered_in_a_row=2,
        on_provider_failure=True,
        on_lead_qualified=False,
        assistant_decides=True,
        waiting_alert_minutes=5,
    )


def _when_text(site: Site) -> str | None:
    now = utcnow()
    opening = None
    if not hours.is_open(site.business_hours, site.holidays, site.timezone, now):
        opening = hours.next_opening(site.business_hours, site.holidays, site.timezone, now)
    if opening is None:
        return "as soon as someone is back"
    local = opening.astimezone(hours.zone(site.timezone))
    return f"from {local.strftime('%A %H:%M')} ({site.timezone})"


def hand_off(db: Session, conversation: Conversation, trigger: str, reason: str) -> bool:
    site = db.get(Site, conversation.site_id)
    available = presence.someone_available(db, site)
    changed = handoff.request_handoff(
        db, conversation, trigger, reason, available, None if available else _when_text(site)
    )
    if changed:
        from asthron.inbox.tasks import summarize_after_commit
        from asthron.leads.capture import lead_form
        from asthron.leads.chat import offer_lead_form

        summarize_after_commit(db, conversation.id)
        # Collect contact details before a person takes over, when the site asks for it.
        if lead_form(db, conversation.site_id).before_handoff or not available:
            offer_lead_form(db, conversation, "before handoff")
    return changed


def on_visitor_message(db: Session, conversation: Conversation, body: str) -> bool:
    """Rules on the visitor's words: an explicit request for a person, or an admin keyword."""
    if conversation.owner != "assistant":
        return False
    if handoff.asks_for_person(body):
        return hand_off(db, conversation, "visitor", "The visitor asked for a person.")
    lowered = body.lower()
    for keyword in rules_snapshot(db).keywords or []:
        if keyword and keyword.lower() in lowered:
            return hand_off(
                db, conversation, "rule", f"Keyword “{keyword}” in the visitor's message."
            )
    return False


def after_reply(registry, conversation_id: int, event, outcome) -> None:
    """The runner's after-reply hook: provider failure, unanswered streak, assistant decision."""
    data = dict(event.data or {}) if event is not None else {}
    provider = data.get("provider")
    failed = bool(data.get("cut_off")) or provider is None
    # Asking a qualification question is progress, not a failure to answer.
    answered = (
        bool(data.get("sources"))
        or provider not in (None, "builtin")
        or bool(data.get("asked_question"))
    )
    decision = None
    tm = transaction.TransactionManager(explicit=True)
    with tm:
        db = get_tm_session(registry["dbsession_factory"], tm)
        conversation = db.get(Conversation, conversation_id)
        if conversation is None or conversation.owner != "assistant":
            return
        current = rules(db)
        if current.assistant_decides and provider not in (None, "builtin"):
            decision = _assistant_decision(registry, db, conversation)
            if decision is not None:
                answered = decision["answered"]
        conversation.unanswered_streak = 0 if answered else conversation.unanswered_streak + 1
        if failed and current.on_provider_failure and provider is None:
            hand_off(db, conversation, "rule", "The AI provider failed.")
        elif decision is not None and decision["handoff"]:
            hand_off(
                db,
                conversation,
                "assistant",
                decision["reason"] or "The assistant asked for a person.",
            )
        elif (
            current.unanswered_in_a_row
            and conversation.unanswered_streak >= current.unanswered_in_a_row
        ):
            hand_off(
                db,
                conversation,
                "rule",
                f"{conversation.unanswered_streak} replies in a row without an answer.",
            )


def _assistant_decision(registry, db: Session, conversation: Conversation) -> dict | None:
    """Ask the primary model, as structured output validated against DECISION_SCHEMA."""
    responder = registry["reply_runner"].responder
    decide = getattr(responder, "decide", None)
    if decide is None:
        return None
    try:
        return decide(db, conversation, DECISION_SCHEMA)
    except Exception:
        log.info("handoff decision unavailable for conversation %s", conversation.id)
        return None

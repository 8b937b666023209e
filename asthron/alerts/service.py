"""Email routing: which rules match an alert, who is emailed at once, and the digests.

A feature raises an alert with ``send_alert``; the business's rules (Integrations → Email →
Routing) add recipients, narrow them by site and by the alert's facts, and choose between an
email at once and a line in an hourly or daily digest. The feature's own default recipients
(a lead form's addresses, the staff on duty) are always emailed at once, so a business with no
rules behaves as before.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit
from asthron.accounts.models import User
from asthron.accounts.service import AccountError, normalize_email
from asthron.alerts.catalogue import ALERT_EVENTS, DELIVERIES, OPERATORS
from asthron.alerts.models import AlertDigestItem, AlertRule
from asthron.audit.service import Actor
from asthron.db import utcnow
from asthron.notify.service import queue_templated_email
from asthron.sites.hours import zone
from asthron.sites.models import Site

MAX_CONDITIONS = 5
MAX_RECIPIENTS = 20
# Daily digests go out at this hour of the rule's site's time zone.
DAILY_DIGEST_HOUR = 8
DIGEST_EMAIL = "alert_digest"


class AlertRuleError(ValueError):
    """A rule that cannot be saved; the message says why."""


@dataclass(frozen=True)
class Alert:
    """Something the business may want to be told about.

    ``email`` and ``values`` render the immediate email (templates/email/<email>.*); ``line``
    and ``link`` are its entry in a digest.
    """

    event: str
    site_id: int | None
    facts: Mapping[str, Any]
    email: str
    values: Mapping[str, Any]
    line: str
    link: str = ""
    default_recipients: Sequence[str] = ()


@dataclass
class AlertOutcome:
    emailed: list[str] = field(default_factory=list)
    digested: list[tuple[str, str]] = field(default_factory=list)  # (recipient, delivery)


@dataclass(frozen=True)
class RuleInput:
    """A rule as typed on the rules page, before it is checked."""

    event: str
    site_id: int | None
    conditions: list[dict]
    user_ids: list[int]
    emails: list[str]
    delivery: str
    description: str = ""
    enabled: bool = True


# --- matching ---------------------------------------------------------------------------


def _fact(facts: Mapping[str, Any], name: str) -> Any:
    if name.startswith("custom."):
        return (facts.get("custom") or {}).get(name[len("custom.") :])
    return facts.get(name)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).strip().casefold()


def _number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        return None


def condition_holds(condition: Mapping[str, str], facts: Mapping[str, Any]) -> bool:
    value = _fact(facts, condition["field"])
    op, wanted = condition["op"], _text(condition.get("value", ""))
    if op == "is_set":
        return value not in (None, "", [], {}) and value is not False
    if value is None:
        return op == "is_not"
    if op == "at_least":
        have, limit = _number(value), _number(wanted)
        return have is not None and limit is not None and have >= limit
    if isinstance(value, list | tuple | set):
        items = {_text(item) for item in value}
        if op == "contains":
            return wanted in items
        return (wanted in items) == (op == "is")
    if op == "contains":
        return wanted in _text(value)
    if op == "is":
        return _text(value) == wanted or _yes_no(wanted) == value
    return not (_text(value) == wanted or _yes_no(wanted) == value)  # is_not


def _yes_no(text: str) -> bool | None:
    return {"yes": True, "true": True, "no": False, "false": False}.get(text)


def matching_rules(db: Session, alert: Alert) -> list[AlertRule]:
    rules = db.scalars(
        sa.select(AlertRule)
        .where(
            AlertRule.enabled.is_(True),
            AlertRule.event == alert.event,
            sa.or_(AlertRule.site_id.is_(None), AlertRule.site_id == alert.site_id),
        )
        .order_by(AlertRule.id)
    )
    return [r for r in rules if all(condition_holds(c, alert.facts) for c in r.conditions)]


def rule_recipients(db: Session, rule: AlertRule) -> list[str]:
    """The rule's addresses and its members' current addresses (active members only)."""
    emails = list(rule.emails or [])
    if rule.user_ids:
        members = db.scalars(
            sa.select(User.email).where(User.id.in_(rule.user_ids), User.is_active.is_(True))
        )
        emails.extend(members)
    return emails


# --- sending ----------------------------------------------------------------------------


def _normalized(addresses) -> list[str]:
    seen: dict[str, None] = {}
    for address in addresses:
        try:
            seen.setdefault(normalize_email(address), None)
        except AccountError:
            continue  # an address that has gone bad since it was saved is skipped, not fatal
    return list(seen)


def next_digest_time(delivery: str, site: Site | None, now: dt.datetime) -> dt.datetime:
    """The top of the next hour, or the next 08:00 in the site's time zone (UTC without one)."""
    if delivery == "hourly":
        return now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    tz = zone(site.timezone) if site is not None else dt.UTC
    local = now.astimezone(tz)
    due = local.replace(hour=DAILY_DIGEST_HOUR, minute=0, second=0, microsecond=0)
    if due <= local:
        due = (local + dt.timedelta(days=1)).replace(
            hour=DAILY_DIGEST_HOUR, minute=0, second=0, microsecond=0
        )
    return due.astimezone(dt.UTC)


def send_alert(db: Session, alert: Alert, *, now: dt.datetime | None = None) -> AlertOutcome:
    """Email the alert's default recipients and those of the matching immediate rules, and
    add a digest line for each recipient of a matching digest rule who is not emailed at once.
    Runs in the caller's transaction: the emails go through the outbox when it commits."""
    if alert.event not in ALERT_EVENTS:
        raise ValueError(f"no alert is called {alert.event!r}")
    now = now or utcnow()
    immediate = list(alert.default_recipients)
    digests: dict[tuple[str, str], AlertRule] = {}
    for rule in matching_rules(db, alert):
        recipients = rule_recipients(db, rule)
        if rule.delivery == "immediate":
            immediate.extend(recipients)
        else:
            for address in _normalized(recipients):
                digests.setdefault((address, rule.delivery), rule)
    outcome = AlertOutcome(emailed=_normalized(immediate))
    for address in outcome.emailed:
        queue_templated_email(db, address, alert.email, **alert.values)
    site = db.get(Site, alert.site_id) if alert.site_id is not None else None
    for (address, delivery), rule in digests.items():
        if address in outcome.emailed:
            continue
        db.add(
            AlertDigestItem(
                rule_id=rule.id,
                recipient=address,
                delivery=delivery,
                event=alert.event,
                line=alert.line[:500],
                link=alert.link[:2000],
                due_at=next_digest_time(delivery, site, now),
            )
        )
        outcome.digested.append((address, delivery))
    return outcome


def send_due_digests(db: Session, *, now: dt.datetime | None = None) -> int:
    """One email per recipient and delivery with every line that is due. Lines are claimed
    (``sent_at``) in the transaction that queues the email, and on PostgreSQL locked with
    SKIP LOCKED, so two workers never send the same line."""
    now = now or utcnow()
    due = list(
        db.scalars(
            sa.select(AlertDigestItem)
            .where(AlertDigestItem.sent_at.is_(None), AlertDigestItem.due_at <= now)
            .order_by(AlertDigestItem.id)
            .with_for_update(skip_locked=True)
        )
    )
    groups: dict[tuple[str, str], list[AlertDigestItem]] = defaultdict(list)
    for item in due:
        groups[(item.recipient, item.delivery)].append(item)
    for (recipient, delivery), items in groups.items():
        for item in items:
            item.sent_at = now
        by_event: dict[str, list[AlertDigestItem]] = defaultdict(list)
        for item in items:
            by_event[item.event].append(item)
        queue_templated_email(
            db,
            recipient,
            DIGEST_EMAIL,
            delivery=delivery,
            count=len(items),
            sections=[(ALERT_EVENTS[event].label, lines) for event, lines in by_event.items()],
        )
    db.flush()
    return len(groups)


# --- the rules page ---------------------------------------------------------------------


def check_rule(db: Session, new: RuleInput) -> RuleInput:
    if new.event not in ALERT_EVENTS:
        raise AlertRuleError("Choose what the rule is about.")
    if new.delivery not in DELIVERIES:
        raise AlertRuleError("Choose when to send: at once, hourly or daily.")
    if new.site_id is not None and db.get(Site, new.site_id) is None:
        raise AlertRuleError("That website does not exist.")
    if len(new.conditions) > MAX_CONDITIONS:
        raise AlertRuleError(f"A rule has at most {MAX_CONDITIONS} conditions.")
    known = ALERT_EVENTS[new.event].fields
    for condition in new.conditions:
        name = condition.get("field", "")
        if name not in known and not (name.startswith("custom.") and "custom.<field>" in known):
            raise AlertRuleError(f"“{name}” is not a field of this event.")
        if condition.get("op") not in OPERATORS:
            raise AlertRuleError("Choose how the field is compared.")
        if condition["op"] == "at_least" and _number(condition.get("value", "")) is None:
            raise AlertRuleError("“is at least” needs a number.")
    members = set(
        db.scalars(sa.select(User.id).where(User.id.in_(new.user_ids), User.is_active.is_(True)))
    )
    if set(new.user_ids) - members:
        raise AlertRuleError("One of the chosen members no longer exists or is deactivated.")
    if not new.user_ids and not new.emails:
        raise AlertRuleError("Choose at least one member or address to email.")
    if len(new.user_ids) + len(new.emails) > MAX_RECIPIENTS:
        raise AlertRuleError(f"A rule emails at most {MAX_RECIPIENTS} recipients.")
    return new


def _details(rule: AlertRule) -> dict:
    return {
        "event": rule.event,
        "site_id": rule.site_id,
        "conditions": rule.conditions,
        "user_ids": rule.user_ids,
        "emails": rule.emails,
        "delivery": rule.delivery,
        "enabled": rule.enabled,
    }


def create_rule(db: Session, actor: Actor, new: RuleInput) -> AlertRule:
    check_rule(db, new)
    rule = AlertRule()
    _apply(rule, new)
    db.add(rule)
    db.flush()
    audit.record(db, actor, "alert_rule.create", "alert_rule", rule.id, _details(rule))
    return rule


def update_rule(db: Session, actor: Actor, rule: AlertRule, new: RuleInput) -> AlertRule:
    check_rule(db, new)
    _apply(rule, new)
    db.flush()
    audit.record(db, actor, "alert_rule.update", "alert_rule", rule.id, _details(rule))
    return rule


def delete_rule(db: Session, actor: Actor, rule: AlertRule) -> None:
    audit.record(db, actor, "alert_rule.delete", "alert_rule", rule.id, _details(rule))
    db.delete(rule)
    db.flush()


def _apply(rule: AlertRule, new: RuleInput) -> None:
    rule.event, rule.site_id, rule.delivery = new.event, new.site_id, new.delivery
    rule.conditions = [dict(c) for c in new.conditions]
    rule.user_ids, rule.emails = list(new.user_ids), list(new.emails)
    rule.description, rule.enabled = new.description, new.enabled


def list_rules(db: Session) -> list[AlertRule]:
    return list(db.scalars(sa.select(AlertRule).order_by(AlertRule.event, AlertRule.id)))


def pending_digest_count(db: Session) -> int:
    return db.scalar(
        sa.select(sa.func.count())
        .select_from(AlertDigestItem)
        .where(AlertDigestItem.sent_at.is_(None))
    )

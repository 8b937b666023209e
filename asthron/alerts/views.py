"""Integrations → Email → Routing: the rules that decide who is emailed about what."""

from __future__ import annotations

import sqlalchemy as sa
from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config

from asthron.accounts.models import User
from asthron.accounts.service import AccountError, normalize_email
from asthron.alerts import service
from asthron.alerts.catalogue import ALERT_EVENTS, DELIVERIES, MAX_VALUE, OPERATORS
from asthron.alerts.models import AlertRule
from asthron.forms import FormError, field, matched_id, notice, parse_id, redirect
from asthron.security.permissions import Permission
from asthron.sites.models import Site

MEMBER_FIELD = "member:"


def _members(request) -> list[User]:
    return list(
        request.db.scalars(
            sa.select(User).where(User.is_active.is_(True)).order_by(User.display_name)
        )
    )


def _sites(request) -> list[Site]:
    return list(request.db.scalars(sa.select(Site).order_by(Site.name)))


def _read_rule(request) -> service.RuleInput:
    """The posted rule. Every field is read once, within its length limit; a message per
    problem goes back to the form."""
    values = {
        "event": field(request, "event", 40),
        "site_id": field(request, "site_id", 12),
        "delivery": field(request, "delivery", 16) or "immediate",
        "description": field(request, "description", 200).strip(),
        "emails": field(request, "emails", 4000),
        "enabled": field(request, "enabled", 5) == "1",
    }
    errors: dict[str, str] = {}
    site_id = None
    if values["site_id"]:
        site_id = parse_id(values["site_id"])
        if site_id is None:
            errors["site_id"] = "Choose a website, or every website."
    emails = []
    for line in values["emails"].replace(",", "\n").splitlines():
        if not line.strip():
            continue
        try:
            emails.append(normalize_email(line.strip()))
        except AccountError:
            errors["emails"] = f"“{line.strip()[:80]}” is not an email address."
    user_ids = []
    for name in request.POST:
        if name.startswith(MEMBER_FIELD):
            field(request, name, 5)  # each box at most once
            member = parse_id(name[len(MEMBER_FIELD) :])
            if member is None:
                errors["members"] = "Choose members from the list."
            elif member not in user_ids:
                user_ids.append(member)
    conditions = []
    for index in range(service.MAX_CONDITIONS):
        name = field(request, f"condition_field_{index}", 80).strip()
        op = field(request, f"condition_op_{index}", 16)
        value = field(request, f"condition_value_{index}", MAX_VALUE).strip()
        if not name:
            continue
        conditions.append({"field": name, "op": op, "value": value})
    values.update(conditions=conditions, user_ids=user_ids, emails_list=emails)
    if errors:
        raise FormError(errors, values)
    new = service.RuleInput(
        event=values["event"],
        site_id=site_id,
        conditions=conditions,
        user_ids=user_ids,
        emails=list(dict.fromkeys(emails)),
        delivery=values["delivery"],
        description=values["description"],
        enabled=values["enabled"],
    )
    try:
        return service.check_rule(request.db, new)
    except service.AlertRuleError as exc:
        raise FormError({"": str(exc)}, values) from None


def _form_values(rule: AlertRule | None) -> dict:
    if rule is None:
        return {
            "event": "lead.new",
            "site_id": "",
            "delivery": "immediate",
            "description": "",
            "emails": "",
            "enabled": True,
            "conditions": [],
            "user_ids": [],
        }
    return {
        "event": rule.event,
        "site_id": str(rule.site_id or ""),
        "delivery": rule.delivery,
        "description": rule.description,
        "emails": "\n".join(rule.emails or []),
        "enabled": rule.enabled,
        "conditions": rule.conditions or [],
        "user_ids": rule.user_ids or [],
    }


def _page(request, renderer_values: dict, status: int = 200) -> dict:
    request.response.status_code = status
    return {
        "events": ALERT_EVENTS,
        "deliveries": DELIVERIES,
        "operators": OPERATORS,
        "max_conditions": service.MAX_CONDITIONS,
        "members": _members(request),
        "sites": _sites(request),
        "notice": notice(request),
        "error": None,
        "errors": {},
        **renderer_values,
    }


@view_config(
    route_name="alerts.rules",
    renderer="alerts/rules.html",
    permission=Permission.SETTINGS,
    request_method="GET",
)
def rule_list(request):
    return _page(
        request,
        {
            "rules": service.list_rules(request.db),
            "values": _form_values(None),
            "pending_digest": service.pending_digest_count(request.db),
        },
    )


@view_config(
    route_name="alerts.rules",
    renderer="alerts/rules.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def rule_create(request):
    try:
        new = _read_rule(request)
    except FormError as exc:
        return _page(
            request,
            {
                "rules": service.list_rules(request.db),
                "values": exc.values,
                "pending_digest": service.pending_digest_count(request.db),
                "error": exc.message,
                "errors": exc.errors,
            },
            400,
        )
    service.create_rule(request.db, request.actor, new)
    return redirect(request, "alerts.rules", "alert_rule_saved")


def _rule(request) -> AlertRule:
    rule = request.db.get(AlertRule, matched_id(request, "rule_id"))
    if rule is None:
        raise HTTPNotFound()
    return rule


@view_config(
    route_name="alerts.rule",
    renderer="alerts/rule.html",
    permission=Permission.SETTINGS,
    request_method="GET",
)
def rule_edit(request):
    rule = _rule(request)
    return _page(request, {"rule": rule, "values": _form_values(rule)})


@view_config(
    route_name="alerts.rule",
    renderer="alerts/rule.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def rule_update(request):
    rule = _rule(request)
    try:
        new = _read_rule(request)
    except FormError as exc:
        values = {"rule": rule, "values": exc.values, "error": exc.message, "errors": exc.errors}
        return _page(request, values, 400)
    service.update_rule(request.db, request.actor, rule, new)
    return redirect(request, "alerts.rules", "alert_rule_saved")


@view_config(
    route_name="alerts.rule_delete",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def rule_delete(request):
    service.delete_rule(request.db, request.actor, _rule(request))
    return redirect(request, "alerts.rules", "alert_rule_deleted")

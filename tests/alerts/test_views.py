"""The routing rules page: owners and admins add, edit and delete rules (audited); bad input
is a form error and nothing stored changes; staff cannot reach it."""

from __future__ import annotations

import sqlalchemy as sa

from asthron.alerts.models import AlertRule
from asthron.audit.models import AuditEntry
from tests.conftest import csrf_from


def _form(page, **fields):
    form = {
        "csrf_token": csrf_from(page),
        "event": "lead.qualified",
        "site_id": "",
        "delivery": "daily",
        "emails": "Boss@Example.com\nsales@example.com",
        "enabled": "1",
        "condition_field_0": "custom.budget",
        "condition_op_0": "at_least",
        "condition_value_0": "5000",
    }
    form.update(fields)
    return form


def test_admin_adds_edits_and_deletes_a_rule(testapp, login, make_user, make_site, run_in_tm):
    admin = make_user("admin")
    colleague = make_user("staff", email="colleague@example.com", name="Col League")
    site = make_site(name="Berlin")
    login(admin)
    page = testapp.get("/integrations/email/routing")
    assert "No rules yet" in page.text and "Col League" in page.text
    testapp.post(
        "/integrations/email/routing",
        _form(page, site_id=str(site["id"]), **{f"member:{colleague['id']}": "1"}),
        status=303,
    )
    rule = run_in_tm(lambda db: db.scalar(sa.select(AlertRule)))
    assert (rule.event, rule.site_id, rule.delivery) == ("lead.qualified", site["id"], "daily")
    assert rule.emails == ["boss@example.com", "sales@example.com"]
    assert rule.user_ids == [colleague["id"]]
    assert rule.conditions == [{"field": "custom.budget", "op": "at_least", "value": "5000"}]
    listing = testapp.get("/integrations/email/routing")
    assert "Berlin" in listing.text and "custom.budget" in listing.text

    edit = testapp.get(f"/integrations/email/routing/{rule.id}")
    testapp.post(
        f"/integrations/email/routing/{rule.id}",
        _form(
            edit,
            delivery="immediate",
            emails="",
            condition_field_0="",
            **{f"member:{colleague['id']}": "1"},
        ),
        status=303,
    )
    rule = run_in_tm(lambda db: db.get(AlertRule, rule.id))
    assert (rule.delivery, rule.emails, rule.conditions, rule.enabled) == (
        "immediate",
        [],
        [],
        True,
    )

    testapp.post(
        f"/integrations/email/routing/{rule.id}/delete",
        {"csrf_token": csrf_from(edit)},
        status=303,
    )
    assert run_in_tm(lambda db: db.get(AlertRule, rule.id)) is None
    actions = run_in_tm(
        lambda db: list(
            db.scalars(
                sa.select(AuditEntry.action)
                .where(AuditEntry.action.like("alert_rule.%"))
                .order_by(AuditEntry.id)
            )
        )
    )
    assert actions == ["alert_rule.create", "alert_rule.update", "alert_rule.delete"]


def test_bad_input_is_a_form_error_and_keeps_the_rule(testapp, login, make_user, run_in_tm):
    login(make_user("owner"))
    page = testapp.get("/integrations/email/routing")
    testapp.post("/integrations/email/routing", _form(page), status=303)
    rule_id = run_in_tm(lambda db: db.scalar(sa.select(AlertRule.id)))
    edit = testapp.get(f"/integrations/email/routing/{rule_id}")
    cases = [
        ({"emails": "not-an-address"}, "is not an email address"),
        ({"emails": ""}, "at least one member or address"),
        ({"event": "lead.exploded"}, "Choose what the rule is about"),
        ({"delivery": "weekly"}, "when to send"),
        ({"site_id": "abc"}, "Choose a website"),
        ({"site_id": "987654"}, "That website does not exist"),
        ({"condition_field_0": "<script>x</script>"}, "is not a field of this event"),
        ({"condition_value_0": "lots"}, "needs a number"),
        ({"member:999999": "1"}, "no longer exists"),
    ]
    for fields, message in cases:
        response = testapp.post(
            f"/integrations/email/routing/{rule_id}", _form(edit, **fields), status=400
        )
        assert message in response.text, fields
        assert "<script>x</script>" not in response.text
    # Oversized and repeated fields are a 400, never a 500.
    testapp.post(
        f"/integrations/email/routing/{rule_id}", _form(edit, emails="a" * 5000), status=400
    )
    rule = run_in_tm(lambda db: db.get(AlertRule, rule_id))
    assert rule.event == "lead.qualified" and rule.emails == [
        "boss@example.com",
        "sales@example.com",
    ]
    testapp.get("/integrations/email/routing/99999", status=404)


def test_staff_cannot_see_or_change_rules(testapp, login, make_user):
    login(make_user("staff"))
    testapp.get("/integrations/email/routing", status=403)
    testapp.get("/integrations/email/templates", status=403)

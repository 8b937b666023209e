"""Email routing: rules by site, event and the alert's facts; at once or in a digest; the lead
and waiting-chat alerts go through them; digests are sent once."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from asthron.accounts.models import User
from asthron.alerts import service
from asthron.alerts.models import AlertDigestItem, AlertRule
from asthron.audit.service import Actor
from asthron.jobs.models import OutboxItem
from asthron.notify.service import EMAIL_KIND, unsealed

UTC = dt.UTC


def emails(run_in_tm, registry) -> list[dict]:
    box = registry["secret_box"]
    return run_in_tm(
        lambda db: [
            unsealed(o.payload, box)
            for o in db.scalars(
                sa.select(OutboxItem).where(OutboxItem.kind == EMAIL_KIND).order_by(OutboxItem.id)
            )
        ]
    )


def add_rule(run_in_tm, **fields):
    values = {
        "event": "lead.new",
        "site_id": None,
        "conditions": [],
        "user_ids": [],
        "emails": [],
        "delivery": "immediate",
    }
    values.update(fields)
    return run_in_tm(
        lambda db: service.create_rule(db, Actor.cli(), service.RuleInput(**values)).id
    )


def lead_alert(site_id, *, event="lead.new", defaults=(), **facts):
    return service.Alert(
        event=event,
        site_id=site_id,
        facts={"name": "Ada", "email": "ada@example.com", "tags": [], "custom": {}, **facts},
        email="lead_notification",
        values={
            "what": "new",
            "lead": {
                "id": 1,
                "name": "Ada",
                "email": "ada@example.com",
                "phone": None,
                "company": None,
            },
            "link": "https://example.com/leads/1",
        },
        line="Ada — ada@example.com",
        link="https://example.com/leads/1",
        default_recipients=list(defaults),
    )


@pytest.mark.parametrize(
    ("condition", "facts", "holds"),
    [
        ({"field": "company", "op": "is", "value": "ACME"}, {"company": "acme"}, True),
        ({"field": "company", "op": "is", "value": "ACME"}, {"company": "Acme Ltd"}, False),
        ({"field": "company", "op": "contains", "value": "acme"}, {"company": "Acme Ltd"}, True),
        ({"field": "company", "op": "is_not", "value": "acme"}, {"company": None}, True),
        ({"field": "company", "op": "is_set", "value": ""}, {"company": ""}, False),
        ({"field": "phone", "op": "is_set", "value": ""}, {"phone": "+4930123"}, True),
        ({"field": "qualified", "op": "is", "value": "yes"}, {"qualified": True}, True),
        ({"field": "qualified", "op": "is", "value": "yes"}, {"qualified": False}, False),
        ({"field": "tags", "op": "contains", "value": "VIP"}, {"tags": ["vip", "b2b"]}, True),
        ({"field": "tags", "op": "contains", "value": "vi"}, {"tags": ["vip"]}, False),
        (
            {"field": "custom.budget", "op": "at_least", "value": "1000"},
            {"custom": {"budget": "1500"}},
            True,
        ),
        (
            {"field": "custom.budget", "op": "at_least", "value": "1000"},
            {"custom": {"budget": "900,50"}},
            False,
        ),
        (
            {"field": "custom.budget", "op": "at_least", "value": "1000"},
            {"custom": {"budget": "lots"}},
            False,
        ),
        ({"field": "custom.budget", "op": "at_least", "value": "1000"}, {"custom": {}}, False),
    ],
)
def test_conditions(condition, facts, holds):
    assert service.condition_holds(condition, facts) is holds


def test_rules_route_by_site_event_and_facts(run_in_tm, registry, make_site, make_user):
    berlin = make_site(name="Berlin", origins=["https://berlin.example.com"])
    munich = make_site(name="Munich", origins=["https://munich.example.com"])
    manager = make_user("staff", email="manager@example.com")
    gone = make_user("staff", email="gone@example.com")
    add_rule(run_in_tm, site_id=berlin["id"], user_ids=[manager["id"], gone["id"]])
    add_rule(
        run_in_tm,
        emails=["big@example.com"],
        conditions=[{"field": "custom.budget", "op": "at_least", "value": "5000"}],
    )
    add_rule(run_in_tm, event="lead.qualified", emails=["qualified@example.com"])
    run_in_tm(lambda db: setattr(db.get(User, gone["id"]), "is_active", False))

    # A Berlin lead with a small budget: the form's own recipient and the Berlin manager.
    outcome = run_in_tm(
        lambda db: service.send_alert(
            db,
            lead_alert(berlin["id"], defaults=["Sales@Shop.example.com"], custom={"budget": "80"}),
        )
    )
    assert outcome.emailed == ["sales@shop.example.com", "manager@example.com"]
    # A Munich lead with a big budget: only the budget rule (and no duplicate of a default).
    outcome = run_in_tm(
        lambda db: service.send_alert(
            db,
            lead_alert(munich["id"], defaults=["big@example.com"], custom={"budget": "9000"}),
        )
    )
    assert outcome.emailed == ["big@example.com"]
    sent = emails(run_in_tm, registry)
    assert [e["to"] for e in sent] == [
        "sales@shop.example.com",
        "manager@example.com",
        "big@example.com",
    ]
    assert "Ada" in sent[0]["subject"] and "https://example.com/leads/1" in sent[0]["text"]


def test_digest_lines_are_sent_once_per_recipient_and_period(run_in_tm, registry, make_site):
    site = make_site(name="Sydney", timezone="Australia/Sydney")
    add_rule(run_in_tm, emails=["daily@example.com"], delivery="daily", site_id=site["id"])
    add_rule(run_in_tm, emails=["hourly@example.com", "now@example.com"], delivery="hourly")
    add_rule(run_in_tm, emails=["now@example.com"])
    now = dt.datetime(2026, 12, 7, 10, 20, tzinfo=UTC)  # 21:20 in Sydney
    for name in ("Ada", "Grace"):
        alert = lead_alert(site["id"])
        alert = service.Alert(**{**alert.__dict__, "line": f"{name} — {name.lower()}@example.com"})
        outcome = run_in_tm(lambda db, a=alert: service.send_alert(db, a, now=now))
        # Someone emailed at once is not also put in a digest for the same alert.
        assert outcome.emailed == ["now@example.com"]
        assert sorted(outcome.digested) == [
            ("daily@example.com", "daily"),
            ("hourly@example.com", "hourly"),
        ]
    due = run_in_tm(
        lambda db: {i.recipient: i.due_at for i in db.scalars(sa.select(AlertDigestItem))}
    )
    assert due["hourly@example.com"] == dt.datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
    # 08:00 the next morning in Sydney (UTC+11 in December) is 21:00 UTC today.
    assert due["daily@example.com"] == dt.datetime(2026, 12, 7, 21, 0, tzinfo=UTC)

    assert run_in_tm(lambda db: service.send_due_digests(db, now=now)) == 0
    at_eleven = dt.datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
    assert run_in_tm(lambda db: service.send_due_digests(db, now=at_eleven)) == 1
    # Running again sends nothing twice.
    assert run_in_tm(lambda db: service.send_due_digests(db, now=at_eleven)) == 0
    digests = [e for e in emails(run_in_tm, registry) if "digest" in e["subject"]]
    assert [e["to"] for e in digests] == ["hourly@example.com"]
    assert "2 updates in your hourly digest" in digests[0]["subject"]
    assert "Ada — ada@example.com" in digests[0]["text"]
    assert "Grace — grace@example.com" in digests[0]["text"]
    assert '<a href="https://example.com/leads/1">' in digests[0]["html"]

    late = dt.datetime(2026, 12, 7, 21, 5, tzinfo=UTC)
    assert run_in_tm(lambda db: service.send_due_digests(db, now=late)) == 1
    digests = [e for e in emails(run_in_tm, registry) if "digest" in e["subject"]]
    assert [e["to"] for e in digests] == ["hourly@example.com", "daily@example.com"]


def test_next_digest_time_crosses_midnight_and_dst(run_in_tm):
    from asthron.sites.models import Site

    berlin = Site(timezone="Europe/Berlin")
    # 07:30 UTC on the day clocks go forward (08:00 CEST is 06:00 UTC: already past).
    before = dt.datetime(2027, 3, 28, 7, 30, tzinfo=UTC)
    assert service.next_digest_time("daily", berlin, before) == dt.datetime(
        2027, 3, 29, 6, 0, tzinfo=UTC
    )
    assert service.next_digest_time("daily", None, before) == dt.datetime(
        2027, 3, 28, 8, 0, tzinfo=UTC
    )
    assert service.next_digest_time("hourly", None, before) == dt.datetime(
        2027, 3, 28, 8, 0, tzinfo=UTC
    )


def test_a_lead_from_the_widget_is_routed_by_a_rule(run_in_tm, registry, testapp, site, make_user):
    from asthron.leads.models import LeadForm
    from tests.fixtures.visitors import Visitor

    run_in_tm(
        lambda db: db.add(
            LeadForm(site_id=site["id"], fields=[], notify_emails=["form@shop.example.com"])
        )
    )
    add_rule(
        run_in_tm,
        site_id=site["id"],
        emails=["gmail-watch@example.com"],
        conditions=[{"field": "email", "op": "contains", "value": "@gmail.com"}],
    )
    add_rule(
        run_in_tm,
        site_id=site["id"],
        emails=["sources@example.com"],
        conditions=[{"field": "source", "op": "is", "value": "lead form"}],
        delivery="daily",
    )
    visitor = Visitor(testapp, site)
    conversation_id = visitor.open()["id"]
    offered = testapp.post_json(
        f"/api/widget/v1/conversations/{conversation_id}/lead-form", {}, headers=visitor.headers
    ).json["event"]
    testapp.post_json(
        f"/api/widget/v1/conversations/{conversation_id}/lead",
        {"card_id": offered["data"]["card_id"], "fields": {"email": "dana@gmail.com"}},
        headers=visitor.headers,
        status=201,
    )
    sent = emails(run_in_tm, registry)
    assert sorted(e["to"] for e in sent) == ["form@shop.example.com", "gmail-watch@example.com"]
    assert all(e["text"].count("http://") + e["text"].count("https://") for e in sent)
    items = run_in_tm(
        lambda db: [(i.recipient, i.event) for i in db.scalars(sa.select(AlertDigestItem))]
    )
    assert items == [("sources@example.com", "lead.new")]


def test_waiting_chat_alert_goes_to_a_site_rule(run_in_tm, registry, site, make_user):
    from asthron.conversations import handoff
    from asthron.conversations import service as conversations
    from asthron.conversations.models import Conversation
    from asthron.inbox import tasks
    from asthron.inbox.models import HandoffRules
    from asthron.sites.models import Site

    make_user("staff", email="duty@example.com")
    add_rule(run_in_tm, event="chat.waiting", site_id=site["id"], emails=["boss@example.com"])

    def arrange(db):
        rules = db.get(HandoffRules, 1) or HandoffRules(id=1, keywords=[])
        rules.waiting_alert_minutes = 3
        db.add(rules)
        visitor, _token = conversations.start_visitor(db, db.get(Site, site["id"]), "UA")
        conversation, _ = conversations.open_conversation(db, visitor)
        handoff.request_handoff(db, conversation, "visitor", "asked for a person")
        conversation.waiting_since = conversation.waiting_since - dt.timedelta(minutes=5)
        return conversation.id

    conversation_id = run_in_tm(arrange)
    assert tasks.alert_waiting_chats.call_local() == 1
    sent = [e for e in emails(run_in_tm, registry) if "waited" in e["subject"]]
    assert sorted(e["to"] for e in sent) == ["boss@example.com", "duty@example.com"]
    assert f"/inbox/{conversation_id}" in sent[0]["text"]
    assert run_in_tm(lambda db: db.get(Conversation, conversation_id).waiting_alert_sent_at)


def test_rule_checks(run_in_tm, make_site, make_user):
    def check(**fields):
        values = {
            "event": "lead.new",
            "site_id": None,
            "conditions": [],
            "user_ids": [],
            "emails": ["a@example.com"],
            "delivery": "immediate",
        }
        values.update(fields)
        return run_in_tm(lambda db: service.check_rule(db, service.RuleInput(**values)))

    with pytest.raises(service.AlertRuleError, match="about"):
        check(event="lead.exploded")
    with pytest.raises(service.AlertRuleError, match="when to send"):
        check(delivery="weekly")
    with pytest.raises(service.AlertRuleError, match="website"):
        check(site_id=987654)
    with pytest.raises(service.AlertRuleError, match="not a field"):
        check(conditions=[{"field": "password", "op": "is", "value": "x"}])
    with pytest.raises(service.AlertRuleError, match="compared"):
        check(conditions=[{"field": "name", "op": "regex", "value": ".*"}])
    with pytest.raises(service.AlertRuleError, match="number"):
        check(conditions=[{"field": "custom.budget", "op": "at_least", "value": "a lot"}])
    with pytest.raises(service.AlertRuleError, match="member"):
        check(user_ids=[987654])
    with pytest.raises(service.AlertRuleError, match="at least one"):
        check(emails=[])
    assert check(conditions=[{"field": "custom.budget", "op": "at_least", "value": "10"}])
    assert run_in_tm(lambda db: db.scalar(sa.select(sa.func.count()).select_from(AlertRule))) == 0

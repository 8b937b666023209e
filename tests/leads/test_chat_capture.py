"""Leads captured through the widget API: cards, extraction with confirmation, qualification."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from asthron.leads.models import (
    Lead,
    LeadForm,
    LeadSettings,
    QualificationAnswer,
    QualificationQuestion,
)
from asthron.realtime import conversation_channel
from tests.fixtures.visitors import Visitor
from tests.fixtures.waiting import wait_for


def wait_events(visitor, conversation_id, predicate, timeout=10):
    """The conversation's events once ``predicate(events)`` holds, looked at again whenever
    the conversation's channel says something happened."""
    seen = []

    def met():
        seen[:] = visitor.events(conversation_id).json["events"]
        return (list(seen),) if predicate(seen) else None

    notifier = visitor.app.app.registry["notifier"]
    with notifier.subscribe(conversation_channel(conversation_id)) as updates:
        (events,) = wait_for(
            met,
            "the condition on the events",
            timeout,
            wake=updates,
            details=lambda: f"events: {[(e['type'], e['body'][:40]) for e in seen]}",
        )
    return events


def cards(events, kind):
    return [e for e in events if e["type"] == "card" and e["data"].get("card") == kind]


def leads(run_in_tm):
    return run_in_tm(
        lambda db: [
            (x.name, x.email, x.phone, x.status, x.qualified) for x in db.scalars(sa.select(Lead))
        ]
    )


def test_extracted_contact_is_saved_only_after_confirmation(testapp, site, run_in_tm):
    visitor = Visitor(testapp, site)
    conversation_id = visitor.open()["id"]
    visitor.send(conversation_id, "Hi, I'm Dana, reach me at Dana@Example.com or +1 202 555 0143")
    events = wait_events(visitor, conversation_id, lambda ev: cards(ev, "confirm_contact"))
    card = cards(events, "confirm_contact")[0]
    assert card["data"]["values"] == {"email": "dana@example.com", "phone": "+12025550143"}
    assert leads(run_in_tm) == []  # nothing saved before the visitor confirms
    response = testapp.post_json(
        f"/api/widget/v1/conversations/{conversation_id}/lead",
        {"card_id": card["data"]["card_id"], "fields": card["data"]["values"]},
        headers=visitor.headers,
    )
    assert response.status_int == 201
    assert leads(run_in_tm) == [(None, "dana@example.com", "+12025550143", "new", False)]
    events = visitor.events(conversation_id).json["events"]
    assert any(e["data"].get("action") == "lead_saved" for e in events)


def test_lead_form_card_validates_on_the_server(testapp, site, run_in_tm):
    visitor = Visitor(testapp, site)
    conversation_id = visitor.open()["id"]
    offered = testapp.post_json(
        f"/api/widget/v1/conversations/{conversation_id}/lead-form", {}, headers=visitor.headers
    ).json["event"]
    assert offered["type"] == "card" and [f["name"] for f in offered["data"]["fields"]] == [
        "name",
        "email",
        "phone",
    ]
    url = f"/api/widget/v1/conversations/{conversation_id}/lead"
    bad = testapp.post_json(
        url,
        {"card_id": offered["data"]["card_id"], "fields": {"name": "", "email": "nope"}},
        headers=visitor.headers,
        status=422,
    ).json["error"]
    assert set(bad["fields"]) == {"name", "email"}
    assert leads(run_in_tm) == []
    for hostile in [
        {"fields": "x"},
        {"fields": {"email": ["a"]}},
        {"card_id": "nope", "fields": {}},
    ]:
        assert testapp.post_json(url, hostile, headers=visitor.headers, status="*").status_int in (
            404,
            422,
        )
    testapp.post_json(
        url,
        {
            "card_id": offered["data"]["card_id"],
            "fields": {"name": "Dana", "email": "dana@example.com"},
        },
        headers=visitor.headers,
        status=201,
    )
    assert leads(run_in_tm) == [("Dana", "dana@example.com", None, "new", False)]


def test_another_visitor_cannot_submit_into_my_conversation(testapp, site):
    mine, theirs = Visitor(testapp, site), Visitor(testapp, site)
    conversation_id = mine.open()["id"]
    testapp.post_json(
        f"/api/widget/v1/conversations/{conversation_id}/lead",
        {"fields": {"email": "x@y.co"}},
        headers=theirs.headers,
        status=404,
    )


@pytest.fixture
def questions(run_in_tm):
    def setup(db):
        db.add_all(
            [
                QualificationQuestion(
                    key="budget", text="What budget do you have in mind?", kind="number", position=1
                ),
                QualificationQuestion(
                    key="timeline",
                    text="When would you like to start?",
                    kind="single",
                    options=["within a month", "1-3 months", "later"],
                    position=2,
                ),
                LeadSettings(
                    id=1,
                    rules=[
                        {"question": "budget", "op": ">=", "value": 5000},
                        {
                            "question": "timeline",
                            "op": "in",
                            "value": ["within a month", "1-3 months"],
                        },
                    ],
                    handoff_when_qualified=True,
                    phone_region="US",
                ),
            ]
        )

    run_in_tm(setup)


def test_qualification_one_question_at_a_time_then_qualified_and_handed_off(
    testapp, site, run_in_tm, questions
):
    from asthron.jobs.models import OutboxItem

    run_in_tm(
        lambda db: db.add(
            LeadForm(site_id=site["id"], fields=[], notify_emails=["sales@shop.example.com"])
        )
    )
    visitor = Visitor(testapp, site)
    conversation_id = visitor.open()["id"]
    offered = testapp.post_json(
        f"/api/widget/v1/conversations/{conversation_id}/lead-form", {}, headers=visitor.headers
    ).json["event"]
    testapp.post_json(
        f"/api/widget/v1/conversations/{conversation_id}/lead",
        {"card_id": offered["data"]["card_id"], "fields": {"email": "dana@example.com"}},
        headers=visitor.headers,
        status=201,
    )

    def replies(events):
        return [e for e in events if e["type"] == "assistant_message"]

    visitor.send(conversation_id, "Do you build websites?")
    events = wait_events(visitor, conversation_id, lambda ev: len(replies(ev)) >= 1)
    assert "What budget do you have in mind?" in replies(events)[-1]["body"]
    visitor.send(conversation_id, "About 8k")
    events = wait_events(visitor, conversation_id, lambda ev: len(replies(ev)) >= 2)
    # The answered question is skipped; the next one is asked.
    assert "When would you like to start?" in replies(events)[-1]["body"]
    assert "budget" not in replies(events)[-1]["body"]
    visitor.send(conversation_id, "probably 1-3 months")
    wait_events(
        visitor,
        conversation_id,
        lambda ev: any(
            e["type"] == "system"
            and e["data"].get("action") in ("handoff_waiting", "collect_contact")
            for e in ev
        ),
    )
    answers = run_in_tm(
        lambda db: sorted(
            [
                (a.value["v"], a.event_id is not None)
                for a in db.scalars(sa.select(QualificationAnswer))
            ],
            key=str,
        )
    )
    assert answers == sorted([(8000.0, True), ("1-3 months", True)], key=str)
    assert leads(run_in_tm) == [(None, "dana@example.com", None, "qualified", True)]
    subjects = run_in_tm(
        lambda db: [o.payload["subject"] for o in db.scalars(sa.select(OutboxItem))]
    )
    assert any("new lead" in s for s in subjects) and any("qualified lead" in s for s in subjects)


def test_offline_message_creates_or_updates_a_lead(testapp, site, run_in_tm):
    for name in ("Dana", "Dana Scully"):
        visitor = Visitor(testapp, site)
        testapp.post_json(
            "/api/widget/v1/offline-messages",
            {"name": name, "email": "DANA@example.com", "message": "Call me back"},
            headers=visitor.headers,
            status=201,
        )
    assert leads(run_in_tm) == [("Dana", "dana@example.com", None, "new", False)]

"""Knowledge gaps from the message path: the assistant's "I don't know", a handoff, and staff
marking a reply wrong from the inbox; the knowledge gaps page groups them and prefills a new
article. Replies come from the built-in provider (no model configured)."""

from __future__ import annotations

import re

import sqlalchemy as sa
import webtest

from asthron.audit.models import AuditEntry
from asthron.audit.service import Actor
from asthron.conversations.models import ConversationEvent
from asthron.knowledge import gaps as knowledge_gaps
from asthron.knowledge import service as kb
from asthron.knowledge.models import KnowledgeGap
from tests.assistant.test_assistant_replies import finish_replies, wait_for_reply
from tests.conftest import csrf_from
from tests.fixtures.visitors import Visitor


def article(run_in_tm, title, body):
    run_in_tm(lambda db: kb.create_article(db, Actor.cli(), kb.ArticleInput(title, body, [])))


def ask(visitor, conversation_id, text, count):
    visitor.send(conversation_id, text)
    return wait_for_reply(visitor, conversation_id, count=count)


def gaps(run_in_tm):
    return run_in_tm(
        lambda db: [
            (g.question, g.reason, g.conversation_id, g.event_id)
            for g in db.scalars(sa.select(KnowledgeGap).order_by(KnowledgeGap.id))
        ]
    )


def staff_browser(app, make_user, login, role="owner"):
    client = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.31"})
    login(make_user(role), app=client)
    return client


def test_an_abstention_becomes_a_gap_and_an_answer_does_not(
    testapp, make_site, run_in_tm, registry
):
    article(run_in_tm, "Bicycle repairs", "We repair all kinds of bicycles in our workshop.")
    visitor = Visitor(testapp, make_site())
    conversation_id = visitor.open()["id"]
    answered = ask(visitor, conversation_id, "Do you repair bicycles?", 1)
    unsure = ask(visitor, conversation_id, "Do you sell electric scooters?", 2)
    finish_replies(registry)
    assert "Bicycle repairs" in answered["body"]
    assert "not sure" in unsure["body"]
    assert gaps(run_in_tm) == [
        ("Do you sell electric scooters?", "abstained", conversation_id, unsure["id"])
    ]
    data = run_in_tm(lambda db: db.get(ConversationEvent, unsure["id"]).data)
    assert data["abstained"] is True and data["sources"] == []
    assert "abstained" not in unsure["data"]  # staff-side only


def test_a_handoff_records_the_question_the_assistant_last_answered(
    testapp, make_site, run_in_tm, registry
):
    article(run_in_tm, "Opening hours", "We are open Monday to Friday from 9:00 to 17:00.")
    visitor = Visitor(testapp, make_site())
    conversation_id = visitor.open()["id"]
    reply = ask(visitor, conversation_id, "Are you open on Mondays?", 1)
    testapp.post_json(
        f"/api/widget/v1/conversations/{conversation_id}/handoff",
        {},
        headers=visitor.headers,
        status=200,
    )
    finish_replies(registry)
    assert gaps(run_in_tm) == [
        ("Are you open on Mondays?", "handed_off", conversation_id, reply["id"])
    ]


def test_staff_mark_a_reply_wrong_from_the_inbox(
    app, testapp, make_site, run_in_tm, registry, make_user, login
):
    article(run_in_tm, "Gift cards", "Gift cards are sold in the shop, from 10 to 200.")
    visitor = Visitor(testapp, make_site())
    conversation_id = visitor.open()["id"]
    reply = ask(visitor, conversation_id, "Do you sell gift cards for bikes?", 1)
    finish_replies(registry)
    assert gaps(run_in_tm) == []

    staff = staff_browser(app, make_user, login, "staff")
    page = staff.get(f"/inbox/{conversation_id}")
    assert "Sources: Gift cards" in page.text  # the reply's source titles, for staff
    url = f"/conversations/{conversation_id}/replies/{reply['id']}/wrong"
    assert f'action="http://localhost{url}"' in page.text
    token = csrf_from(page)
    staff.post(url, {}, status=400)  # no CSRF token
    staff.post(url, {"csrf_token": token}, status=303)
    staff.post(url, {"csrf_token": token}, status=303)  # twice: recorded once
    assert gaps(run_in_tm) == [
        ("Do you sell gift cards for bikes?", "marked_wrong", conversation_id, reply["id"])
    ]
    assert "Marked wrong" in staff.get(f"/inbox/{conversation_id}").text
    flag = run_in_tm(lambda db: db.get(ConversationEvent, reply["id"]).data["marked_wrong"])
    assert flag["by"]
    # The flag stays on the staff side.
    events = visitor.events(conversation_id).json["events"]
    assert all("marked_wrong" not in e["data"] for e in events)
    audit = run_in_tm(
        lambda db: [
            (e.action, e.target_id, e.summary)
            for e in db.scalars(
                sa.select(AuditEntry).where(AuditEntry.action == "conversation.reply_marked_wrong")
            )
        ]
    )
    assert audit == [
        (
            "conversation.reply_marked_wrong",
            str(conversation_id),
            {"event_id": reply["id"], "sources": ["Gift cards"]},
        )
    ]
    # Not an assistant reply of this conversation: not found.
    question_id = reply["id"] - 1
    staff.post(
        f"/conversations/{conversation_id}/replies/{question_id}/wrong",
        {"csrf_token": token},
        status=404,
    )
    staff.post(
        f"/conversations/{conversation_id + 1}/replies/{reply['id']}/wrong",
        {"csrf_token": token},
        status=404,
    )


def test_gaps_page_groups_similar_questions_and_prefills_an_article(
    app, testapp, make_site, run_in_tm, registry, make_user, login
):
    article(run_in_tm, "Bicycle repairs", "We repair all kinds of bicycles in our workshop.")
    site = make_site()
    for text in ["Do you sell electric scooters?", "do you sell e-scooters or electric scooters"]:
        visitor = Visitor(testapp, site)
        conversation_id = visitor.open()["id"]
        ask(visitor, conversation_id, text, 1)
    visitor = Visitor(testapp, site)
    ask(visitor, visitor.open()["id"], "Can I pay with bitcoin?", 1)
    finish_replies(registry)
    assert len(gaps(run_in_tm)) == 3

    owner = staff_browser(app, make_user, login)
    page = owner.get("/knowledge/gaps")
    rows = re.findall(r"<tr>.*?</tr>", page.text, re.S)
    assert len(rows) == 1 + 2  # the header, and two groups
    assert "scooters" in rows[1] and "2×" in rows[1]
    assert "bitcoin" in rows[2] and "1×" in rows[2]
    assert "the assistant didn&#39;t know (2)" in rows[1]
    link = re.search(r'href="([^"]*/knowledge/new\?gap=\d+)"', rows[1]).group(1)
    form = owner.get(link.replace("http://localhost", ""))
    assert 'name="title" value="Do you sell electric scooters?"' in form.text or (
        'name="title" value="do you sell e-scooters or electric scooters"' in form.text
    )
    assert "Visitors asked" in form.text and "e-scooters" in form.text

    # Dismissing a group takes all of its questions off the page, audited.
    gap_ids = re.search(r'name="gap_id" value="([\d,]+)"', rows[1]).group(1)
    owner.post(
        "/knowledge/gaps/dismiss", {"gap_id": gap_ids, "csrf_token": csrf_from(page)}, status=303
    )
    after = owner.get("/knowledge/gaps")
    assert "scooters" not in after.text and "bitcoin" in after.text
    assert run_in_tm(
        lambda db: db.scalar(
            sa.select(AuditEntry.summary).where(AuditEntry.action == "knowledge.gaps_dismissed")
        )
    ) == {"gaps": 2}
    staff = staff_browser(app, make_user, login, "staff")
    staff.get("/knowledge/gaps", status=403)


def test_dismissing_a_group_leaves_a_similar_question_asked_since_the_page_was_shown(
    app, testapp, make_site, run_in_tm, make_user, login
):
    conversation_id = Visitor(testapp, make_site()).open()["id"]

    def record(question):
        run_in_tm(lambda db: knowledge_gaps.record_gap(db, question, "abstained", conversation_id))

    record("What are your opening hours?")
    record("Are you open on Sundays?")  # not like enough: a group of its own
    owner = staff_browser(app, make_user, login)
    page = owner.get("/knowledge/gaps")
    row = next(r for r in re.findall(r"<tr>.*?</tr>", page.text, re.S) if "opening hours" in r)
    shown = re.search(r'name="gap_id" value="([\d,]+)"', row).group(1)

    # Asked after the page was shown, and like both: grouped again, it would join them.
    record("Open?")
    owner.post(
        "/knowledge/gaps/dismiss", {"gap_id": shown, "csrf_token": csrf_from(page)}, status=303
    )
    still_open = run_in_tm(
        lambda db: sorted(
            g.question
            for g in db.scalars(sa.select(KnowledgeGap).where(KnowledgeGap.dismissed_at.is_(None)))
        )
    )
    assert still_open == ["Are you open on Sundays?", "Open?"]


def test_a_reply_that_abstained_and_was_marked_wrong_is_asked_once(
    app, testapp, make_site, run_in_tm, registry, make_user, login
):
    article(run_in_tm, "Bicycle repairs", "We repair all kinds of bicycles in our workshop.")
    site = make_site()
    visitor = Visitor(testapp, site)
    conversation_id = visitor.open()["id"]
    unsure = ask(visitor, conversation_id, "Do you sell electric scooters?", 1)
    other = Visitor(testapp, site)
    ask(other, other.open()["id"], "Do you sell electric scooters?", 1)
    finish_replies(registry)
    staff = staff_browser(app, make_user, login, "staff")
    token = csrf_from(staff.get(f"/inbox/{conversation_id}"))
    url = f"/conversations/{conversation_id}/replies/{unsure['id']}/wrong"
    staff.post(url, {"csrf_token": token}, status=303)
    assert sorted(g[1] for g in gaps(run_in_tm)) == ["abstained", "abstained", "marked_wrong"]

    page = staff_browser(app, make_user, login).get("/knowledge/gaps")
    rows = re.findall(r"<tr>.*?</tr>", page.text, re.S)
    assert len(rows) == 1 + 1
    assert "2×" in rows[1]  # two visitors asked, not three
    assert "the assistant didn&#39;t know (2)" in rows[1]
    assert "marked wrong by staff (1)" in rows[1]


def test_a_rule_handoff_is_not_a_gap(run_in_tm, testapp, make_site, registry):
    from asthron.assistant import knowledge_gaps
    from asthron.conversations.hooks import HandoffRequested
    from asthron.conversations.models import Conversation

    article(run_in_tm, "Opening hours", "We are open Monday to Friday from 9:00 to 17:00.")
    visitor = Visitor(testapp, make_site())
    conversation_id = visitor.open()["id"]
    ask(visitor, conversation_id, "Are you open on Mondays?", 1)
    finish_replies(registry)

    def handoff(db, trigger):
        conversation = db.get(Conversation, conversation_id)
        knowledge_gaps.record_handoff(
            db, HandoffRequested(conversation, trigger, "The lead has just qualified.", True)
        )

    run_in_tm(lambda db: handoff(db, "rule"))
    assert gaps(run_in_tm) == []
    run_in_tm(lambda db: handoff(db, "assistant"))
    assert [g[:2] for g in gaps(run_in_tm)] == [("Are you open on Mondays?", "handed_off")]

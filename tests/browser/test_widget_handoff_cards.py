"""The widget in Chromium: asking for a person, staff joining and typing, lead cards (the
form and the confirmation of extracted details), and a closed conversation continuing in a
new one."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.browser.conftest import PRIVACY_NOTICE, SCREENSHOT_DIR
from tests.conftest import REQUIRE_SERVICES, ROOT

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture explains the skip
    if REQUIRE_SERVICES:
        raise
    pytest.skip("Playwright is not installed (pip install -e '.[dev]')", allow_module_level=True)


def start_chat(host_site, make_site, open_page):
    site = make_site(host_site.origin)
    page = open_page(host_site.page("/", site["key"]))
    p = page.page
    p.locator(".launcher").click()
    expect(p.locator(".consent")).to_contain_text(PRIVACY_NOTICE)
    expect(p.get_by_role("button", name="Talk to a person")).to_be_hidden()  # consent first
    p.get_by_role("button", name="Got it").click()
    expect(p.get_by_role("textbox", name="Message")).to_be_focused()
    return site, page


def say(page, text, replies):
    """Send ``text`` and wait until ``replies`` assistant/staff messages are shown."""
    p = page.page
    box = p.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")
    expect(p.locator(".msg:not(.me):not(.prov)")).to_have_count(replies)


def conversation_id(page, site):
    return page.page.evaluate(f"() => JSON.parse(localStorage.getItem('asthron:{site['key']}')).c")


def wait_for(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_talk_to_a_person_hands_off(host_site, make_site, open_page, run_in_tm):
    site, page = start_chat(host_site, make_site, open_page)
    p = page.page
    posted = []
    p.on("request", lambda r: posted.append(r.method) if r.url.endswith("/handoff") else None)
    talk = p.get_by_role("button", name="Talk to a person")
    expect(talk).to_be_enabled()
    talk.click()  # no conversation yet: it is created first
    expect(p.get_by_role("textbox", name="Message")).to_be_focused()
    system = p.locator(".sys").first
    expect(system).to_contain_text(
        re.compile(r"A person from our team will join|Nobody from our team is available")
    )
    expect(talk).to_be_disabled()
    assert posted == ["POST"]
    # Nobody is online in the test: the visitor is asked for contact details, in the message
    # and by the lead form the server puts in the chat.
    expect(system.get_by_role("button", name="Leave my details")).to_be_visible()
    expect(p.locator(".card").get_by_label("Email")).to_be_visible()

    def owner(db):
        from asthron.conversations.models import Conversation

        return db.get(Conversation, conversation_id(page, site)).owner

    assert run_in_tm(owner) == "waiting"
    # The state survives a reload (from the history's system events).
    p.reload()
    p.locator(".launcher").click()
    expect(p.locator(".sys").first).to_be_visible()
    expect(p.get_by_role("button", name="Talk to a person")).to_be_disabled()
    assert not page.errors


def test_lead_form_card_validates_and_saves(host_site, make_site, open_page, run_in_tm):
    site, page = start_chat(host_site, make_site, open_page)
    p = page.page
    lead_posts = []
    p.on("request", lambda r: lead_posts.append(r) if r.url.endswith("/lead") else None)
    p.get_by_role("button", name="Leave my details").click()
    card = p.locator(".card")
    expect(card).to_contain_text("Leave your details and we'll follow up.")
    name, email = card.get_by_label("Name"), card.get_by_label("Email")
    expect(name).to_be_focused()
    expect(name).to_have_attribute("required", "")
    expect(card.locator("label", has_text="Name").locator(".req")).to_have_text(" *")
    expect(card.get_by_label("Phone")).to_have_attribute("type", "tel")

    # Checked in the browser first: nothing is posted.
    name.fill("Ada Lovelace")
    email.fill("not-an-email")
    card.get_by_role("button", name="Send details").click()
    expect(email).to_be_focused()
    expect(email).to_have_attribute("aria-invalid", "true")
    described = email.get_attribute("aria-describedby")
    expect(card.locator(f"[id='{described}']")).to_have_text("Enter a valid email address.")
    assert lead_posts == []

    # Refused by the server (422 with per-field messages): shown next to the field, values kept.
    email.fill("a" * 65 + "@example.com")
    card.get_by_role("button", name="Send details").click()
    email = card.get_by_label("Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(card.locator(".ferr")).to_have_text(["", "Enter a valid email address.", ""])
    expect(card.get_by_label("Name")).to_have_value("Ada Lovelace")
    assert len(lead_posts) == 1
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(SCREENSHOT_DIR / "asthron-widget-card.png"))
    body = json.loads(lead_posts[0].post_data)
    assert set(body) == {"card_id", "fields"} and len(body["card_id"]) == 32

    email.fill("ada@example.com")
    card.get_by_role("button", name="Send details").click()
    expect(p.locator(".sys")).to_contain_text(["Thanks! Your details were saved"])
    expect(card).to_contain_text("Details sent")
    expect(card.locator("input")).to_have_count(0)
    expect(card.locator("dd")).to_have_text(["Ada Lovelace", "ada@example.com"])
    expect(p.get_by_role("textbox", name="Message")).to_be_focused()

    def leads(db):
        from asthron.leads.models import Lead

        return [(lead.name, lead.email) for lead in db.query(Lead)]

    assert run_in_tm(leads) == [("Ada Lovelace", "ada@example.com")]

    # From history the card is complete, read-only; asking again says the details are known.
    p.reload()
    p.locator(".launcher").click()
    expect(p.locator(".card.done")).to_contain_text("Details sent")
    p.get_by_role("button", name="Leave my details").click()
    expect(p.locator(".sys").last).to_have_text("We already have your details. Thank you!")
    assert not [e for e in page.errors if "422" not in e]


def test_confirm_contact_card_edit_and_confirm(host_site, make_site, open_page, run_in_tm):
    site, page = start_chat(host_site, make_site, open_page)
    p = page.page
    say(page, "I'm Dana, dana@example.com", 2)
    card = p.locator(".card")
    expect(card).to_contain_text("Shall I save these details")
    expect(card.locator("dd")).to_have_text(["dana@example.com"])
    card.get_by_role("button", name="Edit").click()
    email = card.get_by_label("Email")
    expect(email).to_be_focused()
    expect(email).to_have_value("dana@example.com")
    email.fill("dana@example.org")
    card.get_by_role("button", name="Confirm").click()
    expect(card).to_contain_text("Details sent")
    expect(p.locator(".sys")).to_contain_text(["Thanks! Your details were saved"])

    def leads(db):
        from asthron.leads.models import Lead

        return [lead.email for lead in db.query(Lead)]

    assert run_in_tm(leads) == ["dana@example.org"]

    # A second confirmation card: Confirm straight away posts its values as they are.
    say(page, "Or call me on +1 415 555 0134", 3)
    second = p.locator(".card:not(.done)")
    expect(second.locator("dd")).to_have_text(["+14155550134"])
    second.get_by_role("button", name="Confirm").click()
    expect(p.locator(".card.done")).to_have_count(2)

    def phones(db):
        from asthron.leads.models import Lead

        return [lead.phone for lead in db.query(Lead)]

    # (Which lead gets the phone, the conversation's or a new one, is capture's business.)
    assert wait_for(lambda: "+14155550134" in run_in_tm(phones))
    assert not page.errors


def test_staff_joins_and_types(host_site, make_site, open_page, run_in_tm, make_user, registry):
    from asthron.realtime import conversation_channel

    site, page = start_chat(host_site, make_site, open_page)
    p = page.page
    say(page, "Hello", 2)
    cid = conversation_id(page, site)
    user = make_user(name="Alice")

    def join(db):
        from asthron.accounts.models import User
        from asthron.audit.service import Actor
        from asthron.conversations import handoff
        from asthron.conversations.models import Conversation

        handoff.join(db, Actor.cli(), db.get(Conversation, cid), db.get(User, user["id"]))

    run_in_tm(join)
    expect(p.locator(".sys")).to_have_text(["Alice joined the chat"])
    expect(p.get_by_role("button", name="Talk to a person")).to_be_disabled()

    typing = p.locator(".typing")
    frame = {"kind": "typing", "author": "staff", "name": "Alice", "active": True}
    channel = conversation_channel(cid)

    def shown():
        # Published again until the widget shows it: its stream may be reconnecting.
        registry["notifier"].publish(channel, frame)
        try:
            typing.wait_for(state="visible", timeout=100)
        except PlaywrightTimeoutError:
            return False
        return True

    assert wait_for(shown)
    expect(typing).to_contain_text("Alice is typing…")
    registry["notifier"].publish(channel, {**frame, "active": False})
    expect(typing).to_be_hidden()

    def reply(db):
        from asthron.accounts.models import User
        from asthron.conversations import handoff
        from asthron.conversations.models import Conversation

        handoff.staff_reply(
            db, db.get(Conversation, cid), db.get(User, user["id"]), "Hi, Alice here"
        )

    registry["notifier"].publish(channel, frame)
    expect(typing).to_be_visible()
    run_in_tm(reply)
    staff = p.locator(".msg:not(.me)").last
    expect(staff.locator(".bubble")).to_have_text("Hi, Alice here")
    expect(staff.locator(".meta")).to_contain_text("Alice")
    expect(typing).to_be_hidden()
    assert not page.errors


def test_closed_conversation_continues_in_a_new_one(host_site, make_site, open_page, run_in_tm):
    site, page = start_chat(host_site, make_site, open_page)
    p = page.page
    say(page, "Hello", 2)
    first = conversation_id(page, site)

    def close(db):
        from asthron.audit.service import Actor
        from asthron.conversations import handoff
        from asthron.conversations.models import Conversation

        handoff.close(db, Actor.cli(), db.get(Conversation, first), None)

    run_in_tm(close)
    expect(p.locator(".sys")).to_have_text(["The conversation was closed"])
    sends = []
    p.on(
        "response",
        lambda r: (
            sends.append((r.status, json.loads(r.request.post_data)["client_id"]))
            if r.url.endswith("/messages")
            else None
        ),
    )
    say(page, "Are you still there?", 3)
    expect(p.locator(".msg.me time")).to_have_count(2)
    expect(p.locator(".sep")).to_have_text("New conversation")
    order = page.shadow(
        "root => [...root.querySelector('.log').children].map(n => n.className)"
        ".filter(c => c !== 'msg')"  # the assistant's replies
    )
    assert order == ["msg me", "sys", "sep", "msg me"]
    second = conversation_id(page, site)
    assert second != first
    assert [status for status, _ in sends] == [409, 201]
    assert sends[0][1] == sends[1][1]  # the same client id, stored once

    def stored(db):
        from asthron.conversations.models import Conversation, ConversationEvent

        rows = db.query(ConversationEvent).filter_by(type="visitor_message")
        statuses = {c.id: c.status for c in db.query(Conversation)}
        return statuses, sorted((e.conversation_id, e.body, e.client_id) for e in rows)

    statuses, messages = run_in_tm(stored)
    assert statuses == {first: "closed", second: "open"}
    assert messages[-1] == (second, "Are you still there?", sends[0][1])

    # Consent is known to the server (config.visitor.consent_at), even when this browser
    # forgot it.
    p.evaluate(
        f"""() => {{
            const key = 'asthron:{site["key"]}';
            const saved = JSON.parse(localStorage.getItem(key));
            delete saved.ok;
            localStorage.setItem(key, JSON.stringify(saved));
        }}"""
    )
    p.reload()
    p.locator(".launcher").click()
    expect(p.get_by_role("textbox", name="Message")).to_be_focused()
    expect(p.locator(".consent")).to_be_hidden()
    assert not [e for e in page.errors if "409" not in e]


def test_spanish_has_every_widget_string():
    english = set(re.findall(r"^  (\w+): ", (ROOT / "widget/src/strings.js").read_text(), re.M))
    spanish = json.loads((ROOT / "asthron/sites/i18n/es.json").read_text(encoding="utf-8"))
    assert english and english <= set(spanish)
    assert all(isinstance(v, str) and v for v in spanish.values())

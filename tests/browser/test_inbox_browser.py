"""The staff inbox in Chromium against a real waitress server, with the widget in a second
browser context: a new visitor message arrives in the inbox live, the member joins and
replies, and the visitor's widget shows "… joined the chat" and the reply.

Also checked on the staff pages: no console errors (a CSP violation would be one), no
dialogs, and hostile visitor text shown as text."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOT_DIR
from tests.conftest import PASSWORDS

XSS = "<img src=x onerror=alert(1)>"


def _log_in(open_page, server, make_user, name):
    user = make_user("staff", name=name)
    page = open_page(server + "/login", widget=False)
    p = page.page
    p.get_by_label("Email").fill(user["email"])
    p.get_by_label("Password").fill(PASSWORDS["staff"])
    p.get_by_role("button", name="Log in").click()
    expect(p.locator(".topbar")).to_contain_text(name)
    page.errors.clear()  # the login page's /favicon.ico 404: not the inbox's business
    return page


def _visitor_says(page, text):
    p = page.page
    box = p.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def test_staff_joins_and_replies_live(server, host_site, make_site, open_page, make_user):
    site = make_site(host_site.origin)
    staff = _log_in(open_page, server, make_user, "Alice")
    s = staff.page
    s.goto(server + "/inbox")
    expect(s.locator("#inbox-list")).to_contain_text("No conversations here.")

    visitor = open_page(host_site.page("/", site["key"]))
    v = visitor.page
    v.locator(".launcher").click()
    v.get_by_role("button", name="Got it").click()
    _visitor_says(visitor, "Hello, is a person there? " + XSS)

    # 1. The message arrives in the inbox without a reload.
    row = s.locator("#inbox-list tbody tr[data-conversation-id]")
    expect(row).to_have_count(1)
    expect(row.locator(".preview")).not_to_be_empty()  # the latest message (maybe the assistant's)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    s.screenshot(path=str(SCREENSHOT_DIR / "asthron-inbox-list.png"))

    # 2. Open it and join: the reply box appears, focused.
    row.get_by_role("link").click()
    expect(s.locator("#transcript .ev-visitor_message .ev-body")).to_have_text(
        ["Hello, is a person there? " + XSS]
    )
    assert s.locator("img").count() == 0
    s.get_by_role("button", name="Join").click()
    expect(s.locator("#state")).to_have_text("You are handling this chat.")
    reply_box = s.get_by_label("Reply to the visitor")
    expect(reply_box).to_be_focused()
    expect(s.locator("#transcript .ev-system").last).to_have_text(
        re.compile("Alice joined the chat")
    )

    # 3. Typing shows in the widget; the reply arrives there and in the transcript.
    reply_box.type("Hi, Alice here", delay=20)
    expect(v.locator(".typing")).to_be_visible()
    s.get_by_role("button", name="Send reply").click()
    expect(s.locator("#transcript .ev-staff_message .ev-body")).to_have_text(["Hi, Alice here"])
    expect(reply_box).to_have_value("")

    # 4. The widget shows "Alice joined the chat" and the reply.
    expect(v.locator(".sys", has_text="Alice joined the chat")).to_be_visible()
    expect(v.locator(".msg:not(.me) .bubble", has_text="Hi, Alice here")).to_be_visible()
    expect(v.locator(".msg:not(.me) .meta").last).to_contain_text("Alice")

    # 5. An internal note: in the staff transcript, never in the widget.
    s.get_by_label(re.compile("Internal note")).fill("VIP, be nice")
    s.get_by_role("button", name="Add note").click()
    expect(s.locator("#transcript .ev.internal .ev-body")).to_have_text(["VIP, be nice"])

    # 6. The visitor writes again: it arrives in the open conversation live.
    _visitor_says(visitor, "Great, thanks!")
    expect(s.locator("#transcript .ev-visitor_message .ev-body").last).to_have_text(
        "Great, thanks!"
    )

    # 7. Return to the assistant: the controls change for everyone, the widget is told.
    s.get_by_role("button", name="Return to assistant").click()
    expect(s.locator("#state")).to_have_text("The assistant is handling this chat.")
    expect(v.locator(".sys", has_text="Alice returned the chat to the assistant")).to_be_visible()
    assert "VIP, be nice" not in v.locator("#asthron-widget").evaluate(
        "host => host.shadowRoot.textContent"
    )

    s.screenshot(path=str(SCREENSHOT_DIR / "asthron-inbox-conversation.png"), full_page=True)
    assert not staff.dialogs and not visitor.dialogs
    assert not staff.errors, staff.errors


def test_a_second_member_is_told_who_owns_the_chat(
    server, host_site, make_site, open_page, make_user
):
    site = make_site(host_site.origin)
    visitor = open_page(host_site.page("/", site["key"]))
    v = visitor.page
    v.locator(".launcher").click()
    v.get_by_role("button", name="Got it").click()
    _visitor_says(visitor, "I need help")
    expect(v.locator(".msg.me .bubble")).to_have_text(["I need help"])

    alice = _log_in(open_page, server, make_user, "Alice")
    bob = _log_in(open_page, server, make_user, "Bob")
    for member in (alice, bob):
        member.page.goto(server + "/inbox")
        member.page.locator("#inbox-list tbody tr[data-conversation-id] a").click()
        expect(member.page.get_by_role("button", name="Join")).to_be_visible()
    alice.page.get_by_role("button", name="Join").click()
    expect(alice.page.locator("#state")).to_have_text("You are handling this chat.")
    # Bob's page learns it live (the "joined" event refreshes his controls)...
    expect(bob.page.locator("#state")).to_have_text("Alice is handling this chat.")
    # ...and he cannot reply; he may still leave a note.
    expect(bob.page.get_by_label("Reply to the visitor")).to_have_count(0)
    expect(bob.page.get_by_label(re.compile("Internal note"))).to_be_visible()
    assert not alice.errors and not bob.errors, alice.errors + bob.errors


def test_a_live_reply_shows_its_sources_and_can_be_marked_wrong(
    server, host_site, make_site, open_page, make_user, run_in_tm
):
    import sqlalchemy as sa

    from asthron.audit.service import Actor
    from asthron.knowledge import service as kb
    from asthron.knowledge.models import KnowledgeGap

    run_in_tm(
        lambda db: kb.create_article(
            db, Actor.cli(), kb.ArticleInput("Gift cards", "Gift cards cost 10 to 200.", [])
        )
    )
    site = make_site(host_site.origin)
    visitor = open_page(host_site.page("/", site["key"]))
    v = visitor.page
    v.locator(".launcher").click()
    v.get_by_role("button", name="Got it").click()
    _visitor_says(visitor, "hello")
    expect(v.locator(".msg:not(.me) .bubble")).to_have_count(1)

    staff = _log_in(open_page, server, make_user, "Bea")
    s = staff.page
    s.goto(server + "/inbox")
    s.locator("#inbox-list tbody tr[data-conversation-id]").get_by_role("link").click()
    expect(s.locator("#transcript .ev-assistant_message")).to_have_count(1)

    # A reply that arrives while the conversation is open is built by static/inbox.js.
    _visitor_says(visitor, "How much do gift cards cost?")
    live = s.locator("#transcript .ev-assistant_message").nth(1)
    expect(live.locator(".ev-sources")).to_have_text("Sources: Gift cards")
    live.get_by_role("button", name="Mark wrong").click()
    expect(s.locator("#transcript .ev-assistant_message").nth(1).locator(".ev-flag")).to_have_text(
        "Marked wrong"
    )
    gaps = run_in_tm(
        lambda db: [(g.question, g.reason) for g in db.scalars(sa.select(KnowledgeGap))]
    )
    assert ("How much do gift cards cost?", "marked_wrong") in gaps
    assert not staff.errors, staff.errors

"""The widget end to end in Chromium: chat, streaming, history, isolation, XSS, keyboard,
business hours, small screens and the long-polling fallback."""

from __future__ import annotations

import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import PRIVACY_NOTICE, SCREENSHOT_DIR, closed_days
from tests.conftest import REQUIRE_SERVICES

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture explains the skip
    if REQUIRE_SERVICES:
        raise
    pytest.skip("Playwright is not installed (pip install -e '.[dev]')", allow_module_level=True)

XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>"
# Counts streamed drafts (the provisional bubbles built from `delta` events) as they appear.
WATCH_DRAFTS = """root => {
    root.host.dataset.drafts = 0;
    new MutationObserver(records => records.forEach(r => r.addedNodes.forEach(n => {
        if (n.classList && n.classList.contains('prov')) root.host.dataset.drafts++;
    }))).observe(root.querySelector('.log'), {childList: true});
}"""


def bubbles(page, selector=".msg"):
    return page.shadow(
        "(root, sel) => [...root.querySelectorAll('.log ' + sel + ' .bubble')]"
        ".map(b => b.textContent)",
        selector,
    )


def accept_privacy(page):
    consent = page.page.locator(".consent")
    expect(consent).to_contain_text(PRIVACY_NOTICE)
    expect(consent.get_by_role("link", name="Privacy policy")).to_have_attribute(
        "href", "https://shop.example.com/privacy"
    )
    expect(page.page.locator(".composer")).to_be_hidden()
    page.page.get_by_role("button", name="Got it").click()
    expect(page.page.get_by_role("textbox", name="Message")).to_be_focused()


def test_chat_streams_replies_and_keeps_history(host_site, make_site, open_page, run_in_tm):
    site = make_site(host_site.origin)
    page = open_page(host_site.page("/", site["key"]))
    p = page.page
    launcher = p.locator(".launcher")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.click()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(p.locator(".title")).to_have_text("Acme Support")
    expect(p.locator(".log")).to_contain_text("Hi! How can we help?")
    accept_privacy(page)

    box = p.get_by_role("textbox", name="Message")
    box.fill("Hello there")
    box.press("Enter")
    expect(p.locator(".msg.me .bubble")).to_have_text(["Hello there"])
    replies = p.locator(".msg:not(.me):not(.prov)")
    expect(replies).to_have_count(2)  # the greeting and the built-in responder's reply
    expect(replies.nth(1).locator(".meta")).to_contain_text("Assistant")

    # The stream is open now: the next reply must arrive as deltas first.
    page.shadow(WATCH_DRAFTS)
    box.fill("Do you ship to Spain? See https://example.org/faq.")
    box.press("Enter")
    expect(replies).to_have_count(3)
    assert int(p.locator("#asthron-widget").get_attribute("data-drafts")) >= 1
    expect(p.locator(".prov")).to_have_count(0)
    link = p.locator(".msg.me .bubble a")
    expect(link).to_have_attribute("href", "https://example.org/faq")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(link).to_have_attribute("target", "_blank")
    times = p.locator(".msg.me time")
    expect(times).to_have_count(2)
    sent_at = dt.datetime.fromisoformat(
        times.first.get_attribute("datetime").replace("Z", "+00:00")
    )
    local = sent_at.astimezone(ZoneInfo("Europe/Madrid"))
    clock = rf"^{local.hour % 12 or 12}:{local.minute:02d}\s?{local.strftime('%p')}$"
    expect(times.first).to_have_text(re.compile(clock))  # in the visitor's time zone
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(SCREENSHOT_DIR / "asthron-widget.png"))

    stored = p.evaluate(f"() => JSON.parse(localStorage.getItem('asthron:{site['key']}'))")
    assert len(stored["t"]) >= 20 and stored["ok"] == 1 and stored["c"]

    # A reload brings the same conversation back, once, without asking for consent again.
    p.reload()
    launcher.click()
    expect(p.locator(".msg.me .bubble")).to_have_count(2)
    visitor_side = bubbles(page, ".me")
    assert visitor_side == ["Hello there", "Do you ship to Spain? See https://example.org/faq."]
    assert len(bubbles(page)) == 5  # greeting + 2 + 2
    expect(p.locator(".consent")).to_be_hidden()
    expect(p.get_by_role("textbox", name="Message")).to_be_focused()
    assert not page.dialogs and not page.errors

    def visitor_zone(db):
        from asthron.conversations.models import Visitor

        return [v.timezone for v in db.query(Visitor)]

    assert run_in_tm(visitor_zone) == ["Europe/Madrid"]


def test_hostile_page_css_and_html_payloads_change_nothing(host_site, make_site, open_page):
    site = make_site(host_site.origin)
    page = open_page(host_site.page("/", site["key"], hostile=True))
    p = page.page
    styles = page.shadow(
        """root => {
            const s = getComputedStyle(root.querySelector('.launcher'));
            const host = getComputedStyle(root.host);
            return {width: s.width, height: s.height, bg: s.backgroundColor, color: s.color,
                    position: s.position, radius: s.borderRadius, hostColor: host.color,
                    hostDisplay: host.display};
        }"""
    )
    assert styles == {
        "width": "60px",
        "height": "60px",
        "bg": "rgb(15, 118, 110)",  # the site's accent colour
        "color": "rgb(255, 255, 255)",
        "position": "fixed",
        "radius": "50%",
        "hostColor": "rgb(0, 0, 0)",  # not the page's red
        "hostDisplay": "block",
    }
    box = p.locator(".launcher").bounding_box()
    assert box["width"] == 60 and box["x"] > 1100  # bottom right, its own size
    p.locator(".launcher").click()
    accept_privacy(page)
    panel = page.shadow(
        """root => {
            const panel = getComputedStyle(root.querySelector('.panel'));
            const title = getComputedStyle(root.querySelector('.title'));
            return [panel.width, panel.backgroundColor, title.color, title.fontSize];
        }"""
    )
    assert panel == ["376px", "rgb(255, 255, 255)", "rgb(255, 255, 255)", "17px"]

    box = p.get_by_role("textbox", name="Message")
    box.fill(XSS)
    box.press("Enter")
    expect(p.locator(".msg:not(.me):not(.prov)")).to_have_count(2)
    p.screenshot(path=str(SCREENSHOT_DIR / "asthron-widget-hostile.png"))
    p.reload()
    p.locator(".launcher").click()
    expect(p.locator(".msg.me .bubble")).to_have_text([XSS])  # from history, as literal text
    counts = page.shadow(
        "root => [root.querySelectorAll('img, script').length,"
        " document.querySelectorAll('img').length]"
    )
    assert counts == [0, 0]
    assert page.dialogs == []
    assert not page.errors

    # The page gains one global, window.Asthron, and it works.
    other = open_page(host_site.page("/bare", None), widget=False)
    before = set(other.page.evaluate("() => Object.getOwnPropertyNames(window)"))
    after = set(p.evaluate("() => Object.getOwnPropertyNames(window)"))
    assert after - before == {"Asthron"}
    p.evaluate("() => Asthron.close()")
    expect(p.locator(".panel")).to_be_hidden()
    p.evaluate("() => Asthron.open()")
    expect(p.locator(".panel")).to_be_visible()


def test_keyboard_only_and_unread_badge(host_site, make_site, open_page, run_in_tm):
    site = make_site(host_site.origin, position="left")
    page = open_page(host_site.page("/", site["key"]))
    p = page.page
    focused = (
        "() => document.activeElement.id === 'asthron-widget' && "
        "document.activeElement.shadowRoot.activeElement.classList.contains('launcher')"
    )
    for _ in range(8):
        p.keyboard.press("Tab")
        if p.evaluate(focused):
            break
    assert p.evaluate(focused), "Tab never reached the launcher"
    assert p.locator(".launcher").bounding_box()["x"] < 100  # position: left
    p.keyboard.press("Enter")
    expect(p.locator(".launcher")).to_have_attribute("aria-expanded", "true")
    expect(p.get_by_role("button", name="Got it")).to_be_focused()
    p.keyboard.press("Enter")
    expect(p.get_by_role("textbox", name="Message")).to_be_focused()
    p.keyboard.type("First line")
    p.keyboard.press("Shift+Enter")
    p.keyboard.type("second line")
    p.keyboard.press("Enter")
    expect(p.locator(".msg.me .bubble")).to_have_text(["First line\nsecond line"])
    expect(p.locator(".msg.me time")).to_have_count(1)
    expect(p.locator(".msg:not(.me):not(.prov)")).to_have_count(2)  # the reply is in
    expect(p.get_by_role("textbox", name="Message")).to_have_value("")
    expect(p.locator("[role=log]")).to_have_attribute("aria-live", "polite")
    p.keyboard.press("Escape")
    expect(p.locator(".panel")).to_be_hidden()
    expect(p.locator(".launcher")).to_have_attribute("aria-expanded", "false")
    expect(p.locator(".launcher")).to_be_focused()

    # Something happens while the panel is closed: a badge counts it.
    conversation_id = p.evaluate(
        f"() => JSON.parse(localStorage.getItem('asthron:{site['key']}')).c"
    )

    def someone_joins(db):
        from asthron.conversations import service
        from asthron.conversations.models import Conversation

        conversation = db.get(Conversation, conversation_id)
        return service.append_event(
            db, conversation, "system", "Alice joined the chat", author_name="System"
        ).id

    joined_id = run_in_tm(someone_joins)
    expect(p.locator(".badge")).to_have_text("1")
    expect(p.locator(".launcher")).to_have_attribute("aria-label", "Open chat (1 new messages)")
    # Reopening by keyboard lands in the composer straight away, and marks everything read.
    read_path = f"/conversations/{conversation_id}/read"
    with p.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith(read_path)
    ) as marked:
        p.keyboard.press("Enter")
        expect(p.get_by_role("textbox", name="Message")).to_be_focused()
        expect(p.locator(".badge")).to_be_hidden()
        system = p.locator(".sys")
        expect(system).to_have_text("Alice joined the chat")
        expect(system).to_have_css("text-align", "center")
    assert marked.value.ok, marked.value.status

    def read_up_to(db):
        from asthron.conversations.models import Conversation

        return db.get(Conversation, conversation_id).visitor_read_event_id

    assert run_in_tm(read_up_to) == joined_id


def test_closed_hours_offer_a_message_form(host_site, make_site, open_page, run_in_tm):
    week = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    site = make_site(host_site.origin, business_hours=week, holidays=closed_days())
    page = open_page(host_site.page("/", site["key"]), timezone_id="America/New_York")
    p = page.page
    p.locator(".launcher").click()
    reopen = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)
    local = dt.datetime(reopen.year, reopen.month, reopen.day, 9, tzinfo=dt.UTC).astimezone(
        ZoneInfo("America/New_York")
    )
    banner = p.locator(".closed")
    expect(banner).to_contain_text("We're closed right now. We'll reply from ")
    expect(banner).to_contain_text(local.strftime("%A"))
    expect(banner).to_contain_text(f"{local.hour % 12 or 12}:00")
    expect(banner.get_by_role("button", name="Leave a message")).to_be_hidden()  # consent first
    accept_privacy(page)
    banner.get_by_role("button", name="Leave a message").click()
    expect(p.get_by_role("textbox", name="Name")).to_be_focused()
    p.get_by_role("textbox", name="Name").fill("Ada Lovelace")
    p.get_by_role("textbox", name="Email").fill("ada@example.com")
    p.locator(".offline").get_by_role("textbox", name="Message").fill("Please call me back.")
    p.locator(".offline").get_by_role("button", name="Send").click()
    expect(p.locator(".done")).to_have_text("Thanks! We'll reply by email.")
    done = p.locator(".offline", has=p.locator(".done"))
    done.get_by_role("button", name="Back to chat").click()
    expect(p.locator(".msg.me .bubble")).to_have_text(["Please call me back."])

    def stored(db):
        from asthron.conversations.models import Conversation, Visitor

        visitor = db.query(Visitor).one()
        conversation = db.query(Conversation).one()
        return visitor.email, visitor.name, conversation.owner

    assert run_in_tm(stored) == ("ada@example.com", "Ada Lovelace", "waiting")
    assert not page.errors


def test_small_screen_full_screen_panel_in_spanish(host_site, make_site, open_page):
    site = make_site(host_site.origin, language="es")
    page = open_page(
        host_site.page("/", site["key"]),
        viewport={"width": 360, "height": 640},
        reduced_motion="reduce",
    )
    p = page.page
    launcher = p.locator(".launcher")
    expect(launcher).to_have_attribute("aria-label", "Abrir el chat")
    launcher.click()
    box = p.locator(".panel").bounding_box()
    assert box == {"x": 0, "y": 0, "width": 360, "height": 640}
    expect(p.get_by_role("button", name="Entendido")).to_be_visible()
    expect(p.get_by_role("link", name="Política de privacidad")).to_have_attribute(
        "href", "https://shop.example.com/privacy"
    )
    p.get_by_role("button", name="Entendido").click()
    expect(p.locator("textarea[placeholder='Escribe tu mensaje…']")).to_be_focused()
    p.get_by_role("button", name="Cerrar el chat").click()
    expect(p.locator(".panel")).to_be_hidden()
    expect(launcher).to_be_visible()


def test_long_polling_when_streams_are_refused(host_site, make_site, open_page):
    site = make_site(host_site.origin)
    page = open_page(host_site.page("/", site["key"]))
    p = page.page
    refused = []

    def refuse(route):
        refused.append(route.request.url)
        route.fulfill(
            status=429,
            headers={
                "Access-Control-Allow-Origin": host_site.origin,
                "Content-Type": "application/json",
            },
            body=json.dumps({"error": {"code": "too_many_streams", "message": "Too many"}}),
        )

    p.route(lambda url: "/stream?" in url, refuse)
    polls = []
    p.on("request", lambda r: polls.append(r.url) if "wait=25" in r.url else None)
    p.locator(".launcher").click()
    accept_privacy(page)
    box = p.get_by_role("textbox", name="Message")
    box.fill("Anyone there?")
    box.press("Enter")
    expect(p.locator(".msg:not(.me):not(.prov)")).to_have_count(2)
    assert refused and polls
    assert not page.errors or all("429" in e for e in page.errors)


def test_retry_after_a_lost_response_stores_the_message_once(
    host_site, make_site, open_page, run_in_tm
):
    site = make_site(host_site.origin)
    page = open_page(host_site.page("/", site["key"]))
    p = page.page
    # No live updates, and the first send reaches the server but its response is lost.
    p.route(lambda url: "/stream?" in url or "/events?" in url, lambda route: route.abort())
    client_ids = []

    def lose_response(route):
        client_ids.append(json.loads(route.request.post_data)["client_id"])
        route.fetch()
        route.abort()

    p.route(lambda url: url.endswith("/messages"), lose_response)
    p.locator(".launcher").click()
    accept_privacy(page)
    box = p.get_by_role("textbox", name="Message")
    box.fill("Is the blue teapot in stock?")
    box.press("Enter")
    retry = p.get_by_role("button", name="Not sent. Retry")
    expect(retry).to_be_visible()
    p.unroute(lambda url: url.endswith("/messages"))
    p.unroute_all()
    retry.click()
    expect(retry).to_have_count(0)
    expect(p.locator(".msg.me time")).to_have_count(1)
    expect(p.locator(".msg.me .bubble")).to_have_text(["Is the blue teapot in stock?"])

    def visitor_messages(db):
        from asthron.conversations.models import ConversationEvent

        rows = db.query(ConversationEvent).filter_by(type="visitor_message").all()
        return [(e.body, e.client_id) for e in rows]

    assert run_in_tm(visitor_messages) == [("Is the blue teapot in stock?", client_ids[0])]

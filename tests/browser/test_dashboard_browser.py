"""The dashboard in Chromium: the home checklist, the grouped menu (current page, the inbox
badge), the phone menu and phone-width layouts, the dark theme (the system's preference and
the user's override) and an invitation without email showing its link."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import SCREENSHOT_DIR
from tests.conftest import PASSWORDS, REQUIRE_SERVICES

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture explains the skip
    if REQUIRE_SERVICES:
        raise
    pytest.skip("Playwright is not installed (pip install -e '.[dev]')", allow_module_level=True)

PHONE = {"width": 375, "height": 740}
LIGHT_BG = "rgb(246, 247, 249)"
DARK_BG = "rgb(17, 19, 24)"


def log_in(open_page, server, user, **context):
    page = open_page(server + "/login", widget=False, **context)
    p = page.page
    p.get_by_label("Email").fill(user["email"])
    p.get_by_label("Password").fill(PASSWORDS[user["role"]])
    p.get_by_role("button", name="Log in").click()
    expect(p.locator(".topbar")).to_be_visible()
    return page


@pytest.fixture
def world(make_site, make_visitor, run_in_tm, testapp):
    """A site with one chat waiting for a person and one lead-free chat."""
    from asthron.conversations import handoff
    from asthron.conversations.models import Conversation
    from tests.fixtures.visitors import ORIGIN

    site = make_site(ORIGIN, name="Acme")
    waiting = make_visitor(site)
    conversation = waiting.open()
    waiting.send(conversation["id"], "I want to talk to a person")
    make_visitor(site).open()

    def hand_off(db):
        row = db.get(Conversation, conversation["id"])
        if row.owner != "waiting":
            handoff.request_handoff(db, row, "visitor", "asked for a person")

    run_in_tm(hand_off)
    return {"site": site, "conversation": conversation["id"]}


def test_home_checklist_menu_and_badge(server, world, open_page, make_user, registry):
    registry["navigation"].badges.clear()
    page = log_in(open_page, server, make_user("owner"))
    p = page.page
    checklist = p.locator(".checklist")
    expect(checklist.locator("li")).to_have_count(6)
    expect(checklist.locator("li.done")).to_have_count(1)  # only the install
    expect(checklist.locator('li[data-step="install"]')).to_have_class(re.compile("done"))
    expect(p.get_by_text("We saw the widget load on Acme's website.")).to_be_visible()
    # Each step goes to the page that does it.
    checklist.locator('li[data-step="email"]').get_by_role("link").click()
    expect(p).to_have_url(server + "/integrations/email")
    expect(p.locator("nav.side a[aria-current=page]")).to_have_text("Email")
    # The inbox's waiting badge is on every page.
    badge = p.locator("nav.side").get_by_role("link", name=re.compile("^Inbox"))
    expect(badge.locator(".badge")).to_have_text("1")
    p.locator("nav.side").get_by_role("link", name=re.compile("^Inbox")).click()
    expect(p.locator("nav.side a[aria-current=page]")).to_contain_text("Inbox")
    p.goto(server + f"/inbox/{world['conversation']}")
    expect(p.locator("nav.side a[aria-current=page]")).to_contain_text("Inbox")
    p.goto(server + "/")
    expect(p.locator(".stat[data-stat=waiting] dd")).to_have_text("1")
    expect(p.locator(".stat[data-stat=conversations] dd")).to_have_text("2")
    expect(p.locator(".chart svg").first).to_be_visible()
    assert not page.errors, page.errors  # no CSP violation, no script error
    p.screenshot(path=str(SCREENSHOT_DIR / "dashboard-home.png"), full_page=True)


MAIN_PAGES = [
    "/",
    "/inbox",
    "/inbox/{conversation}",
    "/leads",
    "/leads/settings",
    "/bookings",
    "/knowledge",
    "/knowledge/new",
    "/sites",
    "/sites/{site}",
    "/assistant",
    "/integrations/ai",
    "/integrations/email",
    "/team",
    "/integrations/webhooks",
    "/privacy",
    "/usage",
    "/audit",
    "/account/sessions",
    "/account/password",
]


def test_every_main_page_fits_a_phone(server, world, open_page, make_user):
    page = log_in(open_page, server, make_user("owner"), viewport=PHONE)
    p = page.page
    spills = {}
    for template in MAIN_PAGES:
        path = template.format(conversation=world["conversation"], site=world["site"]["id"])
        response = p.goto(server + path)
        assert response.status == 200, path
        widths = p.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
        if widths[0] > widths[1]:
            spills[path] = widths
    assert spills == {}
    # On a phone the menu is a <details> disclosure: closed, then open, without JavaScript.
    p.goto(server + "/")
    expect(p.locator("nav.side")).to_be_hidden()
    menu = p.locator("details.menu")
    expect(menu.locator("nav")).to_be_hidden()
    expect(menu.locator("summary .badge")).to_have_text("1")
    menu.locator("summary").click()
    expect(menu.get_by_role("link", name="Knowledge")).to_be_visible()
    expect(menu.locator("a[aria-current=page]")).to_have_text("Home")
    p.screenshot(path=str(SCREENSHOT_DIR / "dashboard-home-phone.png"), full_page=True)


def test_the_menu_works_without_javascript(server, world, open_page, make_user):
    page = log_in(open_page, server, make_user("owner"), viewport=PHONE)
    context = page.page.context
    cookies = context.cookies()
    p = open_page(server + "/login", widget=False, viewport=PHONE, java_script_enabled=False).page
    p.context.add_cookies(cookies)
    p.goto(server + "/knowledge")
    p.locator("details.menu summary").click()
    p.locator("details.menu").get_by_role("link", name="Team").click()
    expect(p).to_have_url(server + "/team")


def body_background(p) -> str:
    return p.evaluate("getComputedStyle(document.body).backgroundColor")


def test_dark_theme_follows_the_system_and_the_users_choice(server, open_page, make_user):
    owner = make_user("owner")
    dark = log_in(open_page, server, owner, color_scheme="dark").page
    assert body_background(dark) == DARK_BG
    dark.screenshot(path=str(SCREENSHOT_DIR / "dashboard-home-dark.png"), full_page=True)
    light = log_in(open_page, server, owner, color_scheme="light").page
    assert body_background(light) == LIGHT_BG

    # The user's override wins over the system's preference.
    light.goto(server + "/account/sessions")
    light.get_by_label("Dark").check()
    light.get_by_role("button", name="Save theme").click()
    expect(light.locator("html")).to_have_attribute("data-theme", "dark")
    assert body_background(light) == DARK_BG
    dark.goto(server + "/account/sessions")
    dark.get_by_label("Light").check()
    # The save is a form post: wait for the page it leads to before reading its style.
    with dark.expect_navigation():
        dark.get_by_role("button", name="Save theme").click()
    assert body_background(dark) == LIGHT_BG
    dark.get_by_label("Automatic (as your device prefers)").check()
    with dark.expect_navigation():
        dark.get_by_role("button", name="Save theme").click()
    assert body_background(dark) == DARK_BG


def test_inviting_without_email_shows_a_copyable_link(server, open_page, make_user):
    page = log_in(open_page, server, make_user("owner"))
    p = page.page
    p.goto(server + "/team")
    p.get_by_label("Email", exact=True).fill("helper@example.com")
    p.get_by_role("button", name="Create invitation link").click()
    result = p.locator(".invite-result")
    expect(result).to_contain_text("No email was sent to helper@example.com")
    expect(p.get_by_text("The invitation was sent")).to_have_count(0)
    link = p.locator("#invite-link").input_value()
    assert link.startswith(server + "/invitations/")
    copy = result.locator("button[data-copy]")
    expect(copy).to_have_text("Copy link")
    expect(copy).to_be_visible()  # shown only where JavaScript can copy
    copy.click()
    expect(copy).to_have_text("Copied")
    # The link is selected in its field, ready for Ctrl+C where the clipboard is refused.
    assert p.evaluate("document.activeElement.id") == "invite-link"
    assert not page.errors, page.errors

    newcomer = open_page(link, widget=False).page
    expect(newcomer.get_by_text("helper@example.com")).to_be_visible()

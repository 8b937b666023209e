"""The widget editor in Chromium: the Websites page, the site's page with the live preview
(the real widget.js in a sandboxed frame, redrawn as the owner types), the weekly hours grid
saved and shown again, the snippet's copy button, and the page at phone width."""

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

LONG_TITLE = "Chat with Dana's Flower Shop & Garden Centre"


def log_in(open_page, server, make_user, **context):
    user = make_user("admin", name="Ada Admin")
    page = open_page(server + "/login", widget=False, **context)
    p = page.page
    p.get_by_label("Email").fill(user["email"])
    p.get_by_label("Password").fill(PASSWORDS["admin"])
    p.get_by_role("button", name="Log in").click()
    expect(p.locator(".topbar")).to_contain_text("Ada Admin")
    page.errors.clear()  # the login page's /favicon.ico 404
    return page


def test_websites_page_and_live_preview(server, make_site, make_user, open_page, run_in_tm):
    site = make_site("https://shop.example.com")
    page = log_in(open_page, server, make_user)
    p = page.page
    p.get_by_role("navigation", name="Main").get_by_role("link", name="Websites").click()
    expect(p.get_by_role("heading", name="Websites")).to_be_visible()
    card = p.locator(".site-card")
    expect(card).to_contain_text("Acme Shop")
    expect(card).to_contain_text("https://shop.example.com")
    card.get_by_role("link", name="Edit the widget").click()

    # The preview is the real widget, open, with the saved settings.
    frame = p.frame_locator("#widget-preview")
    expect(frame.locator(".title")).to_have_text("Acme Support")
    # A retrying assertion: the preview redraws the widget as the form settles, and a style
    # read from a node it has just replaced comes back empty.
    expect(frame.locator(".head")).to_have_css("background-color", "rgb(15, 118, 110)")

    # Each change redraws it, before anything is saved.
    p.get_by_label("Title", exact=True).fill(LONG_TITLE)
    expect(frame.locator(".title")).to_have_text(LONG_TITLE)
    p.locator("input[name=accent_color]").fill("#aa3300")
    expect(frame.locator(".head")).to_have_css("background-color", "rgb(170, 51, 0)")
    p.get_by_label("Launcher text").fill("Questions?")
    expect(frame.locator(".launcher")).to_contain_text("Questions?")
    p.get_by_label("Usually replies in").fill("a few minutes")
    expect(frame.locator(".sub")).to_have_text("Usually replies in a few minutes")
    p.get_by_label("Greeting").fill("Hello <b>there</b>")
    expect(frame.locator(".msg .bubble").first).to_have_text("Hello <b>there</b>")  # as text
    p.get_by_label("Bottom left").check()
    expect(frame.locator(".w")).to_have_class(re.compile(r"\bleft\b"))
    p.get_by_label("Theme").select_option("dark")
    expect(frame.locator(".panel")).to_have_css("background-color", "rgb(28, 32, 42)")

    # The long title wraps in full: no "Chat with D…" ellipsis.
    fits = frame.locator(".title").evaluate(
        "el => el.scrollWidth <= el.clientWidth && getComputedStyle(el).textOverflow !== 'ellipsis'"
    )
    assert fits

    p.get_by_role("button", name="Save", exact=True).click()
    expect(p.locator(".notice")).to_have_text("The site was saved.")

    def saved(db):
        from asthron.sites.models import Site

        s = db.get(Site, site["id"])
        return (s.title, s.accent_color, s.launcher_text, s.reply_time, s.position, s.theme)

    assert run_in_tm(saved) == (
        LONG_TITLE,
        "#aa3300",
        "Questions?",
        "a few minutes",
        "left",
        "dark",
    )
    expect(frame.locator(".title")).to_have_text(LONG_TITLE)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(SCREENSHOT_DIR / "asthron-site-editor.png"), full_page=True)
    assert not page.errors, page.errors
    assert not page.dialogs


def test_hours_grid_round_trip(server, make_site, make_user, open_page, run_in_tm):
    site = make_site("https://shop.example.com")
    page = log_in(open_page, server, make_user)
    p = page.page
    p.goto(f"{server}/sites/{site['id']}")
    # No hours yet: "Always open", with weekdays 9 to 5 offered as a start.
    expect(p.get_by_label("Always open")).to_be_checked()
    expect(p.get_by_label("Open on Monday")).to_be_checked()
    expect(p.get_by_label("Open on Saturday")).not_to_be_checked()

    p.get_by_label("Open on these hours").check()
    p.get_by_label("Monday: opens", exact=True).fill("08:30")
    p.get_by_label("Monday: closes", exact=True).fill("12:00")
    expect(p.get_by_label("Monday after break 1: opens")).to_be_hidden()  # until asked for
    p.get_by_role("button", name="Add a break on Monday").click()
    expect(p.get_by_label("Monday after break 1: opens")).to_be_focused()
    p.get_by_label("Monday after break 1: opens").fill("13:00")
    p.get_by_label("Monday after break 1: closes").fill("17:30")
    p.get_by_role("button", name="Copy Monday to Tuesday–Friday").click()
    expect(p.get_by_label("Thursday after break 1: closes")).to_have_value("17:30")
    p.get_by_label("Open on Friday").uncheck()
    p.get_by_label("Open on Saturday").check()  # no times: open all day
    p.get_by_label("Add a holiday").fill("2026-12-25")
    p.get_by_role("button", name="Add", exact=True).click()
    expect(p.get_by_label("Holidays: closed all day")).to_have_value("2026-12-25")
    p.get_by_role("button", name="Save", exact=True).click()
    expect(p.locator(".notice")).to_have_text("The site was saved.")

    def hours(db):
        from asthron.sites.models import Site

        s = db.get(Site, site["id"])
        return s.business_hours, s.holidays

    week = [["08:30", "12:00"], ["13:00", "17:30"]]
    assert run_in_tm(hours) == (
        {"mon": week, "tue": week, "wed": week, "thu": week, "sat": [["00:00", "24:00"]]},
        ["2026-12-25"],
    )
    # Shown again as saved.
    expect(p.get_by_label("Open on these hours")).to_be_checked()
    expect(p.get_by_label("Wednesday after break 1: opens")).to_have_value("13:00")
    expect(p.get_by_label("Open on Friday")).not_to_be_checked()
    expect(p.get_by_label("Open on Saturday")).to_be_checked()
    expect(p.get_by_label("Saturday: opens", exact=True)).to_have_value("")

    # A half-filled range is refused with the form as it was typed.
    p.get_by_label("Sunday: opens", exact=True).fill("10:00")
    p.get_by_label("Open on Sunday").check()
    p.get_by_role("button", name="Save", exact=True).click()
    expect(p.locator(".error")).to_have_text("Sunday: give each range a start and an end.")
    expect(p.get_by_label("Sunday: opens", exact=True)).to_have_value("10:00")
    assert run_in_tm(hours)[0]["mon"] == week
    assert not [e for e in page.errors if "400" not in e], page.errors


def test_snippet_copy_button(server, make_site, make_user, open_page):
    site = make_site("https://shop.example.com")
    page = log_in(open_page, server, make_user, permissions=["clipboard-read", "clipboard-write"])
    p = page.page
    p.goto(f"{server}/sites/{site['id']}#install")
    install = p.locator("#install")
    code = install.locator("#snippet-code")
    expect(code).to_have_text(
        re.compile(f'^<script src="[^"]+/widget.js" data-site="{site["key"]}"')
    )
    snippet = code.inner_text()
    for platform in ("Plain HTML", "WordPress", "Shopify"):
        expect(install.locator("summary", has_text=platform)).to_be_visible()
    install.get_by_role("button", name="Copy snippet").click()
    expect(install.get_by_role("status")).to_have_text("Copied.")
    assert p.evaluate("() => navigator.clipboard.readText()") == snippet


def test_editor_fits_a_phone(server, make_site, make_user, open_page):
    site = make_site("https://shop.example.com")
    page = log_in(open_page, server, make_user, viewport={"width": 390, "height": 844})
    p = page.page
    p.goto(f"{server}/sites/{site['id']}")
    frame = p.frame_locator("#widget-preview")
    expect(frame.locator(".title")).to_have_text("Acme Support")
    # Nothing in the editor reaches past the screen's right edge (the preview comes first).
    overflow = p.evaluate(
        """() => [...document.querySelectorAll(
                '.editor input, .editor select, .editor textarea, .editor iframe, '
                + '.editor button, .install pre')]
            .filter(el => el.getClientRects().length && el.type !== 'hidden')
            .filter(el => el.getBoundingClientRect().right > window.innerWidth + 0.5)
            .map(el => el.name || el.id || el.tagName)"""
    )
    assert overflow == []
    preview_top = p.locator("#widget-preview").bounding_box()["y"]
    assert preview_top < p.get_by_label("Title", exact=True).bounding_box()["y"]
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(SCREENSHOT_DIR / "asthron-site-editor-phone.png"), full_page=True)

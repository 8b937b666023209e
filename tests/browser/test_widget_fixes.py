"""Widget fixes from the editor work, in Chromium: a long title wraps instead of turning into
"Chat with D…", "Leave my details" shows once, the lead form scrolls into view, a finished
lead card reloads without the word "null", and the dark theme (the visitor's system setting,
or the owner's choice)."""

from __future__ import annotations

import pytest

from tests.browser.test_widget_handoff_cards import say
from tests.conftest import REQUIRE_SERVICES

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture explains the skip
    if REQUIRE_SERVICES:
        raise
    pytest.skip("Playwright is not installed (pip install -e '.[dev]')", allow_module_level=True)

LONG_TITLE = "Chat with Dana's Flower Shop & Garden Centre"
LIGHT_PANEL, DARK_PANEL = "rgb(255, 255, 255)", "rgb(28, 32, 42)"


def test_long_title_is_never_truncated(host_site, make_site, open_page):
    for width in (1280, 390):
        site = make_site(host_site.origin, name=f"Dana {width}", title=LONG_TITLE)
        page = open_page(
            host_site.page(f"/t{width}", site["key"]), viewport={"width": width, "height": 800}
        )
        p = page.page
        p.locator(".launcher").click()
        p.get_by_role("button", name="Got it").click()
        title = p.locator(".title")
        expect(title).to_have_text(LONG_TITLE)
        assert title.evaluate("el => el.scrollWidth <= el.clientWidth")
        assert title.evaluate("el => getComputedStyle(el).textOverflow") != "ellipsis"
        # "Talk to a person" does not share the title's line. It appears once the consent
        # ("Got it") has been recorded, which is a request: wait for it.
        expect(p.locator(".hb")).to_be_visible()
        talk = p.locator(".hb").bounding_box()
        assert talk["y"] >= title.bounding_box()["y"] + title.bounding_box()["height"] - 1


def test_lead_card_reloads_without_null_and_leave_details_shows_once(
    host_site, make_site, open_page
):
    site = make_site(host_site.origin)
    # A short window, so that the chat's log scrolls.
    page = open_page(host_site.page("/", site["key"]), viewport={"width": 1280, "height": 520})
    p = page.page
    p.locator(".launcher").click()
    p.get_by_role("button", name="Got it").click()
    say(page, "Do you ship teapots abroad? We are in Lisbon and need two of them.", 2)
    assert p.locator(".scroll").evaluate("el => el.scrollHeight > el.clientHeight")
    p.locator(".scroll").evaluate("el => el.scrollTop = 0")  # the visitor scrolled back up
    p.get_by_role("button", name="Leave my details").click()
    card = p.locator(".card")
    expect(card.get_by_label("Name")).to_be_focused()
    # The card is in view inside the chat's scrolling area: all of it, or from its top.
    inside = p.evaluate(
        """() => {
            const root = document.getElementById('asthron-widget').shadowRoot;
            const box = root.querySelector('.scroll').getBoundingClientRect();
            const card = root.querySelector('.card').getBoundingClientRect();
            // All of it, or from its top when it is taller than the log.
            return card.top >= box.top - 1 && (card.bottom <= box.bottom + 1 || card.top <= box.top + 20);
        }"""
    )
    assert inside
    card.get_by_label("Name").fill("Ada Lovelace")
    card.get_by_label("Email").fill("ada@example.com")
    card.get_by_role("button", name="Send details").click()
    expect(card).to_contain_text("Details sent")

    p.reload()
    p.locator(".launcher").click()
    done = p.locator(".card.done")
    expect(done).to_contain_text("Details sent")
    assert "null" not in done.inner_text()
    assert "null" not in p.locator(".log").inner_text()

    # Asking for a person (nobody is online): the request for details carries the one button.
    p.get_by_role("button", name="Talk to a person").click()
    expect(p.locator(".sys", has_text="Leave my details").first).to_be_visible()
    expect(p.get_by_role("button", name="Leave my details")).to_have_count(1)
    assert not [e for e in page.errors if "422" not in e]


@pytest.mark.parametrize(
    ("theme", "scheme", "panel"),
    [
        ("auto", "light", LIGHT_PANEL),
        ("auto", "dark", DARK_PANEL),
        ("dark", "light", DARK_PANEL),
        ("light", "dark", LIGHT_PANEL),
    ],
)
def test_theme_follows_the_system_unless_the_owner_chose(
    host_site, make_site, open_page, theme, scheme, panel
):
    site = make_site(host_site.origin, theme=theme, greeting="Hello <img src=x onerror=alert(1)>")
    page = open_page(host_site.page("/", site["key"]), color_scheme=scheme)
    p = page.page
    p.locator(".launcher").click()
    expect(p.locator(".panel")).to_have_css("background-color", panel)
    expect(p.locator(".msg .bubble").first).to_have_text("Hello <img src=x onerror=alert(1)>")
    expect(p.locator(".msg img")).to_have_count(0)
    # Retrying, as a one-shot read of a node the widget has just redrawn comes back empty.
    text = "rgb(231, 233, 239)" if panel == DARK_PANEL else "rgb(29, 34, 48)"
    expect(p.locator(".msg .bubble").first).to_have_css("color", text)
    assert not page.dialogs

"""axe-core (vendored: tests/browser/vendor, never downloaded at test time) finds no serious
or critical accessibility violations on the home page, the site editor and the widget, in the
light and the dark theme."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.test_site_editor import log_in
from tests.browser.test_widget import accept_privacy
from tests.conftest import REQUIRE_SERVICES

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture explains the skip
    if REQUIRE_SERVICES:
        raise
    pytest.skip("Playwright is not installed (pip install -e '.[dev]')", allow_module_level=True)

AXE = Path(__file__).parent / "vendor" / "axe.min.js"


def serious_violations(page) -> list[str]:
    """axe's serious and critical findings on the page (its own frames excluded: the editor's
    preview is checked on a page of its own, as the widget)."""
    page.add_script_tag(path=str(AXE))
    results = page.evaluate(
        "() => axe.run(document, {iframes: false, resultTypes: ['violations']})"
    )
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:5]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_home_and_site_editor(server, make_site, make_user, open_page, scheme):
    site = make_site("https://shop.example.com")
    # The dashboard's strict CSP would refuse the injected axe script.
    page = log_in(
        open_page, server, make_user, bypass_csp=True, color_scheme=scheme, reduced_motion="reduce"
    )
    p = page.page
    p.goto(server + "/")
    assert serious_violations(p) == []
    p.goto(f"{server}/sites/{site['id']}")
    expect(p.frame_locator("#widget-preview").locator(".title")).to_have_text("Acme Support")
    assert serious_violations(p) == []
    p.goto(f"{server}/sites")
    assert serious_violations(p) == []


@pytest.mark.parametrize(
    ("theme", "scheme"), [("auto", "light"), ("auto", "dark"), ("dark", "light"), ("light", "dark")]
)
def test_widget(host_site, make_site, open_page, theme, scheme):
    site = make_site(host_site.origin, theme=theme, launcher_text="Chat", reply_time="an hour")
    # No motion: axe would measure the panel's colours half-way through its fade-in.
    page = open_page(
        host_site.page("/", site["key"]),
        bypass_csp=True,
        color_scheme=scheme,
        reduced_motion="reduce",
    )
    p = page.page
    assert serious_violations(p) == []  # closed: the launcher alone
    p.locator(".launcher").click()
    assert serious_violations(p) == []  # the privacy notice
    accept_privacy(page)
    p.get_by_role("button", name="Leave my details").click()
    expect(p.locator(".card").get_by_label("Name")).to_be_focused()
    assert serious_violations(p) == []  # the chat with a lead form


def test_the_check_can_fail(browser):
    """A page with an unlabelled image and unreadable text: axe reports both."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(
            '<!doctype html><html lang="en"><title>Bad</title><main><img src="x.png">'
            '<p class="faint">Faint</p></main>'
        )
        page.add_style_tag(content=".faint { color: #eee; background: #fff }")
        found = serious_violations(page)
    finally:
        context.close()
    assert any(v.startswith("image-alt (critical)") for v in found), found
    assert any(v.startswith("color-contrast (serious)") for v in found), found

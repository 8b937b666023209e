"""Screenshots for docs/screenshots (run by scripts/screenshots, not by the test suite: the
file name does not start with test_). Every main dashboard page and the widget, at desktop
and phone width, light and dark."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.test_site_editor import log_in
from tests.browser.test_widget_handoff_cards import say, start_chat

OUT = os.environ.get("ASTHRON_SCREENSHOTS_OUT")
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
PAGES = {
    "home": "/",
    "inbox": "/inbox",
    "leads": "/leads",
    "knowledge": "/knowledge",
    "websites": "/sites",
    "site-editor": "/sites/{site_id}",
    "assistant": "/assistant",
    "ai-providers": "/integrations/ai",
    "team": "/team",
    "usage": "/usage",
}


@pytest.mark.skipif(not OUT, reason="run by scripts/screenshots")
def test_screenshots(server, host_site, make_site, make_user, open_page):
    out = Path(OUT)
    # Demo data: a website, a chat with the assistant and a lead from the widget's form.
    site, visitor = start_chat(host_site, make_site, open_page)
    say(visitor, "Hello! Do you ship teapots to Portugal?", 2)
    visitor.page.get_by_role("button", name="Leave my details").click()
    card = visitor.page.locator(".card")
    card.get_by_label("Name").fill("Ada Lovelace")
    card.get_by_label("Email").fill("ada@example.com")
    card.get_by_role("button", name="Send details").click()
    expect(card).to_contain_text("Details sent")

    shots = []
    for size, viewport in SIZES.items():
        for scheme in ("light", "dark"):
            page = open_page(
                host_site.page(f"/{size}-{scheme}", site["key"]),
                viewport=viewport,
                color_scheme=scheme,
            )
            p = page.page
            p.locator(".launcher").click()
            p.get_by_role("button", name="Got it").click()
            name = f"widget-{size}-{scheme}.png"
            p.screenshot(path=str(out / name))
            shots.append(("widget", size, scheme, name))

            staff = log_in(open_page, server, make_user, viewport=viewport, color_scheme=scheme)
            for page_name, path in PAGES.items():
                staff.page.goto(server + path.format(site_id=site["id"]))
                if page_name == "site-editor":
                    frame = staff.page.frame_locator("#widget-preview")
                    expect(frame.locator(".title")).to_be_visible()
                name = f"{page_name}-{size}-{scheme}.png"
                staff.page.screenshot(path=str(out / name))
                shots.append((page_name, size, scheme, name))

    lines = [
        "# Screenshots",
        "",
        "Made by `scripts/screenshots` (Playwright in Chromium, with a little demo data).",
        "",
        "| Page | Desktop, light | Desktop, dark | Phone, light | Phone, dark |",
        "|---|---|---|---|---|",
    ]
    for page_name in ["widget", *PAGES]:
        cells = [
            f"[{size} {scheme}]({name})"
            for p, size, scheme, name in sorted(shots, key=lambda s: (s[1], s[2] == "dark"))
            if p == page_name
        ]
        lines.append(f"| {page_name} | " + " | ".join(cells) + " |")
    (out / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert len(shots) == 4 * (len(PAGES) + 1)

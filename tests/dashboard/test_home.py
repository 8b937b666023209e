"""The dashboard home: the getting-started checklist ticked from real state, today's numbers,
the grouped menu with the current page and the inbox badge, and the theme setting."""

from __future__ import annotations

import re

import sqlalchemy as sa

from asthron.audit.service import Actor
from asthron.conversations import handoff
from asthron.conversations.models import Conversation
from asthron.knowledge import service as knowledge
from asthron.sites.models import Site
from tests.conftest import csrf_from
from tests.fixtures.visitors import ORIGIN


def step_states(page) -> dict[str, str]:
    """{"install": "todo", "knowledge": "done", ...} from the checklist's markup."""
    found = re.findall(r'<li class="(done|todo)" data-step="(\w+)"', page.text)
    return {key: state for state, key in found}


def stat(page, name: str) -> str:
    match = re.search(rf'data-stat="{name}"><dt>[^<]*</dt><dd>(?:<a [^>]*>)?([^<]*)<', page.text)
    assert match, f"no {name} figure on the page"
    return match.group(1)


def test_checklist_ticks_from_real_state(
    testapp, login, make_user, make_site, make_visitor, run_in_tm, smtp_server, configure_smtp
):
    login(make_user("owner"))
    page = testapp.get("/")
    assert step_states(page) == {
        "install": "todo",
        "knowledge": "todo",
        "ai": "todo",
        "hours": "todo",
        "team": "todo",
        "email": "todo",
    }
    assert "0 of 6 done" in page.text
    # Every step links to the page that does it.
    assert 'href="http://localhost/integrations/email">Set up email' in page.text
    assert 'href="http://localhost/knowledge">Add knowledge' in page.text

    site = make_site("Shop", business_hours={"mon": [["09:00", "17:00"]]}, timezone="Europe/Madrid")
    run_in_tm(
        lambda db: knowledge.create_article(
            db, Actor.cli(), knowledge.ArticleInput("Hours", "Open 9 to 5.", [])
        )
    )
    configure_smtp(smtp_server(start=False))
    make_user("staff")
    page = testapp.get("/")
    states = step_states(page)
    assert states["knowledge"] == states["hours"] == states["email"] == states["team"] == "done"
    # The site exists but the widget has not loaded on it yet.
    assert states["install"] == "todo"
    assert f'href="http://localhost/sites/{site["id"]}">Get the snippet' in page.text

    make_visitor(site)  # the widget starts a session from https://shop.example.com
    page = testapp.get("/")
    assert step_states(page)["install"] == "done"
    assert "We saw the widget load on Shop" in page.text
    assert "5 of 6 done" in page.text


def test_widget_on_the_dashboards_own_address_is_not_an_install(
    testapp, make_site, make_visitor, run_in_tm
):
    # The test app's public URL is http://localhost (the /demo page lives there).
    site = make_site("Demo", origins=("http://localhost", ORIGIN))
    make_visitor(site, origin="http://localhost")
    seen = run_in_tm(lambda db: db.get(Site, site["id"]).widget_seen_at)
    assert seen is None
    make_visitor(site, origin=ORIGIN)
    first = run_in_tm(lambda db: db.get(Site, site["id"]).widget_seen_at)
    assert first is not None
    make_visitor(site, origin=ORIGIN)
    # Stamped once: the first load, not the latest.
    assert run_in_tm(lambda db: db.get(Site, site["id"]).widget_seen_at) == first


def test_todays_numbers_and_the_inbox_badge(
    testapp, login, make_user, site, make_visitor, run_in_tm, registry
):
    login(make_user("owner"))
    first = make_visitor(site)
    conversation = first.open()
    first.send(conversation["id"], "Hello there")
    second = make_visitor(site)
    second.open()

    def hand_off(db):
        row = db.get(Conversation, conversation["id"])
        handoff.request_handoff(db, row, "visitor", "asked for a person")

    run_in_tm(hand_off)
    registry["navigation"].badges.clear()
    page = testapp.get("/")
    assert stat(page, "conversations") == "2"
    assert stat(page, "waiting") == "1"
    assert stat(page, "handoffs") == "1"
    assert stat(page, "leads") == "0"
    assert "Handed over: 1" in page.text
    # The inbox link carries the waiting count on every page, not only the home page.
    for path in ("/", "/team", "/knowledge"):
        html = testapp.get(path).text
        assert re.search(r'>Inbox <span class="badge" aria-label="1 waiting">1</span>', html), path
    # The chart is an inline SVG with one bar per day and the numbers in words.
    assert page.text.count('<rect class="bar') >= 7
    assert 'aria-label="Conversations per day:' in page.text


def test_menu_is_grouped_highlights_the_page_and_follows_permissions(testapp, login, make_user):
    login(make_user("owner"))
    page = testapp.get("/knowledge")
    side = page.html.select_one("nav.side")
    headings = [h.get_text() for h in side.select(".nav-heading")]
    assert headings == ["Conversations", "Settings"]
    settings = [a.get_text(strip=True) for a in side.select(".nav-group")[1].select("a")]
    assert settings[:6] == [
        "Websites",
        "Assistant",
        "AI providers",
        "Lead capture",
        "Email",
        "Email routing",
    ]
    assert "Team" in settings and "Webhooks" in settings
    top = [a.get_text(strip=True) for a in side.select(".nav-groups > li > a")]
    assert top == ["Home", "Leads", "Knowledge", "Usage", "Audit log"]
    current = side.select('a[aria-current="page"]')
    assert [a.get_text(strip=True) for a in current] == ["Knowledge"]
    # A knowledge article's page still highlights Knowledge; a page outside the menu nothing.
    assert 'aria-current="page">Knowledge' in testapp.get("/knowledge/new").text
    assert (
        "aria-current" not in testapp.get("/account/password").html.select_one("nav.side").decode()
    )
    # The phone menu is the same list inside a <details> (works without JavaScript).
    assert page.html.select_one("details.menu > summary")
    assert page.html.select_one("details.menu nav").select('a[aria-current="page"]')
    # The favicon is an SVG served as a static file.
    icon = page.html.select_one('link[rel="icon"]')["href"]
    assert testapp.get(icon).content_type == "image/svg+xml"


def test_staff_see_no_settings_and_no_checklist(testapp, login, make_user):
    login(make_user("staff"))
    page = testapp.get("/")
    side = page.html.select_one("nav.side")
    labels = [a.get_text(strip=True) for a in side.select("a")]
    assert labels == ["Home", "Inbox", "Bookings", "Calendars", "Leads"]
    assert "Getting started" not in page.text
    assert 'data-stat="cost"' not in page.text


def test_theme_is_a_setting_of_each_user(testapp, login, make_user, run_in_tm):
    user = make_user("owner")
    login(user)
    page = testapp.get("/account/sessions")
    assert "data-theme" not in page.text.split("<head>")[0]
    assert 'content="light dark"' in page.text
    form = {"theme": "dark", "csrf_token": csrf_from(page)}
    testapp.post("/account/theme", form, status=303)
    page = testapp.get("/")
    assert '<html lang="en" data-theme="dark">' in page.text
    bad = testapp.post("/account/theme", {**form, "theme": "purple"}, status=400)
    assert "Choose automatic, light or dark." in bad.text
    from asthron.accounts.models import User

    theme = run_in_tm(lambda db: db.scalar(sa.select(User.theme).where(User.id == user["id"])))
    assert theme == "dark"

"""The dashboard's website pages: admins create and edit, staff may not, bad input is a 400
with the form shown again, and the embed snippet is on the page."""

from __future__ import annotations

import html
import json

import pytest
import sqlalchemy as sa
import webtest

from tests.conftest import csrf_from


def browser(app, ip="192.0.2.60"):
    return webtest.TestApp(app, extra_environ={"REMOTE_ADDR": ip})


def sites_in_db(registry):
    with registry["db_engine"].connect() as connection:
        return connection.execute(
            sa.text("SELECT id, name, public_key, allowed_origins, timezone FROM sites ORDER BY id")
        ).all()


def form(**overrides):
    values = {
        "name": "Corner Shop",
        "origins": "https://Shop.Example.com\nhttps://www.shop.example.com:443/",
        "title": "Ask us",
        "greeting": "Hello!",
        "accent_color": "#AA3300",
        "position": "left",
        "language": "en",
        "timezone": "Europe/Paris",
        "business_hours": json.dumps({"mon": [["09:00", "17:00"]]}),
        "holidays": "2026-12-25 2026-01-01",
        "privacy_notice": "We keep chats for 30 days.",
        "privacy_url": "https://shop.example.com/privacy",
    }
    values.update(overrides)
    return values


@pytest.fixture
def admin(app, make_user, login):
    client = browser(app)
    login(make_user("admin"), app=client)
    return client


def create(admin, **overrides):
    page = admin.get("/sites/new")
    return admin.post(
        "/sites/new", {**form(**overrides), "csrf_token": csrf_from(page)}, expect_errors=True
    )


def test_admin_creates_a_site_and_sees_the_embed_snippet(admin, registry):
    response = create(admin)
    assert response.status_int == 303
    ((site_id, name, key, origins, timezone),) = sites_in_db(registry)
    assert name == "Corner Shop"
    assert timezone == "Europe/Paris"
    origins = json.loads(origins) if isinstance(origins, str) else origins
    assert origins == ["https://shop.example.com", "https://www.shop.example.com"]
    assert response.headers["Location"].endswith(f"/sites/{site_id}?notice=site_saved")

    page = admin.get(response.headers["Location"])
    assert "The site was saved." in page.text
    snippet = f'<script src="http://localhost/widget.js" data-site="{key}" async></script>'
    assert snippet in html.unescape(page.text)
    assert snippet not in page.text  # shown as text, escaped, not as a live tag
    listing = admin.get("/sites")
    assert "Corner Shop" in listing.text and key in listing.text


def test_admin_edits_a_site(admin, registry):
    create(admin)
    ((site_id, *_),) = sites_in_db(registry)
    page = admin.get(f"/sites/{site_id}")
    assert 'value="Corner Shop"' in page.text
    response = admin.post(
        f"/sites/{site_id}",
        {
            **form(name="Corner Shop & Café", origins="https://new.example.org", timezone="UTC"),
            "csrf_token": csrf_from(page),
        },
    )
    assert response.status_int == 303
    ((_, name, _key, origins, timezone),) = sites_in_db(registry)
    origins = json.loads(origins) if isinstance(origins, str) else origins
    assert (name, origins, timezone) == ("Corner Shop & Café", ["https://new.example.org"], "UTC")
    with registry["db_engine"].connect() as connection:
        actions = [r.action for r in connection.execute(sa.text("SELECT action FROM audit_log"))]
    assert actions.count("site.create") == 1 and actions.count("site.update") == 1


BAD_INPUT = [
    ({"origins": "https://shop.example.com/path"}, "must not have a path"),
    ({"origins": "https://user@shop.example.com"}, "must not carry credentials"),
    ({"origins": ""}, "at least one allowed origin"),
    ({"name": ""}, "Give the site a name"),
    ({"business_hours": "{not json"}, "Business hours must be JSON"),
    ({"business_hours": '{"fri": [["22:00", "02:00"]]}'}, "ends before it starts"),
    ({"timezone": "Mars/Base"}, "unknown time zone"),
    ({"holidays": "25/12/2026"}, "is not a date"),
    ({"accent_color": "red"}, "accent colour"),
    ({"privacy_url": "javascript:alert(1)"}, "privacy page URL"),
    ({"position": "middle"}, "right or left"),
    ({"language": "english"}, "a code like en"),
    ({"title": "x" * 81}, "at most 80 characters"),
    ({"greeting": "x" * 4001}, "is too long"),
    ({"business_hours": '["mon"]'}, "hours"),
]


def test_bad_input_is_400_with_the_form_shown_again(admin, registry):
    for overrides, message in BAD_INPUT:
        response = create(admin, **{"name": "Kept <b>name</b>", **overrides})
        assert response.status_int == 400, overrides
        assert message in html.unescape(response.text), overrides
        assert '<form method="post" id="site-form"' in response.text
        if overrides.get("name") != "":
            # What was typed is shown again, escaped.
            assert 'value="Kept &lt;b&gt;name&lt;/b&gt;"' in response.text
    assert sites_in_db(registry) == []


def test_a_field_sent_twice_is_400_and_stores_nothing(admin, registry):
    page = admin.get("/sites/new")
    body = [(k, v) for k, v in form(name="Twice").items()] + [("name", "Again")]
    response = admin.post("/sites/new", [*body, ("csrf_token", csrf_from(page))], status=400)
    assert "was sent more than once" in html.unescape(response.text)
    assert sites_in_db(registry) == []


def test_bad_edit_is_400_and_changes_nothing(admin, registry):
    create(admin)
    ((site_id, *_),) = sites_in_db(registry)
    before = sites_in_db(registry)
    page = admin.get(f"/sites/{site_id}")
    response = admin.post(
        f"/sites/{site_id}",
        {**form(name="Renamed", origins="ftp://nope"), "csrf_token": csrf_from(page)},
        status=400,
    )
    assert "ftp://nope" in html.unescape(response.text)
    assert "data-site=" in html.unescape(response.text)  # the snippet is still there
    assert sites_in_db(registry) == before


def test_staff_may_not_manage_sites(app, admin, registry, make_user, login):
    create(admin)
    ((site_id, *_),) = sites_in_db(registry)
    before = sites_in_db(registry)
    staff = browser(app, "192.0.2.61")
    login(make_user("staff"), app=staff)
    token = csrf_from(staff.get("/account/sessions"))
    for path in ("/sites", "/sites/new", f"/sites/{site_id}"):
        assert staff.get(path, expect_errors=True).status_int == 403
    for path in ("/sites/new", f"/sites/{site_id}"):
        response = staff.post(
            path, {**form(name="Staff was here"), "csrf_token": token}, expect_errors=True
        )
        assert response.status_int == 403
    assert sites_in_db(registry) == before


def test_unknown_or_malformed_site_ids_are_404(admin):
    for site_id in ("999999", "99999999999999999999"):
        response = admin.get(f"/sites/{site_id}", expect_errors=True)
        assert response.status_int == 404

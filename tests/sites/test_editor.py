"""The widget editor's server side: the weekly hours grid, the new look settings (theme,
launcher text, reply time) reaching the widget's config, the avatar upload (checked by its
bytes, size-limited, audited, served with safe headers) and the preview page's framing."""

from __future__ import annotations

import html
import json

import pytest
import sqlalchemy as sa

from tests.conftest import csrf_from
from tests.sites.test_views import browser, create, form, sites_in_db

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a5f1e1d60000000049454e44ae426082"
)


@pytest.fixture
def admin(app, make_user, login):
    client = browser(app)
    login(make_user("admin"), app=client)
    return client


def grid(**days) -> dict:
    """The grid's fields: days given as {"mon": [("09:00", "12:00"), ...]}; others closed."""
    fields = {"hours_grid": "1", "hours_mode": "schedule", "business_hours": ""}
    for day, ranges in days.items():
        fields[f"{day}_open"] = "1"
        for i, (start, end) in enumerate(ranges):
            fields[f"{day}_from_{i}"], fields[f"{day}_to_{i}"] = start, end
    return fields


def stored(registry, column):
    with registry["db_engine"].connect() as connection:
        query = sa.select(sa.column(column)).select_from(sa.table("sites"))
        value = connection.execute(query).scalar_one()
    return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value


def test_hours_grid_round_trip_with_a_break_and_an_all_day(admin, registry):
    week = grid(mon=[("09:00", "12:30"), ("13:30", "18:00")], sat=[], sun=[("10:00", "00:00")])
    assert create(admin, **week).status_int == 303
    assert stored(registry, "business_hours") == {
        "mon": [["09:00", "12:30"], ["13:30", "18:00"]],
        "sat": [["00:00", "24:00"]],
        "sun": [["10:00", "24:00"]],
    }
    ((site_id, *_),) = sites_in_db(registry)
    page = admin.get(f"/sites/{site_id}").text
    # Shown again as the grid: ticked days, the ranges in time inputs, empty ones to fill.
    assert 'name="mon_open" value="1" aria-label="Open on Monday" checked' in page
    assert 'name="tue_open" value="1" aria-label="Open on Tuesday">' in page
    assert 'name="mon_from_1" value="13:30"' in page
    assert 'name="sun_to_0" value="00:00"' in page
    assert 'name="sat_from_0" value=""' in page
    assert 'value="schedule" checked' in page

    # Saving the page as shown changes nothing; "Always open" clears the hours.
    response = admin.post(
        f"/sites/{site_id}",
        {
            **form(),
            **grid(mon=[("09:00", "17:00")]),
            "hours_mode": "always",
            "csrf_token": csrf_from(admin.get(f"/sites/{site_id}")),
        },
    )
    assert response.status_int == 303
    assert stored(registry, "business_hours") == {}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (grid(mon=[("09:00", "")]), "Monday: give each range a start and an end."),
        (grid(tue=[("18:00", "09:00")]), "ends before it starts"),
        (grid(), 'Open at least one day, or choose "Always open".'),
        (grid(wed=[("9am", "5pm")]), "is not a time like 09:30"),
    ],
)
def test_bad_grid_is_400_and_keeps_what_was_typed(admin, registry, fields, message):
    response = create(admin, **fields)
    assert response.status_int == 400
    assert message in html.unescape(response.text)
    assert sites_in_db(registry) == []


def test_look_settings_reach_the_widget_config(admin, registry, testapp):
    response = create(admin, theme="dark", launcher_text="Questions?", reply_time="a few minutes")
    assert response.status_int == 303
    ((site_id, _name, key, *_),) = sites_in_db(registry)
    page = admin.get(f"/sites/{site_id}")
    config = json.loads(html.unescape(page.html.find(id="widget-preview")["data-config"]))
    assert (config["theme"], config["launcher_text"], config["reply_time"]) == (
        "dark",
        "Questions?",
        "a few minutes",
    )
    assert config["avatar_url"] is None
    for bad, message in [
        ({"theme": "neon"}, "theme must be auto, light or dark"),
        ({"launcher_text": "x" * 41}, "launcher text must be text of at most 40"),
        ({"reply_time": "soon\x07"}, "reply time must be text"),
    ]:
        response = admin.post(
            f"/sites/{site_id}", {**form(**bad), "csrf_token": csrf_from(page)}, status=400
        )
        assert message in html.unescape(response.text)
    assert stored(registry, "theme") == "dark"


def test_preview_page_may_be_framed_by_the_dashboard_only(admin, registry):
    create(admin, title="Ask <b>us</b>")
    ((site_id, _name, key, *_),) = sites_in_db(registry)
    response = admin.get(f"/sites/{site_id}/preview")
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    script = response.html.find("script")
    assert script["data-site"] == key
    assert json.loads(script["data-preview"])["title"] == "Ask <b>us</b>"
    assert "<b>us" not in response.text  # escaped in the attribute
    # The editor page frames it sandboxed: scripts only, no same-origin access.
    frame = admin.get(f"/sites/{site_id}").html.find(id="widget-preview")
    assert frame["sandbox"] == ["allow-scripts"]
    assert admin.get("/sites/999999/preview", status=404)


def upload(admin, site_id, data, name="photo.png"):
    page = admin.get(f"/sites/{site_id}")
    return admin.post(
        f"/sites/{site_id}/avatar",
        {"csrf_token": csrf_from(page)},
        upload_files=[("avatar", name, data)],
        expect_errors=True,
    )


def test_avatar_upload_is_checked_stored_served_and_audited(admin, registry, testapp):
    create(admin)
    ((site_id, _name, key, *_),) = sites_in_db(registry)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    for data, message in [
        (svg, "must be a PNG, JPEG, GIF or WebP image"),
        (b"", "The avatar file is empty."),
        (PNG + b"\0" * (256 * 1024), "at most 256 KB"),
    ]:
        response = upload(admin, site_id, data, "photo.png")
        assert response.status_int == 400, message
        assert message in html.unescape(response.text)
    assert stored(registry, "avatar_digest") is None

    response = upload(admin, site_id, PNG)
    assert response.status_int == 303
    assert response.headers["Location"].endswith("notice=avatar_saved")
    digest = stored(registry, "avatar_digest")
    url = f"/widget-avatar/{key}/{digest}"
    served = testapp.get(url)  # public: any website's visitors see it
    assert served.body == PNG
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "immutable" in served.headers["Cache-Control"]
    assert "default-src 'none'" in served.headers["Content-Security-Policy"]
    testapp.get(f"/widget-avatar/{key}/{'0' * 64}", status=404)
    config = json.loads(
        html.unescape(admin.get(f"/sites/{site_id}").html.find(id="widget-preview")["data-config"])
    )
    assert config["avatar_url"].endswith(url)

    page = admin.get(f"/sites/{site_id}")
    response = admin.post(
        f"/sites/{site_id}/avatar", {"csrf_token": csrf_from(page), "remove": "1"}
    )
    assert response.headers["Location"].endswith("notice=avatar_removed")
    testapp.get(url, status=404)
    with registry["db_engine"].connect() as connection:
        actions = [r.action for r in connection.execute(sa.text("SELECT action FROM audit_log"))]
    assert actions.count("site.avatar_update") == 1
    assert actions.count("site.avatar_remove") == 1


def test_websites_page_lists_sites_and_says_what_to_do_when_empty(admin):
    assert "No websites yet" in admin.get("/sites").text
    create(admin, name="Corner <Shop>")
    page = admin.get("/sites").text
    assert "Corner &lt;Shop&gt;" in page
    assert "No websites yet" not in page
    assert 'fill="#aa3300"' in page  # the widget's colour, as an SVG swatch (no inline style)

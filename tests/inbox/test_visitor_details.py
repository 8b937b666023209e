"""Staff correct a visitor's name, email and phone from the conversation view: validated,
audited, every role that works the inbox may, and nothing is stored unless all are good."""

from __future__ import annotations

import pytest
import sqlalchemy as sa


def stored(registry, conversation_id):
    with registry["db_engine"].connect() as connection:
        return connection.execute(
            sa.text(
                "SELECT v.name, v.email, v.phone FROM visitors v"
                " JOIN conversations c ON c.visitor_id = v.id WHERE c.id = :id"
            ),
            {"id": conversation_id},
        ).one()


def audited(registry):
    with registry["db_engine"].connect() as connection:
        return connection.execute(
            sa.text("SELECT summary FROM audit_log WHERE action = 'visitor.update'")
        ).all()


@pytest.mark.parametrize("role", ["staff", "admin", "owner"])
def test_staff_correct_the_visitor(make_staff, chat, registry, role):
    member = make_staff(role)
    response = member.act(
        chat,
        "visitor",
        name=" Grace\u202e  Hopper ",
        email="Grace@Example.COM",
        phone="+44 20 7946 0958",
    )
    assert response.status_code == 200
    assert stored(registry, chat) == ("Grace Hopper", "grace@example.com", "+442079460958")
    (entry,) = audited(registry)
    assert "grace" not in str(entry.summary).lower()  # field names, not values
    # A plain form post redirects back to the conversation, which shows the details.
    page = member.post(
        f"/inbox/{chat}/visitor", {"name": "G", "email": "", "phone": ""}, json_=False, status=303
    ).follow()
    assert "The visitor&#39;s details were saved." in page.text or "details were saved" in page.text
    assert stored(registry, chat) == ("G", None, None)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"email": "not an email"}, "valid email"),
        ({"phone": "020 7946 0958"}, "country code"),
        ({"phone": "+1 555"}, "not a valid phone"),
        ({"name": "x" * 200}, "at most 120"),
    ],
)
def test_bad_input_is_a_4xx_and_stores_nothing(make_staff, chat, registry, form, message):
    member = make_staff()
    before = stored(registry, chat)
    data = {"name": "Changed", "email": "", "phone": "", **form}
    response = member.act(chat, "visitor", **data)
    assert 400 <= response.status_code < 500
    assert message in response.text
    html = member.post(f"/inbox/{chat}/visitor", data, json_=False, status="*")
    assert 400 <= html.status_code < 500 and message in html.text
    assert stored(registry, chat) == before
    assert audited(registry) == []


def test_no_change_is_not_audited(make_staff, chat, registry):
    make_staff().act(chat, "visitor", name="Grace Hopper", email="grace@example.com", phone="")
    assert audited(registry) == []


def test_logged_out_and_without_csrf_are_refused(app, chat, make_staff, registry):
    import webtest

    webtest.TestApp(app).post(f"/inbox/{chat}/visitor", {"name": "X"}, status="*")
    member = make_staff()
    member.post(
        f"/inbox/{chat}/visitor", {"name": "X"}, headers={"X-CSRF-Token": "bad"}, status=400
    )
    assert stored(registry, chat)[0] == "Grace Hopper"

"""Integrations → Channels: connect (owners and admins), secrets encrypted and masked, the
connection test against the Graph API, changes and disconnecting audited."""

from __future__ import annotations

import sqlalchemy as sa

from asthron.audit.models import AuditEntry
from asthron.channels.models import ChannelConnection
from tests.channels.conftest import APP_SECRET, PHONE_NUMBER_ID
from tests.conftest import csrf_from

TOKEN_TAIL = "-test-token"


def _connect_form(testapp, site, graph, **overrides):
    page = testapp.get("/integrations/channels")
    form = {
        "csrf_token": csrf_from(page),
        "site_id": str(site["id"]),
        "kind": "whatsapp",
        "account_id": PHONE_NUMBER_ID,
        "send_id": "",
        "label": "Support line",
        "access_token": graph.token,
        "app_secret": APP_SECRET,
    }
    form.update(overrides)
    return testapp.post("/integrations/channels", form, status="*")


def test_admin_connects_tests_updates_and_disconnects(
    testapp, login, make_user, site, graph, run_in_tm
):
    login(make_user("admin"))
    created = _connect_form(testapp, site, graph)
    assert created.status_int == 303
    connection = run_in_tm(lambda db: db.scalar(sa.select(ChannelConnection)))
    assert graph.token not in connection.access_token_encrypted
    assert APP_SECRET not in connection.app_secret_encrypted
    detail = testapp.get(created.location)
    # Masked, never in full; the webhook address and verify token are there for Meta's form.
    assert graph.token not in detail.text and APP_SECRET not in detail.text
    assert "••••" in detail.text
    assert f"/channels/meta/{connection.id}/webhook" in detail.text

    tested = testapp.post(
        f"/integrations/channels/{connection.id}/test", {"csrf_token": csrf_from(detail)}
    )
    assert "Connected: Acme Shop" in tested.text
    assert graph.requests[-1].path == f"/v21.0/{PHONE_NUMBER_ID}"

    testapp.post(
        f"/integrations/channels/{connection.id}",
        {"csrf_token": csrf_from(detail), "label": "Sales", "access_token": "EAAG-wrong"},
        status=303,
    )
    failed = testapp.post(
        f"/integrations/channels/{connection.id}/test",
        {"csrf_token": csrf_from(detail)},
        status=400,
    )
    assert "190" in failed.text  # Graph's OAuth error, in its own words
    stored = run_in_tm(lambda db: db.get(ChannelConnection, connection.id))
    assert stored.label == "Sales" and stored.enabled is False  # the box was not ticked

    testapp.post(
        f"/integrations/channels/{connection.id}/delete",
        {"csrf_token": csrf_from(detail)},
        status=303,
    )
    assert run_in_tm(lambda db: db.scalar(sa.select(sa.func.count(ChannelConnection.id)))) == 0
    entries = run_in_tm(lambda db: list(db.scalars(sa.select(AuditEntry))))
    actions = [e.action for e in entries]
    for action in ("channel.connect", "channel.test", "channel.update", "channel.disconnect"):
        assert action in actions
    everything = " ".join(str(e.summary) for e in entries)
    assert graph.token not in everything and APP_SECRET not in everything
    assert "EAAG-wrong" not in everything


def test_bad_input_is_a_form_error(testapp, login, make_user, site, graph, run_in_tm):
    login(make_user("owner"))
    for overrides, message in (
        ({"account_id": "12ab"}, "digits only"),
        ({"kind": "telegram"}, "Choose WhatsApp"),
        ({"site_id": "99999"}, "Choose a site"),
        ({"access_token": ""}, "access token"),
        ({"kind": "instagram", "send_id": ""}, "page id"),
    ):
        response = _connect_form(testapp, site, graph, **overrides)
        assert response.status_int == 400 and message in response.text, overrides
    assert _connect_form(testapp, site, graph).status_int == 303
    again = _connect_form(testapp, site, graph)
    assert again.status_int == 400 and "already connected" in again.text
    assert run_in_tm(lambda db: db.scalar(sa.select(sa.func.count(ChannelConnection.id)))) == 1


def test_staff_may_not_manage_channels(testapp, login, make_user):
    login(make_user("staff"))
    testapp.get("/integrations/channels", status=403)

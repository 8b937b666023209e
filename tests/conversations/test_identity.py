"""Signed visitor identity: the dashboard's identity secret, POST /sessions with ``identity``,
and what a verified identity may do to a lead that an unverified claim may not."""

from __future__ import annotations

import hmac

import pytest
import sqlalchemy as sa
import webtest

from asthron.audit.models import AuditEntry
from asthron.conversations.models import Visitor
from asthron.leads.models import Lead, LeadProposal
from asthron.sites.models import Site
from asthron.sites.service import identity_signature
from tests.conftest import csrf_from
from tests.fixtures.visitors import ORIGIN

SESSIONS = "/api/widget/v1/sessions"


@pytest.fixture
def secret_for(run_in_tm, registry):
    """Give a site an identity secret (as the dashboard does) and return it."""
    from asthron.audit.service import Actor
    from asthron.sites import service

    def make(site) -> str:
        return run_in_tm(
            lambda db: service.rotate_identity_secret(
                db, registry["secret_box"], Actor.cli(), db.get(Site, site["id"])
            )
        )

    return make


def start(testapp, site, identity=None, status=201):
    body = {"site_key": site["key"]}
    if identity is not None:
        body["identity"] = identity
    return testapp.post_json(SESSIONS, body, headers={"Origin": ORIGIN}, status=status)


def visitors(run_in_tm):
    return run_in_tm(
        lambda db: [(v.verified_email, v.email, v.name) for v in db.scalars(sa.select(Visitor))]
    )


def test_a_valid_signature_gives_a_verified_visitor(testapp, site, secret_for, run_in_tm):
    secret = secret_for(site)
    # The business signs the email in lower case; the page may show it in any case.
    identity = {
        "email": "Alice@Example.com",
        "name": "Alice Liddell",
        "signature": identity_signature(secret, "alice@example.com"),
    }
    response = start(testapp, site, identity)
    assert response.json["visitor_token"]
    assert "alice" not in response.text.lower()  # nothing echoed back
    assert visitors(run_in_tm) == [("alice@example.com", "alice@example.com", "Alice Liddell")]


def test_without_identity_the_visitor_is_anonymous(testapp, site, secret_for, run_in_tm):
    secret_for(site)
    start(testapp, site)
    assert visitors(run_in_tm) == [(None, None, None)]


def refused(testapp, site, identity):
    response = start(testapp, site, identity, status=422)
    assert response.json["error"]["code"] == "invalid_identity"
    return response.json["error"]["message"]


def test_a_wrong_signature_is_refused_and_no_session_is_created(
    testapp, site, secret_for, run_in_tm
):
    secret = secret_for(site)
    good = identity_signature(secret, "alice@example.com")
    wrong = [
        {"email": "alice@example.com", "signature": "0" * 64},
        {"email": "alice@example.com", "signature": good[:-1] + ("0" if good[-1] != "0" else "1")},
        # A signature for another email.
        {"email": "mallory@example.com", "signature": good},
        # Signed with another key (another site's secret, or a guess).
        {"email": "alice@example.com", "signature": identity_signature("guess", "alice@x.com")},
        {"email": "alice@example.com", "signature": identity_signature(secret + "x", "alice")},
        {"email": "alice@example.com"},
        {"email": "alice@example.com", "signature": good[:32]},
        {"email": "alice@example.com", "signature": "zz" * 32},
        {"email": "alice@example.com", "signature": "é" * 64},
        {"email": "alice@example.com", "signature": 12},
        {"email": "not an email", "signature": good},
        {"email": ["alice@example.com"], "signature": good},
        {"email": "alice@example.com", "signature": good, "name": {"x": 1}},
        "alice@example.com",
        [],
    ]
    for identity in wrong:
        refused(testapp, site, identity)
    assert visitors(run_in_tm) == []


def test_without_a_secret_every_identity_is_refused(testapp, site, run_in_tm):
    message = refused(
        testapp,
        site,
        {"email": "alice@example.com", "signature": identity_signature("", "alice@example.com")},
    )
    assert "no identity secret" in message
    assert visitors(run_in_tm) == []


def test_signatures_are_compared_in_constant_time(testapp, site, secret_for, monkeypatch):
    secret = secret_for(site)
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    good = identity_signature(secret, "alice@example.com")
    start(testapp, site, {"email": "alice@example.com", "signature": good.upper()})
    refused(testapp, site, {"email": "alice@example.com", "signature": "1" * 64})
    assert calls == [(good, good), (good, "1" * 64)]


def test_rotating_the_secret_invalidates_old_signatures(testapp, site, secret_for):
    old = secret_for(site)
    new = secret_for(site)
    assert old != new
    refused(
        testapp,
        site,
        {"email": "alice@example.com", "signature": identity_signature(old, "alice@example.com")},
    )
    start(
        testapp,
        site,
        {"email": "alice@example.com", "signature": identity_signature(new, "alice@example.com")},
    )


def test_a_signature_for_one_site_does_not_work_on_another(testapp, make_site, secret_for):
    first, second = make_site("One"), make_site("Two")
    secret = secret_for(first)
    secret_for(second)
    identity = {"email": "a@example.com", "signature": identity_signature(secret, "a@example.com")}
    start(testapp, first, identity)
    refused(testapp, second, identity)


# -- the dashboard ------------------------------------------------------------------------


@pytest.fixture
def manager(app, make_user, login):
    def make(role):
        client = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.61"})
        login(make_user(role), app=client)
        return client

    return make


def test_managers_generate_and_rotate_the_secret_shown_once(manager, site, run_in_tm, registry):
    admin = manager("admin")
    edit = f"/sites/{site['id']}"
    page = admin.get(edit)
    assert "Generate an identity secret" in page.text
    shown = admin.post(f"{edit}/identity-secret", {"csrf_token": csrf_from(page)}, status=200)
    stored = run_in_tm(lambda db: db.get(Site, site["id"]).identity_secret_encrypted)
    secret = registry["secret_box"].decrypt(stored)
    assert secret not in stored  # encrypted at rest
    assert secret in shown.text  # shown this once
    assert shown.headers["Cache-Control"] == "no-store"
    again = admin.get(edit)
    assert secret not in again.text
    assert "••••" + secret[-4:] in again.text
    assert "Rotate the identity secret" in again.text

    owner = manager("owner")
    rotated = owner.post(
        f"{edit}/identity-secret", {"csrf_token": csrf_from(owner.get(edit))}, status=200
    )
    assert "no longer verify" in rotated.text
    new = registry["secret_box"].decrypt(
        run_in_tm(lambda db: db.get(Site, site["id"]).identity_secret_encrypted)
    )
    assert new != secret and new in rotated.text
    entries = run_in_tm(
        lambda db: [
            (e.action, e.summary)
            for e in db.scalars(
                sa.select(AuditEntry)
                .where(AuditEntry.action.like("site.identity%"))
                .order_by(AuditEntry.id)
            )
        ]
    )
    assert [a for a, _ in entries] == [
        "site.identity_secret_create",
        "site.identity_secret_rotate",
    ]
    assert secret not in str(entries) and new not in str(entries)


def test_staff_cannot_touch_the_secret(manager, site, run_in_tm):
    staff = manager("staff")
    token = csrf_from(staff.get("/account/sessions"))
    staff.post(f"/sites/{site['id']}/identity-secret", {"csrf_token": token}, status=403)
    assert run_in_tm(lambda db: db.get(Site, site["id"]).identity_secret_encrypted) is None


# -- verified identity and leads ------------------------------------------------------------


def lead_post(testapp, token, fields):
    headers = {"Authorization": f"Bearer {token}", "Origin": ORIGIN}
    conversation = testapp.post_json(
        "/api/widget/v1/conversations", {}, headers=headers, status=201
    ).json
    return testapp.post_json(
        f"/api/widget/v1/conversations/{conversation['id']}/lead",
        {"fields": fields},
        headers=headers,
        status=201,
    )


@pytest.fixture
def alice_lead(run_in_tm):
    def add(db):
        db.add(
            Lead(
                name="Alice Liddell",
                email="alice@example.com",
                company="Wonderland Ltd",
                status="new",
                tags=[],
                custom_fields={},
                utm={},
            )
        )

    run_in_tm(add)


def lead_state(run_in_tm):
    def read(db):
        lead = db.scalar(sa.select(Lead).where(Lead.email == "alice@example.com"))
        proposals = [(p.field, p.value) for p in db.scalars(sa.select(LeadProposal))]
        count = db.scalar(sa.select(sa.func.count()).select_from(Lead))
        return (lead.name, lead.company), proposals, count

    return run_in_tm(read)


def test_an_unverified_claim_to_an_existing_email_only_proposes(
    testapp, site, secret_for, alice_lead, run_in_tm
):
    secret_for(site)
    token = start(testapp, site).json["visitor_token"]
    lead_post(
        testapp, token, {"name": "Mallory", "email": "alice@example.com", "company": "Evil Inc"}
    )
    state, proposals, count = lead_state(run_in_tm)
    assert state == ("Alice Liddell", "Wonderland Ltd")  # nothing overwritten
    assert sorted(proposals) == [("company", "Evil Inc"), ("name", "Mallory")]
    assert count == 1  # and no second lead


def test_a_verified_identity_updates_its_own_lead_directly(
    testapp, site, secret_for, alice_lead, run_in_tm
):
    secret = secret_for(site)
    identity = {
        "email": "alice@example.com",
        "signature": identity_signature(secret, "alice@example.com"),
    }
    token = start(testapp, site, identity).json["visitor_token"]
    lead_post(
        testapp,
        token,
        {"name": "Alice Hargreaves", "email": "alice@example.com", "company": "Oxford"},
    )
    assert lead_state(run_in_tm) == (("Alice Hargreaves", "Oxford"), [], 1)


def test_a_verified_identity_does_not_vouch_for_another_email(
    testapp, site, secret_for, alice_lead, run_in_tm
):
    secret = secret_for(site)
    identity = {"email": "bob@example.com", "signature": identity_signature(secret, "bob@x.y")}
    refused(testapp, site, identity)
    identity["signature"] = identity_signature(secret, "bob@example.com")
    token = start(testapp, site, identity).json["visitor_token"]
    lead_post(testapp, token, {"name": "Mallory", "email": "alice@example.com"})
    state, proposals, _ = lead_state(run_in_tm)
    assert state == ("Alice Liddell", "Wonderland Ltd")
    assert proposals == [("name", "Mallory")]

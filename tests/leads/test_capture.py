"""Capture, dedupe, proposals and merges, on both databases."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from asthron.audit.service import Actor
from asthron.leads import capture, normalize
from asthron.leads.models import Lead, LeadConversation, LeadProposal


@pytest.fixture
def conversation_factory(run_in_tm):
    from asthron.conversations import service
    from asthron.sites import service as sites

    site_id = run_in_tm(
        lambda db: (
            sites.create_site(
                db, Actor.cli(), sites.SiteInput("Shop", ["https://shop.example.com"])
            ).id
        )
    )

    def make():
        def create(db):
            from asthron.sites.models import Site

            visitor, _token = service.start_visitor(
                db,
                db.get(Site, site_id),
                "UA",
                "https://shop.example.com/p?utm_source=ads&utm_campaign=x",
            )
            conversation, _ = service.open_conversation(db, visitor)
            return conversation.id, visitor.id

        return run_in_tm(create)

    make.site_id = site_id
    return make


def do_capture(run_in_tm, site_id, conversation_id, visitor_id, **fields):
    from asthron.conversations.models import Conversation, Visitor

    def run(db):
        claim = capture.LeadClaim.parse(fields, "US")
        result = capture.capture(
            db,
            claim,
            actor=Actor(label="visitor"),
            site_id=site_id,
            conversation=db.get(Conversation, conversation_id),
            visitor=db.get(Visitor, visitor_id),
        )
        return (
            result.lead.id,
            result.created,
            [p.field for p in result.proposals],
            result.merged_from,
        )

    return run_in_tm(run)


def test_new_lead_is_clean_and_carries_source_and_utm(run_in_tm, conversation_factory):
    conversation_id, visitor_id = conversation_factory()
    lead_id, created, _, _ = do_capture(
        run_in_tm,
        conversation_factory.site_id,
        conversation_id,
        visitor_id,
        name="  Dana   Scully ",
        email="Dana@X.com",
        phone="(202) 555-0143",
    )
    assert created
    lead = run_in_tm(lambda db: db.get(Lead, lead_id))
    assert (lead.name, lead.email, lead.phone) == ("Dana Scully", "dana@x.com", "+12025550143")
    assert lead.utm == {"utm_source": "ads", "utm_campaign": "x"}
    assert lead.source_site_id == conversation_factory.site_id


def test_same_email_any_case_or_same_phone_is_the_same_lead(run_in_tm, conversation_factory):
    c1, v1 = conversation_factory()
    c2, v2 = conversation_factory()
    c3, v3 = conversation_factory()
    first, *_ = do_capture(
        run_in_tm, conversation_factory.site_id, c1, v1, email="dana@x.com", phone="+1 202 555 0143"
    )
    second, created, *_ = do_capture(
        run_in_tm, conversation_factory.site_id, c2, v2, email="DANA@x.com"
    )
    third, created3, *_ = do_capture(
        run_in_tm, conversation_factory.site_id, c3, v3, phone="202-555-0143"
    )
    assert first == second == third and not created and not created3
    links = run_in_tm(
        lambda db: sorted(
            db.scalars(
                sa.select(LeadConversation.conversation_id).where(LeadConversation.lead_id == first)
            )
        )
    )
    assert links == sorted([c1, c2, c3])


def test_unverified_claim_never_overwrites_it_proposes(run_in_tm, conversation_factory):
    c1, v1 = conversation_factory()
    c2, v2 = conversation_factory()
    lead_id, *_ = do_capture(
        run_in_tm, conversation_factory.site_id, c1, v1, name="Dana", email="dana@x.com"
    )
    _, _, proposals, _ = do_capture(
        run_in_tm,
        conversation_factory.site_id,
        c2,
        v2,
        name="Mallory",
        email="dana@x.com",
        company="Acme",
    )
    lead = run_in_tm(lambda db: db.get(Lead, lead_id))
    assert lead.name == "Dana"  # not overwritten
    assert lead.company == "Acme"  # an empty field is filled
    assert proposals == ["name"]
    pending = run_in_tm(
        lambda db: [(p.field, p.value, p.state) for p in db.scalars(sa.select(LeadProposal))]
    )
    assert pending == [("name", "Mallory", "pending")]


def test_accepting_a_proposal_applies_it_and_is_audited(run_in_tm, conversation_factory):
    from asthron.audit.models import AuditEntry

    c1, v1 = conversation_factory()
    c2, v2 = conversation_factory()
    lead_id, *_ = do_capture(
        run_in_tm, conversation_factory.site_id, c1, v1, name="Dana", email="dana@x.com"
    )
    do_capture(run_in_tm, conversation_factory.site_id, c2, v2, name="Dana S.", email="dana@x.com")
    run_in_tm(
        lambda db: capture.resolve_proposal(
            db,
            Actor(label="owner@example.com", user_id=None),
            db.scalar(sa.select(LeadProposal)),
            accept=True,
        )
    )
    assert run_in_tm(lambda db: db.get(Lead, lead_id).name) == "Dana S."
    actions = run_in_tm(lambda db: list(db.scalars(sa.select(AuditEntry.action))))
    assert "lead.proposal_accepted" in actions


def test_conversation_merges_into_the_lead_it_turns_out_to_be(run_in_tm, conversation_factory):
    from asthron.audit.models import AuditEntry

    c1, v1 = conversation_factory()
    c2, v2 = conversation_factory()
    dana, *_ = do_capture(run_in_tm, conversation_factory.site_id, c1, v1, email="dana@x.com")
    # Conversation 2 first captured a phone-only lead, then the visitor gives Dana's email.
    other, *_ = do_capture(run_in_tm, conversation_factory.site_id, c2, v2, phone="+12025550143")
    merged_lead, _, _, merged_from = do_capture(
        run_in_tm, conversation_factory.site_id, c2, v2, email="dana@x.com"
    )
    assert merged_lead == dana and merged_from == other
    assert (
        run_in_tm(
            lambda db: db.scalar(
                sa.select(LeadConversation.lead_id).where(LeadConversation.conversation_id == c2)
            )
        )
        == dana
    )
    assert "lead.merge" in run_in_tm(lambda db: list(db.scalars(sa.select(AuditEntry.action))))


def test_two_conversations_capturing_one_email_at_once_make_one_lead(
    registry, conversation_factory
):
    import transaction

    from asthron.conversations.models import Conversation, Visitor
    from asthron.db import get_tm_session

    pairs = [conversation_factory() for _ in range(2)]
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker(conversation_id, visitor_id):
        try:
            tm = transaction.TransactionManager(explicit=True)
            with tm:
                db = get_tm_session(registry["dbsession_factory"], tm)
                claim = capture.LeadClaim.parse({"email": "race@x.com"}, "US")
                barrier.wait(timeout=5)
                result = capture.capture(
                    db,
                    claim,
                    actor=Actor(label="visitor"),
                    site_id=conversation_factory.site_id,
                    conversation=db.get(Conversation, conversation_id),
                    visitor=db.get(Visitor, visitor_id),
                )
                results.append(result.lead.id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=pair) for pair in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    # SQLite serialises writers; on PostgreSQL the unique index decides. Either way: one lead.
    session = registry["dbsession_factory"]()
    try:
        count = session.scalar(
            sa.select(sa.func.count()).select_from(Lead).where(Lead.email == "race@x.com")
        )
        linked = session.scalar(sa.select(sa.func.count()).select_from(LeadConversation))
    finally:
        session.close()
    assert count == 1
    assert not errors or all("locked" in str(e) for e in errors)
    assert linked == len(results)


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"email": "not-an-email"}, "email"),
        ({"phone": "12"}, "phone"),
        ({"phone": "+1 555 0000000000000"}, "phone"),
        ({"name": "x" * 121, "email": "a@b.co"}, "name"),
        ({"email": ["a@b.co"]}, "email"),
    ],
)
def test_invalid_fields_are_named(fields, field):
    with pytest.raises(normalize.LeadDataError) as info:
        capture.LeadClaim.parse(fields, "US")
    assert info.value.field == field


def test_claim_without_email_or_phone_is_refused(run_in_tm, conversation_factory):
    c1, v1 = conversation_factory()
    with pytest.raises(normalize.LeadDataError):
        do_capture(run_in_tm, conversation_factory.site_id, c1, v1, name="Only A Name")
    assert run_in_tm(lambda db: db.scalar(sa.select(sa.func.count()).select_from(Lead))) == 0


def test_details_given_in_pieces_complete_the_conversations_lead(run_in_tm, conversation_factory):
    c1, v1 = conversation_factory()
    first, created, *_ = do_capture(
        run_in_tm, conversation_factory.site_id, c1, v1, email="dana@x.com"
    )
    second, created_again, *_ = do_capture(
        run_in_tm, conversation_factory.site_id, c1, v1, phone="+12025550143"
    )
    assert first == second and created and not created_again
    lead = run_in_tm(lambda db: db.get(Lead, first))
    assert (lead.email, lead.phone) == ("dana@x.com", "+12025550143")

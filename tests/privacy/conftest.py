"""Fixtures for the privacy commands: the CLI fixtures, and a person spread over many tables."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.fixtures.cli import Cli

UTC = dt.UTC
DANA = "dana@example.com"
DANA_PHONE = "+12025550143"
OTHER = "other@example.com"


def secret_box(cli: Cli):
    from asthron.security.crypto import SecretBox

    secrets = json.loads((Path(cli.ini).parent / "var" / "secrets.json").read_text())
    return SecretBox(secrets["fernet_keys"])


def add_people(cli: Cli) -> dict:
    """Dana (a visitor with two conversations, a lead, an email, audit entries) and someone
    else who must never be touched. Returns the ids."""
    from asthron.audit.models import AuditEntry
    from asthron.conversations.models import Conversation, ConversationEvent, Visitor
    from asthron.domain_events import DomainEvent
    from asthron.jobs.models import OutboxItem
    from asthron.leads.models import Lead, LeadActivity, LeadConversation
    from asthron.sites.models import Site

    box = secret_box(cli)
    engine = sa.create_engine(cli.database_url)
    try:
        with Session(engine) as db:
            site = Site(name="Shop", public_key="pk-test")
            db.add(site)
            db.flush()
            dana_visitor = Visitor(site_id=site.id, token_hash="a" * 64, user_agent="Firefox")
            other_visitor = Visitor(site_id=site.id, token_hash="b" * 64, email=OTHER)
            db.add_all([dana_visitor, other_visitor])
            db.flush()
            first = Conversation(visitor_id=dana_visitor.id, site_id=site.id)
            db.add(first)
            db.flush()
            first.status, first.open_slot = "closed", None
            db.flush()
            second = Conversation(visitor_id=dana_visitor.id, site_id=site.id)
            other_conv = Conversation(visitor_id=other_visitor.id, site_id=site.id)
            db.add_all([first, second, other_conv])
            db.flush()
            db.add_all(
                [
                    ConversationEvent(
                        conversation_id=first.id,
                        type="visitor_message",
                        body=f"I am Dana, write to {DANA}",
                    ),
                    ConversationEvent(
                        conversation_id=second.id, type="visitor_message", body="Hello again"
                    ),
                    ConversationEvent(
                        conversation_id=other_conv.id, type="visitor_message", body="Someone else"
                    ),
                ]
            )
            lead = Lead(name="Dana Scully", email=DANA, phone=DANA_PHONE)
            other_lead = Lead(name="Other", email=OTHER)
            db.add_all([lead, other_lead])
            db.flush()
            db.add(LeadConversation(lead_id=lead.id, conversation_id=first.id))
            db.add(LeadActivity(lead_id=lead.id, kind="captured", body="from chat"))
            db.add(
                AuditEntry(
                    actor_label="cli",
                    action="lead.changed",
                    target_type="lead",
                    target_id=str(lead.id),
                    summary={"email": DANA},
                )
            )
            db.add(
                AuditEntry(
                    actor_label="cli",
                    action="lead.changed",
                    target_type="lead",
                    target_id=str(other_lead.id),
                    summary={"email": OTHER},
                )
            )
            db.add(
                DomainEvent(
                    kind="lead.created",
                    subject_type="lead",
                    subject_id=str(lead.id),
                    payload={"lead_id": lead.id},
                )
            )
            sealed = box.encrypt(json.dumps({"text": f"New lead {DANA}", "html": None}))
            db.add(
                OutboxItem(
                    kind="email.send",
                    payload={"to": "staff@example.com", "subject": "New lead", "sealed": sealed},
                )
            )
            db.add(
                OutboxItem(
                    kind="email.send",
                    payload={"to": OTHER, "subject": "Hi", "sealed": box.encrypt("{}")},
                )
            )
            db.commit()
            return {
                "visitor": dana_visitor.id,
                "other_visitor": other_visitor.id,
                "lead": lead.id,
                "other_lead": other_lead.id,
            }
    finally:
        engine.dispose()


def table_rows(cli: Cli, sql: str, **params) -> list:
    engine = sa.create_engine(cli.database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text(sql), params))
    finally:
        engine.dispose()


@pytest.fixture
def set_up_cli(cli) -> Cli:
    cli.setup()
    return cli

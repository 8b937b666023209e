"""The Graph API fake, connected channels, and Meta's webhook payloads as Meta sends them."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time

import pytest
import sqlalchemy as sa

from asthron.audit.service import Actor
from asthron.channels import service
from asthron.channels.models import ChannelMessage
from asthron.db import utcnow
from asthron.jobs.models import OutboxItem
from asthron.jobs.service import sweep
from tests.fakes.graph_server import FakeGraphServer

APP_SECRET = "3f1c0a9d8e7b6a5f4e3d2c1b0a9f8e7d"
PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
PAGE_ID = "104928371"
IG_ID = "17841405309211844"
WA_ID = "4915112345678"  # the customer's number, as WhatsApp names it (no "+")
PSID = "6785432109876543"


@pytest.fixture
def graph():
    fake = FakeGraphServer().start()
    yield fake
    fake.stop()


@pytest.fixture
def ini_settings(ini_settings, graph):
    return {
        **ini_settings,
        "asthron.channels.graph_url": graph.url,
        "asthron.channels.timeout_seconds": "1",
    }


@pytest.fixture
def connect(run_in_tm, registry, site, graph):
    """Connect a channel of ``kind`` to the test site; returns its id and verify token."""

    def make(kind="whatsapp", account_id=None, send_id=None):
        account_id = account_id or {"whatsapp": PHONE_NUMBER_ID, "messenger": PAGE_ID}.get(
            kind, IG_ID
        )

        def create(db):
            connection, verify = service.connect(
                db,
                registry["secret_box"],
                Actor.cli(),
                site_id=site["id"],
                kind=kind,
                account_id=account_id,
                send_id=send_id or (PAGE_ID if kind == "instagram" else None),
                label="Shop " + kind,
                access_token=graph.token,
                app_secret=APP_SECRET,
            )
            return connection.id, verify

        return run_in_tm(create)

    return make


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def deliver(testapp):
    """POST a payload to the connection's webhook, signed unless ``signature`` says otherwise."""

    def post(connection_id, payload, signature=None, status="*", raw=None):
        body = raw if raw is not None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        signature = sign(body) if signature is None else signature
        if signature:
            headers["X-Hub-Signature-256"] = signature
        return testapp.post(
            f"/channels/meta/{connection_id}/webhook", body, headers=headers, status=status
        )

    return post


def _now() -> str:
    return str(int(time.time()))


def wa_value(messages=(), statuses=(), contacts=()) -> dict:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550104477", "phone_number_id": PHONE_NUMBER_ID},
    }
    if contacts:
        value["contacts"] = list(contacts)
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]}],
    }


def wa_text(text, message_id="wamid.HBgNNDkxNTExMjM0NTY3OBUCABIYFjNFQjBDMEE1", wa_id=WA_ID):
    return wa_value(
        contacts=[{"profile": {"name": "Lena Vogel"}, "wa_id": wa_id}],
        messages=[
            {
                "from": wa_id,
                "id": message_id,
                "timestamp": _now(),
                "type": "text",
                "text": {"body": text},
            }
        ],
    )


def wa_status(message_id, status, wa_id=WA_ID, errors=None):
    item = {
        "id": message_id,
        "status": status,
        "timestamp": _now(),
        "recipient_id": wa_id,
    }
    if status in ("sent", "delivered"):
        item["conversation"] = {"id": "CONVERSATION_ID", "origin": {"type": "service"}}
        item["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "service"}
    if errors:
        item["errors"] = errors
    return wa_value(statuses=[item])


def messaging(object_, account, events) -> dict:
    return {
        "object": object_,
        "entry": [{"id": account, "time": int(time.time() * 1000), "messaging": events}],
    }


def messenger_text(text, mid="m_1457764197618:41d102a3e1ae206a38", psid=PSID, page=PAGE_ID):
    return messaging(
        "page",
        page,
        [
            {
                "sender": {"id": psid},
                "recipient": {"id": page},
                "timestamp": int(time.time() * 1000),
                "message": {"mid": mid, "text": text},
            }
        ],
    )


@pytest.fixture
def channel_messages(run_in_tm):
    def read():
        return run_in_tm(
            lambda db: [
                {
                    "event_id": m.event_id,
                    "part": m.part,
                    "external_id": m.external_id,
                    "status": m.status,
                    "error": m.error,
                }
                for m in db.scalars(sa.select(ChannelMessage).order_by(ChannelMessage.id))
            ]
        )

    return read


@pytest.fixture
def retry_now(run_in_tm, registry):
    """Make every pending outbox item due now and run them (the sweeper's work)."""

    def run():
        run_in_tm(
            lambda db: db.execute(
                sa.update(OutboxItem)
                .where(OutboxItem.state == "pending")
                .values(next_attempt_at=utcnow())
            )
        )
        return sweep(registry)

    return run


def hours_ago(hours: float) -> dt.datetime:
    return utcnow() - dt.timedelta(hours=hours)

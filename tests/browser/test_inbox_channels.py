"""A WhatsApp conversation in the staff inbox, in Chromium: the channel badge and filter, the
handoff, and the member's reply sent to the Graph API (a loopback fake). No console errors (a
CSP violation would be one)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import pytest
import webtest
from playwright.sync_api import expect

from asthron.audit.service import Actor
from asthron.channels import service as channels
from tests.browser.conftest import SCREENSHOT_DIR
from tests.conftest import PASSWORDS
from tests.fakes.graph_server import FakeGraphServer

APP_SECRET = "browser-test-app-secret"
PHONE_NUMBER_ID = "106540352242922"
WA_ID = "4915112345678"


@pytest.fixture
def graph():
    fake = FakeGraphServer().start()
    yield fake
    fake.stop()


@pytest.fixture
def ini_settings(ini_settings, graph):
    return {**ini_settings, "asthron.channels.graph_url": graph.url}


def _whatsapp_says(app, connection_id, text):
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550104477",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "contacts": [{"profile": {"name": "Lena Vogel"}, "wa_id": WA_ID}],
                            "messages": [
                                {
                                    "from": WA_ID,
                                    "id": "wamid.HBgNNDkxNTExMjM0NTY3OBUCABIYFjNF",
                                    "timestamp": "1765080000",
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    webtest.TestApp(app).post(
        f"/channels/meta/{connection_id}/webhook",
        body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
        status=200,
    )


def test_whatsapp_chat_in_the_inbox(server, app, make_site, open_page, make_user, run_in_tm, graph):
    site = make_site("https://shop.example.com")

    def connect(db):
        connection, _verify = channels.connect(
            db,
            app.registry["secret_box"],
            Actor.cli(),
            site_id=site["id"],
            kind="whatsapp",
            account_id=PHONE_NUMBER_ID,
            send_id=None,
            label="Support",
            access_token=graph.token,
            app_secret=APP_SECRET,
        )
        return connection.id

    connection_id = run_in_tm(connect)
    _whatsapp_says(app, connection_id, "Can I talk to a person please?")

    user = make_user("staff", name="Sam")
    staff = open_page(server + "/login", widget=False)
    s = staff.page
    s.get_by_label("Email").fill(user["email"])
    s.get_by_label("Password").fill(PASSWORDS["staff"])
    s.get_by_role("button", name="Log in").click()
    expect(s.locator(".topbar")).to_contain_text("Sam")
    staff.errors.clear()  # the login page's /favicon.ico 404

    s.goto(server + "/inbox?channel=whatsapp")
    row = s.locator("#inbox-list tbody tr[data-conversation-id]")
    expect(row).to_have_count(1)
    expect(row.locator(".tag-channel")).to_have_text("WhatsApp")
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    s.screenshot(path=str(SCREENSHOT_DIR / "asthron-inbox-whatsapp-list.png"))

    row.get_by_role("link").click()
    s.get_by_role("button", name="Join").click()
    expect(s.locator("#state")).to_have_text("You are handling this chat.")
    s.get_by_label("Reply to the visitor").fill("Hi Lena, Sam here.")
    s.get_by_role("button", name="Send reply").click()
    expect(s.locator("#transcript .ev-staff_message .ev-body")).to_have_text(["Hi Lena, Sam here."])
    sent = [r for r in graph.sends() if r.body.get("text", {}).get("body") == "Hi Lena, Sam here."]
    assert sent and sent[0].body["to"] == WA_ID
    s.reload()
    expect(s.locator(".crumbs .tag-channel")).to_have_text("WhatsApp")
    expect(s.locator("#template-form")).to_be_visible()
    expect(s.locator("#transcript .ev-staff_message .ev-status")).to_have_text(re.compile("sent"))
    s.screenshot(path=str(SCREENSHOT_DIR / "asthron-inbox-whatsapp-chat.png"), full_page=True)
    assert not staff.dialogs
    assert not staff.errors, staff.errors

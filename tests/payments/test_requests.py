"""Payment requests: staff send an amount into a conversation, the visitor gets a card that
opens Checkout, and both sides see paid/expired live."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from asthron.conversations.models import ConversationEvent
from asthron.conversations.service import event_json
from asthron.payments.models import Payment
from tests.conftest import csrf_from
from tests.payments.conftest import only_payment
from tests.payments.test_checkout import start_checkout


def chat_events(run_in_tm, conversation_id):
    return run_in_tm(
        lambda db: [
            event_json(e)
            for e in db.scalars(
                sa.select(ConversationEvent)
                .where(ConversationEvent.conversation_id == conversation_id)
                .order_by(ConversationEvent.id)
            )
        ]
    )


def send_request(testapp, conversation_id, status=303, **form):
    page = testapp.get(f"/payments/request/{conversation_id}")
    data = {
        "csrf_token": csrf_from(page),
        "amount": "49.90",
        "currency": "EUR",
        "description": "Invoice 1042",
        **form,
    }
    return testapp.post(f"/payments/request/{conversation_id}", data, status=status)


def test_staff_ask_for_a_payment_and_the_chat_follows_it(
    testapp, run_in_tm, conversation, fake_stripe, post_webhook, make_user, login
):
    login(make_user("staff"))
    detail = testapp.get(f"/inbox/{conversation}")
    assert "Ask for a payment" in detail.text
    answer = send_request(testapp, conversation)
    assert answer.location.endswith(f"/inbox/{conversation}")
    payment = only_payment(run_in_tm)
    assert (payment.kind, payment.amount_cents, payment.currency) == ("request", 4990, "eur")
    [card] = chat_events(run_in_tm, conversation)
    assert card["type"] == "card" and card["data"]["card"] == "payment"
    assert card["body"] == "Invoice 1042: 49.90 EUR"
    assert card["data"]["payment"] == {
        "card_id": payment.reference,
        "url": f"http://localhost/pay/{payment.reference}",
        "amount": "49.90 EUR",
        "status": "open",
    }
    # The side panel lists it.
    assert "Invoice 1042" in testapp.get(f"/inbox/{conversation}").text

    start_checkout(testapp, payment.reference)
    session = fake_stripe.complete(only_payment(run_in_tm).checkout_session_id)
    post_webhook(fake_stripe.event("checkout.session.completed", session))
    events = chat_events(run_in_tm, conversation)
    assert events[-1]["type"] == "system"
    assert events[-1]["body"] == "Payment of 49.90 EUR received. Thank you!"
    assert events[-1]["data"] == {"payment": {"card_id": payment.reference, "status": "paid"}}


def test_an_unstarted_request_expires_and_the_chat_says_so(
    testapp, run_in_tm, conversation, make_user, login
):
    import datetime as dt

    from asthron.db import utcnow
    from asthron.payments import tasks

    login(make_user("staff"))
    send_request(testapp, conversation)

    def overdue(db):
        db.scalars(sa.select(Payment)).one().expires_at = utcnow() - dt.timedelta(minutes=1)

    run_in_tm(overdue)
    run_in_tm(lambda db: tasks.service.expire_overdue(db))
    assert only_payment(run_in_tm).status == "expired"
    last = chat_events(run_in_tm, conversation)[-1]
    assert last["data"]["payment"]["status"] == "expired"
    assert "has expired" in testapp.get(f"/pay/{only_payment(run_in_tm).reference}").text


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"amount": "abc"}, "Enter an amount like 12.50"),
        ({"amount": "10", "currency": "XYZ"}, "Choose one of the listed currencies"),
        ({"description": ""}, "Description is required"),
        ({"amount": "100000000"}, "larger than Stripe accepts"),
    ],
)
def test_bad_requests_are_a_400_and_send_nothing(
    testapp, run_in_tm, conversation, make_user, login, form, message
):
    login(make_user("staff"))
    assert message in send_request(testapp, conversation, status=400, **form).text
    assert chat_events(run_in_tm, conversation) == []


@pytest.mark.app_settings(**{"stripe.secret_key": ""})
def test_no_request_without_a_stripe_connection(testapp, run_in_tm, conversation, make_user, login):
    login(make_user("staff"))
    assert "Payments are not set up" in send_request(testapp, conversation, status=400).text
    assert chat_events(run_in_tm, conversation) == []

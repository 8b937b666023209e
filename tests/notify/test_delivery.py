"""Outbound email through the outbox, against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from asthron.db import utcnow
from asthron.jobs import service as jobs
from asthron.jobs.models import OutboxItem
from asthron.notify.service import EMAIL_KIND, queue_email
from tests.conftest import csrf_from
from tests.fixtures.worker import run_cli, write_ini


@pytest.fixture
def ini_settings(ini_settings):
    # A failed attempt waits a minute: the tests make it due instead of sleeping.
    ini_settings["asthron.outbox.retry_base_seconds"] = "60"
    ini_settings["asthron.outbox.max_attempts"] = "2"
    return ini_settings


def items(run_in_tm) -> list[OutboxItem]:
    return run_in_tm(lambda db: db.scalars(sa.select(OutboxItem).order_by(OutboxItem.id)).all())


def queue(run_in_tm, to="reader@example.com", subject="A subject"):
    return run_in_tm(lambda db: queue_email(db, to, subject, "Text body", "<p>HTML body</p>").id)


def retry_now(run_in_tm, registry):
    """What the sweeper does once the back-off has passed."""

    def make_due(db):
        db.execute(
            sa.update(OutboxItem)
            .where(OutboxItem.state == "pending")
            .values(next_attempt_at=utcnow() - dt.timedelta(seconds=1))
        )

    run_in_tm(make_due)
    return jobs.sweep(registry)


def test_the_invitation_email_is_delivered_with_text_and_html(
    testapp, make_user, login, smtp_server, configure_smtp, run_in_tm
):
    server = smtp_server()
    configure_smtp(server)
    owner = make_user("owner", name="Olivia Owner")
    login(owner)
    page = testapp.get("/team")
    testapp.post(
        "/team/invite",
        {"email": "New.Hire@Example.com", "role": "staff", "csrf_token": csrf_from(page)},
        status=200,
    )

    assert len(server.messages) == 1
    received = server.messages[0]
    message = received["message"]
    assert received["rcpt_tos"] == ["new.hire@example.com"]
    assert received["mail_from"] == "assistant@example.com"
    assert message["To"] == "new.hire@example.com"
    assert message["From"] == "Asthron Test <assistant@example.com>"
    assert message["Subject"] == "Olivia Owner invited you to Asthron"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Olivia Owner invited you to join their team on Asthron as staff." in text
    assert "http://localhost/invitations/" in text
    assert '<a href="http://localhost/invitations/' in html
    assert "<strong>staff</strong>" in html

    [item] = items(run_in_tm)
    assert (item.kind, item.state, item.attempts) == (EMAIL_KIND, "done", 1)
    assert message["Message-ID"] == item.payload["message_id"]


def test_an_aborted_transaction_sends_nothing(smtp_server, configure_smtp, run_in_tm):
    server = smtp_server()
    configure_smtp(server)

    def cause(db):
        queue_email(db, "reader@example.com", "Never", "text")
        raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        run_in_tm(cause)
    assert server.messages == []
    assert items(run_in_tm) == []


def test_a_refusing_server_is_retried_until_it_accepts(
    smtp_server, configure_smtp, run_in_tm, registry
):
    server = smtp_server(["451 4.3.0 try later"])
    configure_smtp(server)
    item_id = queue(run_in_tm)
    [item] = items(run_in_tm)
    assert (item.state, item.attempts) == ("pending", 1)
    assert item.last_error == "EmailDeliveryError: the SMTP server answered 451 4.3.0 try later"
    assert item.next_attempt_at > utcnow() + dt.timedelta(seconds=30)
    assert server.messages == []

    assert retry_now(run_in_tm, registry) == [item_id]
    [item] = items(run_in_tm)
    assert (item.state, item.attempts, item.last_error) == ("done", 2, None)
    assert server.handler.data_calls == 2
    assert [m["message"]["Message-ID"] for m in server.messages] == [item.payload["message_id"]]


def test_a_server_that_is_down_then_up_gets_the_message(
    smtp_server, configure_smtp, run_in_tm, registry
):
    server = smtp_server(start=False)
    configure_smtp(server)
    queue(run_in_tm, subject="While you were down")
    [item] = items(run_in_tm)
    assert item.state == "pending"
    assert f"Cannot reach 127.0.0.1:{server.port}" in item.last_error

    server.start()
    retry_now(run_in_tm, registry)
    [item] = items(run_in_tm)
    assert item.state == "done"
    assert [m["message"]["Subject"] for m in server.messages] == ["While you were down"]


def test_a_permanent_refusal_fails_the_item_but_keeps_it(smtp_server, configure_smtp, run_in_tm):
    server = smtp_server(["554 5.7.1 message rejected"])
    configure_smtp(server)
    queue(run_in_tm)
    [item] = items(run_in_tm)
    assert (item.state, item.attempts) == ("failed", 1)
    assert "554 5.7.1 message rejected" in item.last_error


def test_email_queued_before_it_is_configured_goes_out_once_it_is(
    smtp_server, configure_smtp, run_in_tm, registry
):
    queue(run_in_tm)
    [item] = items(run_in_tm)
    assert item.state == "pending"
    assert "Outbound email is not configured yet" in item.last_error
    server = smtp_server()
    configure_smtp(server)
    retry_now(run_in_tm, registry)
    assert items(run_in_tm)[0].state == "done"
    assert len(server.messages) == 1


@pytest.fixture
def owner(make_user, login):
    user = make_user("owner")
    login(user)
    return user


def press_test_connection(testapp):
    """The dashboard's "Test connection" button."""
    page = testapp.get("/integrations/email")
    return testapp.post(
        "/integrations/email/test", {"csrf_token": csrf_from(page)}, expect_errors=True
    )


def test_the_connection_test_reports_success(testapp, owner, smtp_server, configure_smtp):
    server = smtp_server(username="mailer", password="right-pass")
    configure_smtp(server, username="mailer", password="right-pass")
    response = press_test_connection(testapp)
    assert response.status_code == 200
    assert f"Connected to 127.0.0.1:{server.port} and logged in." in response.text
    assert server.messages == []


def test_the_connection_test_explains_what_is_wrong(testapp, owner, smtp_server, configure_smtp):
    response = press_test_connection(testapp)
    assert response.status_code == 400
    assert "Outbound email is not configured yet" in response.text

    server = smtp_server()
    configure_smtp(server, security="starttls")
    response = press_test_connection(testapp)
    assert response.status_code == 400
    assert "does not support this: STARTTLS extension not supported by server" in response.text

    server.stop()
    configure_smtp(server)
    response = press_test_connection(testapp)
    assert response.status_code == 400
    assert f"Cannot reach 127.0.0.1:{server.port}" in response.text


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # runs the real CLI: one database
def test_bad_credentials_are_reported_kept_and_retried_after_the_fix(
    testapp, owner, smtp_server, configure_smtp, run_in_tm, registry, ini_settings, tmp_path
):
    server = smtp_server(username="mailer", password="right-pass")
    configure_smtp(server, username="mailer", password="wrong-pass")

    response = press_test_connection(testapp)
    assert response.status_code == 400
    assert "The SMTP server refused the username or password (535)." in response.text
    assert "wrong-pass" not in response.text

    item_id = queue(run_in_tm, subject="After the fix")
    [item] = items(run_in_tm)
    assert item.state == "pending"
    assert "refused the username or password (535)" in item.last_error
    retry_now(run_in_tm, registry)  # the last of asthron.outbox.max_attempts = 2
    [item] = items(run_in_tm)
    assert (item.state, item.attempts) == ("failed", 2)
    page = testapp.get("/integrations/email")
    assert "0 waiting, 0 sent, 1 failed." in page.text
    assert "refused the username or password (535)" in page.text

    # The owner fixes the password, then asks for the failed items to go out again.
    configure_smtp(server, username="mailer", password="right-pass")
    ini = write_ini(tmp_path / "cli.ini", ini_settings)
    result = run_cli(ini, "jobs", "retry-failed")
    assert result.returncode == 0, result.stderr
    assert "Requeued 1 failed item(s)." in result.stdout
    [item] = items(run_in_tm)
    assert (item.id, item.state, item.attempts, item.last_error) == (item_id, "done", 1, None)
    assert [m["message"]["Subject"] for m in server.messages] == ["After the fix"]

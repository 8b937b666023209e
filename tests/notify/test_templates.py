"""The owner rewords an email: preview with sample values, test send, save (used for real
sends from then on), back to default; a draft that breaks or reaches for the application is
refused; a stored wording that fails at send time falls back to the default."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from asthron.audit.models import AuditEntry
from asthron.notify import service
from asthron.notify.models import EmailTemplate, SmtpSettings
from asthron.notify.templates import TemplateProblem, Wording, check_draft, editable_emails
from tests.conftest import csrf_from

URL = "/integrations/email/templates/lead_notification"


def _post(testapp, page, status=200, **fields):
    form = {
        "csrf_token": csrf_from(page),
        "subject": "New lead: {{ lead.name }}",
        "text": "Call {{ lead.name }} at {{ lead.phone }}.\nOpen: {{ link }}",
        "html": "<p>Call <b>{{ lead.name }}</b></p>",
        "action": "preview",
    }
    form.update(fields)
    return testapp.post(URL, form, status=status)


def test_every_email_can_be_reworded_and_its_default_previews(app, run_in_tm):
    from pathlib import Path

    registered = editable_emails(app.registry)
    files = {p.name.split(".")[0] for p in Path("templates/email").glob("*.txt")}
    assert files == set(registered), "register each email with config.add_email_template"
    for editable in registered.values():
        wording = run_in_tm(lambda db, e=editable: service.default_wording(db, e.name))
        subject, text, _html = check_draft(editable, wording)
        assert subject and text.strip(), editable.name


def test_owner_previews_tests_saves_and_resets(testapp, login, make_user, run_in_tm, registry):
    owner = make_user("owner")
    login(owner)
    page = testapp.get(URL)
    assert "This is the default wording" in page.text
    preview = _post(testapp, page)
    assert "New lead: Ada Lovelace" in preview.text
    assert "Call Ada Lovelace at +442071234567." in preview.text
    # The HTML preview is shown as source, escaped: nothing of it runs in the dashboard.
    assert "&lt;b&gt;Ada Lovelace&lt;/b&gt;" in preview.text

    # A test send without email configured says so rather than claiming it was sent.
    refused = _post(testapp, page, status=400, action="test")
    assert "not configured" in refused.text
    run_in_tm(
        lambda db: db.add(SmtpSettings(id=1, host="smtp.example.com", from_address="a@example.com"))
    )
    sent = _post(testapp, page, action="test")
    assert f"queued for {owner['email']}" in sent.text

    _post(testapp, page, status=303, action="save")
    stored = run_in_tm(lambda db: db.get(EmailTemplate, "lead_notification"))
    assert stored.subject == "New lead: {{ lead.name }}"
    assert "You are using your own wording" in testapp.get(URL).text

    # Real sends use the owner's wording from now on.
    subject, text, html = run_in_tm(
        lambda db: service.render_email(
            db,
            "lead_notification",
            {"lead": {"name": "Dana", "phone": "+1555"}, "what": "new", "link": "L"},
        )
    )
    assert (subject, text) == ("New lead: Dana", "Call Dana at +1555.\nOpen: L")
    assert html == "<p>Call <b>Dana</b></p>"
    # Values are escaped in the HTML part.
    _s, _t, html = run_in_tm(
        lambda db: service.render_email(
            db, "lead_notification", {"lead": {"name": "<img src=x>"}, "link": ""}
        )
    )
    assert "<img" not in html and "&lt;img src=x&gt;" in html

    testapp.post(URL, {"csrf_token": csrf_from(page), "action": "reset"}, status=303)
    assert run_in_tm(lambda db: db.get(EmailTemplate, "lead_notification")) is None
    actions = run_in_tm(
        lambda db: list(
            db.scalars(
                sa.select(AuditEntry.action)
                .where(AuditEntry.action.like("email.template%"))
                .order_by(AuditEntry.id)
            )
        )
    )
    assert actions == ["email.template_update", "email.template_reset"]


def test_drafts_that_break_or_reach_out_are_refused(testapp, login, make_user, run_in_tm):
    login(make_user("owner"))
    page = testapp.get(URL)
    cases = [
        ({"text": "{% for x in %}"}, "Text:"),
        ({"subject": "{{ lead.nmae }}"}, "nmae"),
        ({"subject": ""}, "subject cannot be empty"),
        ({"text": "{{ lead.__class__.__mro__ }}"}, "Text:"),
        ({"text": "{{ ''.__class__.__subclasses__() }}"}, "Text:"),
        ({"text": "{{ cycler.__init__.__globals__ }}"}, "Text:"),
        ({"text": "{% set x = [] %}{{ x.append(1) }}"}, "Not allowed"),
        ({"text": "x" * 20_001}, "at most"),
    ]
    for fields, message in cases:
        response = _post(testapp, page, status=400, action="save", **fields)
        assert message in response.text, fields
    assert run_in_tm(lambda db: db.get(EmailTemplate, "lead_notification")) is None
    testapp.get("/integrations/email/templates/no_such_email", status=404)
    testapp.get("/integrations/email/templates/../../etc", status=404)


def test_a_stored_wording_that_fails_falls_back_to_the_default(run_in_tm):
    run_in_tm(
        lambda db: db.add(
            EmailTemplate(name="waiting_alert", subject="{{ minutes / 0 }}", text="x", html=None)
        )
    )
    subject, text, _ = run_in_tm(
        lambda db: service.render_email(
            db,
            "waiting_alert",
            {
                "minutes": 5,
                "conversation": {"id": 3, "waiting_since": dt.datetime(2026, 1, 1, 9, 0)},
                "link": "L",
            },
        )
    )
    assert subject == "A visitor has waited 5+ minutes for a reply"


def test_check_draft_reports_the_part():
    from asthron.notify.templates import EditableEmail

    editable = EditableEmail("x", "x", {"a": 1})
    assert check_draft(editable, Wording("ok {{ a }}", "{{ a }}", None))[0] == "ok 1"
    with pytest.raises(TemplateProblem) as problem:
        check_draft(editable, Wording("ok {{ a }}", "{{ a.b.c }}", None))
    assert problem.value.part == "text"

"""asthron.forms: every dashboard form is read by parse_form, and bad input of any shape is a
FormError naming the field (a 400 form in the views), never an exception that becomes a 500."""

from __future__ import annotations

from decimal import Decimal

import pytest
from webob import Request
from webob.multidict import MultiDict

from asthron.assistant.forms import BudgetForm, ProfileForm, ProviderForm, parse_price_table
from asthron.forms import FormError, parse_form
from asthron.leads.forms import LeadSettingsForm, NewQuestionForm, parse_lead_form
from asthron.notify.forms import SmtpSettingsForm

PROFILE = {"business_name": "Bakery", "reply_max_chars": "800", "turn_cap": "25"}
PROVIDER = {
    "slot": "primary",
    "kind": "openai",
    "base_url": "https://api.example.com/v1",
    "model": "gpt-test",
    "temperature": "0.4",
    "max_tokens": "500",
    "connect_timeout": "2",
    "first_token_timeout": "10",
    "total_timeout": "60",
}
SMTP = {"host": "smtp.example.com", "port": "587", "from_address": "a@example.com"}


def posted(data, *more) -> MultiDict:
    return MultiDict([*data.items(), *more])


def refused(model, data, *more) -> dict:
    with pytest.raises(FormError) as caught:
        parse_form(model, posted(data, *more))
    return caught.value.errors


def test_a_valid_form_becomes_typed_values():
    profile = parse_form(ProfileForm, posted(PROFILE))
    assert (profile.reply_max_chars, profile.turn_cap, profile.tone) == (800, 25, "")
    provider = parse_form(ProviderForm, posted(PROVIDER))
    assert provider.temperature == 0.4 and provider.new_api_key is None
    assert parse_form(BudgetForm, posted({"monthly_budget": "12.50"})).monthly_budget == Decimal(
        "12.50"
    )
    smtp = parse_form(SmtpSettingsForm, posted(SMTP))
    assert (smtp.security, smtp.timeout_seconds, smtp.new_password) == ("starttls", 15, None)


def test_a_field_sent_twice_is_named():
    assert refused(ProfileForm, PROFILE, ("turn_cap", "3")) == {
        "turn_cap": "The field turn_cap was sent more than once."
    }
    assert "port" in refused(SmtpSettingsForm, SMTP, ("port", "25"))


def test_an_upload_instead_of_text_is_refused():
    request = Request.blank(
        "/",
        POST={**PROFILE, "tone": ("tone.txt", b"warm")},
    )
    with pytest.raises(FormError) as caught:
        parse_form(ProfileForm, request.POST)
    assert caught.value.errors == {"tone": "The field tone must be text."}


def test_a_body_that_is_not_utf8_is_read_without_an_exception():
    body = b"business_name=%ff%fe&reply_max_chars=8%ff00&turn_cap=25&tone=\xff"
    request = Request.blank(
        "/", method="POST", body=body, content_type="application/x-www-form-urlencoded"
    )
    errors = refused(ProfileForm, dict(request.POST))
    assert errors == {
        "reply_max_chars": "The reply length limit must be a whole number between 100 and 10000."
    }


@pytest.mark.parametrize(
    "field, value",
    [
        ("temperature", "nan"),
        ("temperature", "NaN"),
        ("temperature", "inf"),
        ("temperature", "-inf"),
        ("temperature", "-0.5"),
        ("temperature", "1e400"),
        ("temperature", "9" * 5000),
        ("max_tokens", "-1"),
        ("max_tokens", "9" * 4000),
        ("max_tokens", "1.5"),
        ("max_tokens", "١٠"),
        ("connect_timeout", "0x10"),
        ("total_timeout", " "),
    ],
)
def test_numbers_out_of_shape_or_range_are_refused(field, value):
    errors = refused(ProviderForm, {**PROVIDER, field: value})
    assert list(errors) == [field]


@pytest.mark.parametrize("value", ["-1", "NaN", "inf", "1e5", "9" * 30, "1.234", "١٠"])
def test_money_is_plain_decimal_digits(value):
    assert list(refused(BudgetForm, {"monthly_budget": value})) == ["monthly_budget"]


def test_oversized_fields_are_refused_before_validation():
    errors = refused(ProfileForm, {**PROFILE, "services": "s" * 30_000})
    assert errors == {"services": "The field services is too long."}
    errors = refused(SmtpSettingsForm, {**SMTP, "port": "1" * 40})
    assert errors == {"port": "The field port is too long."}


def test_every_bad_field_is_reported():
    errors = refused(ProfileForm, {**PROFILE, "turn_cap": "0", "tone": "a\nb"})
    assert set(errors) == {"turn_cap", "tone"}


def test_price_rows_name_their_row():
    columns = {
        "provider": ["openai", "openai"],
        "model": ["a", "b"],
        "input_per_million": ["1", "-1"],
        "output_per_million": ["1", "nan"],
    }
    with pytest.raises(FormError) as caught:
        parse_price_table(columns, set())
    assert caught.value.message.startswith("Price row 2: the input price must be a number")


def test_lead_forms_name_the_posted_field():
    errors = refused(LeadSettingsForm, {"phone_region": "ZZ"})
    assert list(errors) == ["phone_region"]
    errors = refused(NewQuestionForm, {"key": "ok", "text": "Pick", "kind": "single"})
    assert errors == {"options": "A choice question needs at least two options."}
    with pytest.raises(FormError) as caught:
        parse_lead_form(
            posted({"intro": "Hi", "show_email": "1", "order_email": "-3", "order_phone": "1e9"})
        )
    assert set(caught.value.errors) == {"order_email", "order_phone"}

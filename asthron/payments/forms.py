"""The payments' dashboard forms, read with ``asthron.forms.parse_form``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import PlainValidator, model_validator

from asthron.forms import Choice, FormModel, Text, refuse
from asthron.payments import service
from asthron.payments.stripe_api import KEY_PREFIXES, WEBHOOK_SECRET_PREFIX


def _key(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if text and (not text.startswith(KEY_PREFIXES) or len(text) > 255 or not text.isascii()):
        refuse(
            "A Stripe secret or restricted key starts with sk_test_, sk_live_, rk_test_ or "
            "rk_live_."
        )
    return text


def _webhook_secret(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if text and (not text.startswith(WEBHOOK_SECRET_PREFIX) or len(text) > 255):
        refuse("A webhook signing secret starts with whsec_.")
    return text


class ConnectionForm(FormModel):
    """Blank fields keep what is stored: secrets are never shown back to be re-entered."""

    secret_key: Annotated[str, PlainValidator(_key)]
    webhook_secret: Annotated[str, PlainValidator(_webhook_secret)]


CURRENCY_CHOICES = tuple(sorted(c.upper() for c in service.CURRENCIES))


class _AmountForm(FormModel):
    amount: Text("Amount", 20, one_line=True, required=True)
    currency: Choice(CURRENCY_CHOICES, "Choose one of the listed currencies.")

    @model_validator(mode="after")
    def _valid_amount(self):
        try:
            service.parse_amount(self.amount, self.currency)
        except ValueError as error:
            refuse(str(error), "amount")
        return self

    @property
    def amount_cents(self) -> int:
        return service.parse_amount(self.amount, self.currency)


class PaymentRequestForm(_AmountForm):
    description: Text("Description", 200, one_line=True, required=True)


class RefundForm(_AmountForm):
    reason: Text("Reason", 200, one_line=True)

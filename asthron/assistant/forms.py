"""The assistant's dashboard forms: the business profile, a provider slot, the monthly budget
and the price table, as pydantic models read with ``asthron.forms.parse_form``."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import PlainValidator, field_validator, model_validator

from asthron.assistant.models import PROVIDER_KINDS, PROVIDER_SLOTS
from asthron.forms import (
    Amount,
    Checkbox,
    Choice,
    FormError,
    FormModel,
    Number,
    Text,
    WholeNumber,
    refuse,
    validate_form,
)

# -- the business profile -------------------------------------------------------------------

PROFILE_LIMITS = {
    "business_name": 120,
    "description": 5000,
    "services": 10000,
    "contact": 2000,
    "policies": 10000,
    "tone": 300,
    "do_rules": 5000,
    "dont_rules": 5000,
}
REPLY_MAX_CHARS = (100, 10000)
TURN_CAP = (1, 500)


class ProfileForm(FormModel):
    read_limit: ClassVar[int] = 20_000

    business_name: Text("Business name", 120, one_line=True) = ""
    description: Text("Description", 5000) = ""
    services: Text("Services", 10000) = ""
    contact: Text("Contact details", 2000) = ""
    policies: Text("Policies", 10000) = ""
    tone: Text("Tone", 300, one_line=True) = ""
    do_rules: Text("Always do", 5000) = ""
    dont_rules: Text("Never do", 5000) = ""
    reply_max_chars: WholeNumber("The reply length limit", *REPLY_MAX_CHARS)
    turn_cap: WholeNumber("The turn limit", *TURN_CAP)


PROFILE_FIELDS = tuple(ProfileForm.model_fields)

# -- a provider slot ------------------------------------------------------------------------

KEEP_ALIVE_RE = re.compile(r"^-?[0-9]{1,6}(\.[0-9]{1,3})?(ms|s|m|h)?$")


def validate_base_url(value: str) -> str:
    """An http(s) address without credentials; empty means the provider's default.
    ValueError says what is wrong."""
    value = (value or "").strip()
    if not value:
        return ""
    if len(value) > 500:
        raise ValueError("The base URL must be at most 500 characters.")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value) or "\\" in value:
        raise ValueError("The base URL must not contain spaces or control characters.")
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError for a bad port
        host = parts.hostname
    except ValueError:
        raise ValueError("The base URL is not a valid http(s) address.") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("The base URL must start with http:// or https://.")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise ValueError(
            "The base URL must not contain a user name or password; use the API key field."
        )
    if not host:
        raise ValueError("The base URL needs a host name.")
    if port == 0:
        raise ValueError("The base URL's port must be between 1 and 65535.")
    if parts.query or parts.fragment:
        raise ValueError("The base URL must not have a query string or fragment.")
    return value.rstrip("/")


def _base_url(value: Any) -> str:
    try:
        return validate_base_url(value if isinstance(value, str) else "")
    except ValueError as exc:
        refuse(str(exc))


def _api_key(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 4096:
        refuse("The API key must be at most 4,096 characters.")
    value = value.strip()
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        refuse("The API key must not contain spaces or control characters.")
    return value


class ProviderForm(FormModel):
    read_limit: ClassVar[int] = 5000

    slot: Choice(PROVIDER_SLOTS, "Choose the primary or secondary slot.")
    kind: Choice(PROVIDER_KINDS, f"The kind must be one of {', '.join(PROVIDER_KINDS)}.")
    base_url: Annotated[str, PlainValidator(_base_url)] = ""
    model_pick: Text("The model", 200, one_line=True) = ""
    model: Text("The model", 200, one_line=True) = ""
    api_key: Annotated[str, PlainValidator(_api_key)] = ""
    clear_api_key: Checkbox() = False
    temperature: Number("The temperature", 0, 2)
    max_tokens: WholeNumber("Max tokens", 1, 200000)
    connect_timeout: Number("The connect timeout", 0.1, 120)
    first_token_timeout: Number("The first-token timeout", 0.1, 600)
    total_timeout: Number("The total timeout", 1, 3600)
    keep_alive: Text("Keep-alive", 20, one_line=True) | None = None
    embedding_model: Text("The embedding model", 200, one_line=True) = ""
    enabled: Checkbox() = False

    @model_validator(mode="before")
    @classmethod
    def _picked_model(cls, data: Any) -> Any:
        # A model picked from the server's list wins over the one typed in.
        picked = data.get("model_pick") if isinstance(data, dict) else None
        if isinstance(picked, str) and picked.strip():
            return {**data, "model": picked}
        return data

    @field_validator("keep_alive")
    @classmethod
    def _keep_alive(cls, value: str | None) -> str | None:
        if value and not KEEP_ALIVE_RE.match(value):
            refuse("Keep-alive must be a duration like 5m, 30s, 1h, 0 or -1 (Ollama's format).")
        return value or None

    @model_validator(mode="after")
    def _timeouts(self) -> ProviderForm:
        if (
            self.total_timeout < self.first_token_timeout
            or self.total_timeout < self.connect_timeout
        ):
            refuse(
                "The total timeout must be at least the connect and first-token timeouts.",
                "total_timeout",
            )
        return self

    @property
    def new_api_key(self) -> str | None:
        """None keeps the stored key, "" clears it."""
        return "" if self.clear_api_key else (self.api_key or None)


# -- the budget and the price table ---------------------------------------------------------

MAX_BUDGET = Decimal("1000000000")
MAX_PRICE = Decimal("1000000")
MAX_PRICE_ROWS = 200
PRICE_COLUMNS = ("provider", "model", "input_per_million", "output_per_million")


class BudgetForm(FormModel):
    read_limit: ClassVar[int] = 40

    monthly_budget: Amount("The monthly budget", MAX_BUDGET, 2)


def _price_model(value: Any) -> str:
    value = value.strip() if isinstance(value, str) else ""
    if not value or len(value) > 200 or any(c.isspace() for c in value):
        refuse(
            "give a model name (or * for every model of the provider), without spaces, "
            "200 characters at most."
        )
    return value


class PriceRowForm(FormModel):
    """One row of the price table; its messages are prefixed with the row's number."""

    provider: Choice(PROVIDER_KINDS, f"the provider must be one of {', '.join(PROVIDER_KINDS)}.")
    model: Annotated[str, PlainValidator(_price_model)]
    input_per_million: Amount("the input price", MAX_PRICE, 4, blank=Decimal(0))
    output_per_million: Amount("the output price", MAX_PRICE, 4, blank=Decimal(0))


def parse_price_table(columns: dict[str, list[str]], removed: set[int]) -> list[PriceRowForm]:
    """Rows from parallel lists of form fields; blank rows and removed ones are skipped.
    FormError names the first bad row."""
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise FormError({"": "The price table was sent incomplete; reload the page."})
    count = lengths.pop() if lengths else 0
    if count > MAX_PRICE_ROWS + 1:
        raise FormError({"": f"At most {MAX_PRICE_ROWS} prices."})
    rows: list[PriceRowForm] = []
    seen: set[tuple[str, str]] = set()
    for i in range(count):
        values = {name: (column[i] or "").strip() for name, column in columns.items()}
        if i in removed or not any(values.values()):
            continue
        try:
            row = validate_form(PriceRowForm, values)
        except FormError as exc:
            raise FormError({exc.field or "": f"Price row {i + 1}: {exc.message}"}) from None
        if (row.provider, row.model) in seen:
            raise FormError({"": f"Price row {i + 1}: {row.provider} {row.model} is listed twice."})
        seen.add((row.provider, row.model))
        rows.append(row)
    if len(rows) > MAX_PRICE_ROWS:
        raise FormError({"": f"At most {MAX_PRICE_ROWS} prices."})
    return rows

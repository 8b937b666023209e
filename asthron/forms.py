"""Small helpers the dashboard views share for reading form input safely, and the one way
dashboard forms are validated: ``parse_form(Model, request.POST)`` with pydantic models."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Annotated, Any, ClassVar, NoReturn, TypeVar

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError
from pydantic_core import PydanticCustomError
from pyramid.httpexceptions import HTTPBadRequest, HTTPNotFound, HTTPSeeOther

MAX_FIELD = 10_000
# Ids in URLs are ASCII digits that fit a 32-bit signed integer column on every database.
MAX_ID = 2**31 - 1


def field(request, name: str, max_length: int = MAX_FIELD) -> str:
    """One text field from a form post; repeated or oversized fields are a 400."""
    values = request.POST.getall(name)
    if len(values) > 1:
        raise HTTPBadRequest(f"The field {name} was sent more than once.")
    value = values[0] if values else ""
    if not isinstance(value, str):
        raise HTTPBadRequest(f"The field {name} must be text.")
    if len(value) > max_length:
        raise HTTPBadRequest(f"The field {name} is too long.")
    return value


def query_field(request, name: str, max_length: int = 400) -> str:
    """One query-string parameter; repeated or oversized parameters are a 400."""
    values = request.GET.getall(name)
    if len(values) > 1:
        raise HTTPBadRequest(f"The parameter {name} was sent more than once.")
    value = values[0] if values else ""
    if len(value) > max_length:
        raise HTTPBadRequest(f"The parameter {name} is too long.")
    return value


def parse_id(value) -> int | None:
    """A positive database id from text, or None (not digits, not ASCII, or out of range)."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return None
    if len(value) > 10:
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


def matched_id(request, name: str) -> int:
    """An id from the URL; anything that cannot be an id is simply not found."""
    number = parse_id(request.matchdict.get(name))
    if number is None:
        raise HTTPNotFound()
    return number


def redirect(request, route_name: str, notice: str | None = None, **kw) -> HTTPSeeOther:
    query = {"notice": notice} if notice else None
    return HTTPSeeOther(request.route_url(route_name, _query=query, **kw))


# Notices shown after a redirect come from this list only, so a link cannot inject text.
NOTICES = {
    "password_changed": "Your password was changed. Your other sessions were signed out.",
    "session_revoked": "The session was signed out.",
    "sessions_revoked": "All of this member's sessions were signed out.",
    "theme_changed": "Your dashboard theme is saved.",
    "invitation_revoked": "The invitation was revoked.",
    "role_changed": "The role was changed.",
    "deactivated": "The member was deactivated and signed out everywhere.",
    "reactivated": "The member was reactivated.",
    "email_saved": "Email settings were saved.",
    "welcome": "Welcome to Asthron.",
    "site_saved": "The site was saved.",
    "privacy_page_saved": "The privacy page was saved as a new version.",
    "avatar_saved": "The avatar was saved.",
    "avatar_removed": "The avatar was removed.",
    "nothing_changed": "Nothing changed.",
    "visitor_saved": "The visitor's details were saved.",
    "article_saved": "The article was saved.",
    "article_deleted": "The article was deleted.",
    "synonyms_saved": "The synonyms were saved; the assistant uses them from now on.",
    "gaps_dismissed": "Those questions were taken off the list.",
    "source_saved": "The website source was saved.",
    "source_deleted": "The website source was removed; its articles were kept.",
    "crawl_queued": "The crawl was queued: the worker fetches the pages now.",
    "assistant_saved": "The assistant's profile was saved.",
    "provider_saved": "The provider settings were saved.",
    "provider_removed": "The provider was removed.",
    "budget_saved": "The monthly budget was saved.",
    "prices_saved": "The price table was saved.",
    "retention_saved": "The retention windows were saved.",
    "subject_erased": "Everything about that person was erased or anonymised.",
    "alert_rule_saved": "The routing rule was saved.",
    "alert_rule_deleted": "The routing rule was deleted.",
    "template_saved": "Your wording of this email was saved.",
    "template_reset": "This email is back to its default wording.",
    "webhook_saved": "The webhook endpoint was saved.",
    "webhook_deleted": "The webhook endpoint was deleted.",
    "webhook_test_queued": "A test event was queued: see the delivery log below.",
    "webhook_redelivery_queued": "The delivery was queued again, with the same webhook-id.",
    "booking_approved": "The booking was approved; the customer was told.",
    "booking_declined": "The booking request was declined; the customer was told.",
    "booking_cancelled": "The booking was cancelled; the customer was told.",
    "booking_no_show": "The booking was marked a no-show.",
    "booking_rescheduled": "The booking was moved; the customer was told.",
    "booking_service_saved": "The service was saved.",
    "booking_resource_saved": "Saved.",
    "payments_saved": "The Stripe settings were saved.",
    "refund_requested": "The refund was sent to Stripe: see its state below.",
    "channel_saved": "The channel was saved.",
    "channel_deleted": "The channel was disconnected.",
}


def notice(request) -> str | None:
    values = request.GET.getall("notice")
    return NOTICES.get(values[0]) if len(values) == 1 else None


# -- parsing a posted form into a pydantic model --------------------------------------------
#
# Every dashboard form is a ``FormModel`` declared next to its feature's service
# (``assistant/forms.py``, ``notify/forms.py``, ``leads/forms.py``). ``parse_form`` reads the
# posted fields it declares (each at most once, as text, within a length limit), validates
# them, and returns the model or raises ``FormError`` with one message per field. The field
# types below turn form text into typed values with messages a person can act on; their
# rules are the ones the hand-written parsers had.


class FormError(ValueError):
    """Posted input a person can fix: ``errors`` maps a field name ("" for the whole form) to
    its message, ``values`` holds the text that was posted, to show the form again."""

    def __init__(self, errors: Mapping[str, str], values: Mapping[str, str] | None = None):
        self.errors = dict(errors)
        self.values = dict(values or {})
        self.message = next(iter(self.errors.values()), "The form is not valid.")
        super().__init__(self.message)

    @property
    def field(self) -> str | None:
        """The first field with a problem, if any."""
        return next((name for name in self.errors if name), None)


class FormModel(BaseModel):
    """A dashboard form. ``read_limit`` and ``read_limits`` bound what is read (a longer field
    is refused before validation); a field a browser left out (an unticked box) is ""."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    read_limit: ClassVar[int] = MAX_FIELD
    read_limits: ClassVar[Mapping[str, int]] = {}


def refuse(message: str, field: str | None = None) -> NoReturn:
    """Fail validation with ``message``; a model validator names the ``field`` it shows at."""
    raise PydanticCustomError("form", "{message}", {"message": message, "field": field})


Form = TypeVar("Form", bound=FormModel)


def read_form(post, names, limits: Mapping[str, int] | None = None, limit: int = MAX_FIELD):
    """``(values, errors)``: each named field's text ("" when absent), and the fields that
    were sent twice, were not text or were too long."""
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name in names:
        posted = post.getall(name)
        value = posted[0] if len(posted) == 1 else ""
        if len(posted) > 1:
            errors[name] = f"The field {name} was sent more than once."
        elif not isinstance(value, str):
            value, errors[name] = "", f"The field {name} must be text."
        elif len(value) > (limits or {}).get(name, limit):
            value, errors[name] = "", f"The field {name} is too long."
        values[name] = value
    return values, errors


def validate_form(
    model: type[Form],
    values: Mapping[str, Any],
    names: Callable[[str], str] | None = None,
    context: Any = None,
) -> Form:
    """``values`` (already read) as ``model``, or FormError with a message per field.
    ``names`` turns the model's field names into the posted ones, in the error's map too."""
    posted_as = names or (lambda name: name)
    fields = {posted_as(name): name for name in model.model_fields}
    data = {fields.get(key, key): value for key, value in values.items()}
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        errors = {posted_as(k) if k else k: v for k, v in _messages(exc).items()}
        posted = {k: v for k, v in values.items() if isinstance(v, str)}
        raise FormError(errors, posted) from None


def parse_form(
    model: type[Form],
    post,
    names: Callable[[str], str] | None = None,
    context: Any = None,
    **extra: Any,
) -> Form:
    """The posted form as ``model``, or FormError. ``names`` maps a field name to the name it
    is posted under (``show`` → ``show_email`` for one row of a table); ``context`` reaches the
    validators (``info.context``); ``extra`` gives fields that are not read from the form."""
    posted_as = names or (lambda name: name)
    fields = [name for name in model.model_fields if name not in extra]
    limits = {posted_as(name): limit for name, limit in model.read_limits.items()}
    values, errors = read_form(post, [posted_as(n) for n in fields], limits, model.read_limit)
    if errors:
        raise FormError(errors, values)
    return validate_form(
        model, {**values, **{posted_as(k): v for k, v in extra.items()}}, names, context
    )


def first_message(exc: ValidationError) -> str:
    """The first problem's message, for callers that show one line (the CLI, a service)."""
    return next(iter(_messages(exc).values()), "The input is not valid.")


def _messages(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        ctx = error.get("ctx") or {}
        loc = error["loc"]
        name = ctx.get("field") or (str(loc[0]) if loc else "")
        if error["type"] == "form":
            message = ctx["message"]
        elif error["type"] == "missing":
            message = f"The field {name} is required."
        else:  # a type this module does not produce; still a message, never a 500
            message = f"The field {name} is not valid: {error['msg']}."
        errors.setdefault(name, message)
    return errors


# -- field types: form text in, typed values out (named like the types they stand for) ------


def _control(value: str, allowed: str = "") -> bool:
    return any((ord(c) < 32 and c not in allowed) or ord(c) == 127 for c in value)


def Text(
    label: str,
    max_length: int,
    *,
    one_line: bool = False,
    required: bool = False,
    required_message: str | None = None,
):
    """Text, line endings made \\n and trimmed; no control characters but \\n and \\t (and
    neither of those with ``one_line``)."""

    def check(value: Any) -> str:
        if not isinstance(value, str):
            refuse(f"{label} must be text.")
        value = value.replace("\r\n", "\n").strip()
        if required and not value:
            refuse(required_message or f"{label} is required.")
        if len(value) > max_length:
            refuse(f"{label} must be at most {max_length:,} characters.")
        if _control(value, "\n\t"):
            refuse(f"{label} contains control characters.")
        if one_line and ("\n" in value or "\t" in value):
            refuse(f"{label} must be one line.")
        return value

    return Annotated[str, PlainValidator(check)]


def WholeNumber(
    label: str,
    low: int,
    high: int,
    *,
    default: int | None = None,
    message: str | None = None,
    optional: bool = False,
):
    """ASCII digits between ``low`` and ``high``; blank is ``default`` when there is one, or
    None when ``optional``."""
    message = message or f"{label} must be a whole number between {low} and {high}."

    def check(value: Any) -> int | None:
        text = value.strip() if isinstance(value, str) else ""
        if not text and (default is not None or optional):
            return default
        if not text.isascii() or not text.isdigit() or len(text) > len(str(high)) + 2:
            refuse(message)
        number = int(text)
        if not low <= number <= high:
            refuse(message)
        return number

    return Annotated[int | None if optional else int, PlainValidator(check)]


_NUMBER_RE = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,6})?$")


def Number(label: str, low: float, high: float):
    """A plain decimal number (no sign, exponent, NaN or infinity) between the bounds."""
    message = f"{label} must be a number between {low:g} and {high:g}."

    def check(value: Any) -> float:
        text = value.strip() if isinstance(value, str) else ""
        if not _NUMBER_RE.match(text):
            refuse(message)
        number = float(text)
        if not math.isfinite(number) or not low <= number <= high:
            refuse(message)
        return number

    return Annotated[float, PlainValidator(check)]


def parse_amount(text: str, label: str, high: Decimal, places: int) -> Decimal:
    """An amount from 0 to ``high`` with at most ``places`` decimals; ValueError otherwise."""
    message = f"{label} must be a number from 0 to {high:,} with at most {places} decimals."
    text = text.strip()
    if not re.fullmatch(rf"[0-9]{{1,12}}(\.[0-9]{{1,{places}}})?", text):
        raise ValueError(message)
    amount = Decimal(text)
    if amount > high:
        raise ValueError(message)
    return amount


def Amount(label: str, high: Decimal, places: int, *, blank: Decimal | None = None):
    """A money amount (see ``parse_amount``); blank is ``blank`` (None: no amount)."""

    def check(value: Any) -> Decimal | None:
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            return blank
        try:
            return parse_amount(text, label, high, places)
        except ValueError as exc:
            refuse(str(exc))

    return Annotated[Decimal | None, PlainValidator(check)]


def Checkbox(*on: str):
    """A tick box: true when the posted value is one of ``on`` (default "1", "on", "true",
    "yes")."""
    accepted = on or ("1", "on", "true", "yes")
    return Annotated[bool, PlainValidator(lambda value: value in accepted)]


def Choice(choices, message: str, *, blank: str | None = None):
    """One of ``choices`` (after trimming); blank is ``blank`` when given."""

    def check(value: Any) -> str:
        text = value.strip() if isinstance(value, str) else ""
        if not text and blank is not None:
            return blank
        if text not in choices:
            refuse(message)
        return text

    return Annotated[str, PlainValidator(check)]

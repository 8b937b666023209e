"""The admin's lead settings forms (general settings, a site's lead form, qualification
questions and rules), as pydantic models read with ``asthron.forms.parse_form``."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, ClassVar

from pydantic import PlainValidator, ValidationInfo, model_validator

from asthron.forms import Checkbox, Choice, FormError, FormModel, WholeNumber, parse_form, refuse
from asthron.leads import normalize
from asthron.leads.models import QUESTION_KINDS, QualificationQuestion
from asthron.leads.qualification import RULE_OPS, validate_rules

FIELD_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
CORE_FORM_FIELDS = {"name": "text", "email": "email", "phone": "phone", "company": "text"}
CUSTOM_FIELD_KINDS = ("text", "textarea", "select")
MAX_CUSTOM_FIELDS = 10
MAX_OPTIONS = 20
MAX_OPTION = 100
MAX_RECIPIENTS = 10
MAX_RULES = 20

Flag = Checkbox("1")


def _words(value: Any) -> str:
    """Text with every run of whitespace made one space."""
    return " ".join(value.split()) if isinstance(value, str) else ""


def _options(value: Any) -> list[str]:
    options: list[str] = []
    text = value if isinstance(value, str) else ""
    for part in text.replace("\n", ",").split(","):
        option = " ".join(part.split())
        if not option:
            continue
        if len(option) > MAX_OPTION:
            refuse(f"An option is {MAX_OPTION} characters at most.")
        if option not in options:
            options.append(option)
    if len(options) > MAX_OPTIONS:
        refuse(f"At most {MAX_OPTIONS} options.")
    return options


Options = Annotated[list[str], PlainValidator(_options)]

# -- general settings -----------------------------------------------------------------------


def _phone_region(value: Any) -> str:
    import phonenumbers  # heavy; only this form needs its region list

    region = value.strip().upper() if isinstance(value, str) else ""
    if region not in phonenumbers.SUPPORTED_REGIONS:
        refuse("The phone region is a two-letter country code such as US, GB or DE.")
    return region


class LeadSettingsForm(FormModel):
    read_limit: ClassVar[int] = 10

    phone_region: Annotated[str, PlainValidator(_phone_region)]
    handoff_when_qualified: Flag = False
    notify_when_qualified: Flag = False


# -- a site's lead form ---------------------------------------------------------------------


def _intro(value: Any) -> str:
    intro = _words(value)
    if not intro:
        refuse("Write the text shown above the form.")
    if len(intro) > 500:
        refuse("The intro is 500 characters at most.")
    return intro


def _custom_names(value: Any) -> list[str]:
    names: list[str] = []
    text = value if isinstance(value, str) else ""
    for part in text.replace(",", "\n").split("\n"):
        name = part.strip().lower()
        if not name:
            continue
        if not FIELD_NAME_RE.match(name) or name in CORE_FORM_FIELDS:
            refuse(
                f"“{name[:40]}” cannot be a custom field name: use lower-case letters, digits and "
                "_ (starting with a letter), and not name, email, phone or company."
            )
        if name not in names:
            names.append(name)
    if len(names) > MAX_CUSTOM_FIELDS:
        refuse(f"At most {MAX_CUSTOM_FIELDS} custom fields.")
    return names


def _recipients(value: Any) -> list[str]:
    recipients: list[str] = []
    text = value if isinstance(value, str) else ""
    for part in text.replace(",", "\n").split():
        try:
            email = normalize.email(part)
        except normalize.LeadDataError:
            refuse(f"“{part[:80]}” is not an email address.")
        if email not in recipients:
            recipients.append(email)
    if len(recipients) > MAX_RECIPIENTS:
        refuse(f"At most {MAX_RECIPIENTS} recipients.")
    return recipients


def _label(value: Any) -> str:
    label = _words(value)
    if len(label) > 80:
        refuse("A label is 80 characters at most.")
    return label


class LeadFormForm(FormModel):
    """The form's own settings; each field's row is a ``LeadFieldForm``."""

    read_limits: ClassVar[dict[str, int]] = {
        "intro": 1000,
        "after_messages": 10,
        "custom_fields": 2000,
        "notify_emails": 4000,
        "before_handoff": 5,
        "on_booking_intent": 5,
    }

    intro: Annotated[str, PlainValidator(_intro)]
    after_messages: WholeNumber(
        "After messages",
        0,
        100,
        default=0,
        message="After messages must be a whole number from 0 to 100.",
    ) = 0
    custom_fields: Annotated[list[str], PlainValidator(_custom_names)] = []
    notify_emails: Annotated[list[str], PlainValidator(_recipients)] = []
    before_handoff: Flag = False
    on_booking_intent: Flag = False


class LeadFieldForm(FormModel):
    """One field's row on the lead form, posted as ``show_<name>``, ``label_<name>``…"""

    read_limits: ClassVar[dict[str, int]] = {
        "show": 5,
        "label": 200,
        "order": 10,
        "required": 5,
        "kind": 20,
        "options": 4000,
    }

    show: Flag = False
    label: Annotated[str, PlainValidator(_label)] = ""
    order: WholeNumber(
        "The order", 0, 99, optional=True, message="The order must be a whole number from 0 to 99."
    ) = None
    required: Flag = False
    kind: Choice(
        CUSTOM_FIELD_KINDS,
        "A custom field is one of: " + ", ".join(CUSTOM_FIELD_KINDS) + ".",
        blank="text",
    ) = "text"
    options: Options = []

    @model_validator(mode="after")
    def _choices(self) -> LeadFieldForm:
        if self.kind == "select" and len(self.options) < 2:
            refuse("A choice field needs at least two options.", "options")
        if self.kind != "select":
            self.options = []
        return self


def parse_lead_form(post) -> dict:
    """A site's lead form from the posted fields, or FormError naming every bad field."""
    form = parse_form(LeadFormForm, post)
    fields, errors = [], {}
    for index, name in enumerate([*CORE_FORM_FIELDS, *form.custom_fields]):
        core = name in CORE_FORM_FIELDS
        try:
            row = parse_form(
                LeadFieldForm,
                post,
                names=lambda field, name=name: f"{field}_{name}",
                **({"kind": "text", "options": ""} if core else {}),
            )
        except FormError as exc:
            errors.update(exc.errors)
            continue
        # A custom field that was just named is added to the form as a text field.
        shown = row.show or (not core and not row.label and row.order is None)
        if shown:
            spec = {
                "name": name,
                "label": row.label or name.replace("_", " ").capitalize(),
                "kind": CORE_FORM_FIELDS[name] if core else row.kind,
                "required": row.required,
                "options": row.options,
            }
            fields.append((50 + index if row.order is None else row.order, index, spec))
    if errors:
        raise FormError(errors)
    fields.sort(key=lambda item: (item[0], item[1]))
    specs = [spec for _order, _index, spec in fields]
    if not any(spec["name"] in ("email", "phone") for spec in specs):
        raise FormError({"show_email": "The form needs an email or a phone field."})
    return {"fields": specs, **form.model_dump()}


# -- qualification questions ----------------------------------------------------------------


def _key(value: Any) -> str:
    key = value.strip().lower() if isinstance(value, str) else ""
    if not FIELD_NAME_RE.match(key):
        refuse(
            "The key is lower-case letters, digits and _ (starting with a letter), "
            "40 characters at most."
        )
    return key


def _question_text(value: Any) -> str:
    text = _words(value)
    if not text or len(text) > 300:
        refuse("Write the question (300 characters at most).")
    return text


class QuestionForm(FormModel):
    read_limits: ClassVar[dict[str, int]] = {
        "text": 1000,
        "kind": 20,
        "options": 4000,
        "required": 5,
        "active": 5,
    }

    text: Annotated[str, PlainValidator(_question_text)]
    kind: Choice(QUESTION_KINDS, "The kind is one of: " + ", ".join(QUESTION_KINDS) + ".")
    options: Options = []
    required: Flag = False

    @model_validator(mode="after")
    def _choices(self) -> QuestionForm:
        if self.kind in ("single", "multi") and len(self.options) < 2:
            refuse("A choice question needs at least two options.", "options")
        if self.kind not in ("single", "multi"):
            self.options = []
        return self

    def data(self) -> dict:
        """The question's columns."""
        return self.model_dump(exclude={"active"})


class NewQuestionForm(QuestionForm):
    read_limits: ClassVar[dict[str, int]] = {**QuestionForm.read_limits, "key": 100}

    key: Annotated[str, PlainValidator(_key)]


class QuestionUpdateForm(QuestionForm):
    active: Flag = False


class QuestionMoveForm(FormModel):
    read_limit: ClassVar[int] = 10

    direction: Choice(("up", "down"), "Move the question up or down.")


# -- qualification rules --------------------------------------------------------------------


def _stripped(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


class RuleForm(FormModel):
    """One row of the rules table, posted as ``rule_question_<n>``, ``rule_op_<n>``…; the
    questions by key come in the context. A row without a question is left out."""

    read_limits: ClassVar[dict[str, int]] = {"question": 100, "op": 20, "value": 1000}

    question: Annotated[str, PlainValidator(_stripped)] = ""
    op: Annotated[str, PlainValidator(_stripped)] = ""
    value: Any = ""

    @model_validator(mode="after")
    def _rule(self, info: ValidationInfo) -> RuleForm:
        if not self.question:
            return self
        questions = (info.context or {}).get("questions", {})
        if self.question not in questions:
            refuse("Choose one of the questions.", "question")
        if self.op not in RULE_OPS:
            refuse("The comparison is one of: " + ", ".join(RULE_OPS) + ".", "op")
        self.value = rule_value(questions[self.question], self.op, self.value)
        return self


def rule_value(question: QualificationQuestion, op: str, text: Any):
    """The value a rule compares with, typed for the question's kind."""
    text = _words(text)
    if not text:
        refuse("Each rule needs a value.", "value")
    if len(text) > 300:
        refuse("A rule's value is 300 characters at most.", "value")

    def number(value: str):
        try:
            parsed = float(value.replace(",", ""))
        except ValueError:
            refuse(f"“{value}” is not a number.", "value")
        if parsed != parsed or parsed in (float("inf"), float("-inf")):
            refuse(f"“{value}” is not a number.", "value")
        return int(parsed) if parsed.is_integer() else parsed

    def date(value: str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            refuse(f"“{value}” is not a date like 2026-01-31.", "value")

    if op == "in":
        items = [p.strip() for p in text.split(",") if p.strip()]
        if question.kind == "number":
            return [number(p) for p in items]
        return items
    if op in (">=", "<=", ">", "<"):
        if question.kind == "number":
            return number(text)
        if question.kind == "date":
            return date(text)
        refuse(
            f"{op} compares numbers or dates; “{question.key}” is a {question.kind} question.",
            "value",
        )
    if question.kind == "number":
        return number(text)
    if question.kind == "date":
        return date(text)
    if question.kind in ("single", "multi") and text not in (question.options or []):
        refuse(f"“{text}” is not one of the options of “{question.key}”.", "value")
    return text


def parse_rules(post, questions: list[QualificationQuestion]) -> list[dict]:
    """The rules table, or FormError naming every bad cell."""
    by_key = {q.key: q for q in questions}
    rules, errors = [], {}
    for index in range(MAX_RULES):
        try:
            row = parse_form(
                RuleForm,
                post,
                names=lambda field, index=index: f"rule_{field}_{index}",
                context={"questions": by_key},
            )
        except FormError as exc:
            errors.update(exc.errors)
            continue
        if row.question:
            rules.append({"question": row.question, "op": row.op, "value": row.value})
    if errors:
        raise FormError(errors)
    try:
        return validate_rules(rules)
    except ValueError as exc:
        raise FormError({"": str(exc)}) from None

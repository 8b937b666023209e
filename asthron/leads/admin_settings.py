"""The admin's lead settings: per-site lead forms, qualification questions and rules."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit
from asthron.audit.service import Actor
from asthron.leads import normalize
from asthron.leads.models import (
    QUESTION_KINDS,
    LeadForm,
    LeadSettings,
    QualificationQuestion,
)
from asthron.leads.qualification import RULE_OPS, validate_rules
from asthron.leads.validation import LeadInputError

# -- admin settings: per-site lead forms, questions, rules ----------------------------------

FIELD_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
CORE_FORM_FIELDS = {"name": "text", "email": "email", "phone": "phone", "company": "text"}
CUSTOM_FIELD_KINDS = ("text", "textarea", "select")
MAX_CUSTOM_FIELDS = 10
MAX_OPTIONS = 20
MAX_OPTION = 100
MAX_RECIPIENTS = 10
MAX_RULES = 20
MAX_QUESTIONS = 50


def _flag(value: str) -> bool:
    return value == "1"


def _int(value: str, name: str, label: str, low: int, high: int) -> int:
    value = value.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 6 and low <= int(value) <= high):
        raise LeadInputError(f"{label} must be a whole number from {low} to {high}.", name)
    return int(value)


def _options(text: str, name: str) -> list[str]:
    options = []
    for part in text.replace("\n", ",").split(","):
        option = " ".join(part.split())
        if not option:
            continue
        if len(option) > MAX_OPTION:
            raise LeadInputError(f"An option is {MAX_OPTION} characters at most.", name)
        if option not in options:
            options.append(option)
    if len(options) > MAX_OPTIONS:
        raise LeadInputError(f"At most {MAX_OPTIONS} options.", name)
    return options


def parse_custom_names(text: str) -> list[str]:
    names = []
    for part in text.replace(",", "\n").split("\n"):
        name = part.strip().lower()
        if not name:
            continue
        if not FIELD_NAME_RE.match(name) or name in CORE_FORM_FIELDS:
            raise LeadInputError(
                f"“{name[:40]}” cannot be a custom field name: use lower-case letters, digits and "
                "_ (starting with a letter), and not name, email, phone or company.",
                "custom_fields",
            )
        if name not in names:
            names.append(name)
    if len(names) > MAX_CUSTOM_FIELDS:
        raise LeadInputError(f"At most {MAX_CUSTOM_FIELDS} custom fields.", "custom_fields")
    return names


def parse_recipients(text: str) -> list[str]:
    recipients = []
    for part in text.replace(",", "\n").split():
        try:
            email = normalize.email(part)
        except normalize.LeadDataError:
            raise LeadInputError(
                f"“{part[:80]}” is not an email address.", "notify_emails"
            ) from None
        if email not in recipients:
            recipients.append(email)
    if len(recipients) > MAX_RECIPIENTS:
        raise LeadInputError(f"At most {MAX_RECIPIENTS} recipients.", "notify_emails")
    return recipients


def form_rows(form) -> list[dict]:
    """Every field the admin may place on a site's form, shown or not, in the form's order."""
    by_name = {f.get("name"): f for f in (form.fields or []) if isinstance(f, dict)}
    rows = []
    names = list(CORE_FORM_FIELDS) + [n for n in form.custom_fields or [] if isinstance(n, str)]
    order = {f.get("name"): i for i, f in enumerate(form.fields or []) if isinstance(f, dict)}
    for index, name in enumerate(names):
        spec = by_name.get(name)
        rows.append(
            {
                "name": name,
                "custom": name not in CORE_FORM_FIELDS,
                "shown": spec is not None,
                "label": (spec or {}).get("label") or name.replace("_", " ").capitalize(),
                "kind": (spec or {}).get("kind") or CORE_FORM_FIELDS.get(name, "text"),
                "required": bool((spec or {}).get("required")),
                "options": ", ".join((spec or {}).get("options") or []),
                "order": order.get(name, len(names) + index),
            }
        )
    rows.sort(key=lambda r: (not r["shown"], r["order"]))
    for position, row in enumerate(rows):
        row["order"] = position
    return rows


def parse_lead_form(get) -> dict:
    """A site's lead form from the posted fields; ``get(name, max_length)`` reads one."""
    intro = " ".join(get("intro", 1000).split())
    if not intro:
        raise LeadInputError("Write the text shown above the form.", "intro")
    if len(intro) > 500:
        raise LeadInputError("The intro is 500 characters at most.", "intro")
    after_messages = _int(
        get("after_messages", 10) or "0", "after_messages", "After messages", 0, 100
    )
    custom_names = parse_custom_names(get("custom_fields", 2000))
    recipients = parse_recipients(get("notify_emails", 4000))
    fields = []
    for index, name in enumerate(list(CORE_FORM_FIELDS) + custom_names):
        shown = _flag(get(f"show_{name}", 5))
        label_text = get(f"label_{name}", 200)
        order_text = get(f"order_{name}", 10)
        if name not in CORE_FORM_FIELDS and not (label_text or order_text):
            shown = True  # a custom field just named: added to the form as a text field
        label = " ".join(label_text.split()) or name.replace("_", " ").capitalize()
        if len(label) > 80:
            raise LeadInputError("A label is 80 characters at most.", f"label_{name}")
        required = _flag(get(f"required_{name}", 5))
        order = _int(order_text, f"order_{name}", "The order", 0, 99) if order_text else 50 + index
        if name in CORE_FORM_FIELDS:
            kind, options = CORE_FORM_FIELDS[name], []
        else:
            kind = get(f"kind_{name}", 20) or "text"
            if kind not in CUSTOM_FIELD_KINDS:
                raise LeadInputError(
                    "A custom field is one of: " + ", ".join(CUSTOM_FIELD_KINDS) + ".",
                    f"kind_{name}",
                )
            options = _options(get(f"options_{name}", 4000), f"options_{name}")
            if kind == "select" and len(options) < 2:
                raise LeadInputError(
                    "A choice field needs at least two options.", f"options_{name}"
                )
            if kind != "select":
                options = []
        if shown:
            fields.append(
                (
                    order,
                    index,
                    {
                        "name": name,
                        "label": label,
                        "kind": kind,
                        "required": required,
                        "options": options,
                    },
                )
            )
    fields.sort(key=lambda item: (item[0], item[1]))
    specs = [spec for _order, _index, spec in fields]
    if not any(spec["name"] in ("email", "phone") for spec in specs):
        raise LeadInputError("The form needs an email or a phone field.", "show_email")
    return {
        "fields": specs,
        "custom_fields": custom_names,
        "intro": intro,
        "after_messages": after_messages,
        "before_handoff": _flag(get("before_handoff", 5)),
        "on_booking_intent": _flag(get("on_booking_intent", 5)),
        "notify_emails": recipients,
    }


def save_lead_form(db: Session, actor: Actor, site_id: int, data: dict):

    form = db.get(LeadForm, site_id)
    if form is None:
        form = LeadForm(site_id=site_id)
        db.add(form)
    for key, value in data.items():
        setattr(form, key, value)
    db.flush()
    audit.record(
        db,
        actor,
        "lead_form.update",
        "site",
        site_id,
        {
            "fields": [f["name"] for f in data["fields"]],
            "custom_fields": data["custom_fields"],
            "recipients": len(data["notify_emails"]),
        },
    )
    return form


def parse_phone_region(text: str) -> str:
    import phonenumbers

    region = text.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise LeadInputError(
            "The phone region is a two-letter country code such as US, GB or DE.", "phone_region"
        )
    return region


def _settings_row(db: Session):

    row = db.get(LeadSettings, 1)
    if row is None:
        row = LeadSettings(
            id=1,
            rules=[],
            handoff_when_qualified=False,
            notify_when_qualified=True,
            phone_region="US",
        )
        db.add(row)
    return row


def save_settings(db: Session, actor: Actor, region: str, handoff: bool, notify: bool) -> None:
    row = _settings_row(db)
    row.phone_region = region
    row.handoff_when_qualified = handoff
    row.notify_when_qualified = notify
    db.flush()
    audit.record(
        db,
        actor,
        "lead_settings.update",
        "lead_settings",
        1,
        {
            "phone_region": region,
            "handoff_when_qualified": handoff,
            "notify_when_qualified": notify,
        },
    )


def all_questions(db: Session) -> list[QualificationQuestion]:
    return list(
        db.scalars(
            sa.select(QualificationQuestion).order_by(
                QualificationQuestion.position, QualificationQuestion.id
            )
        )
    )


def parse_question(get, key_required: bool) -> dict:

    data = {}
    if key_required:
        key = get("key", 100).strip().lower()
        if not FIELD_NAME_RE.match(key):
            raise LeadInputError(
                "The key is lower-case letters, digits and _ (starting with a letter), "
                "40 characters at most.",
                "key",
            )
        data["key"] = key
    text = " ".join(get("text", 1000).split())
    if not text or len(text) > 300:
        raise LeadInputError("Write the question (300 characters at most).", "text")
    kind = get("kind", 20)
    if kind not in QUESTION_KINDS:
        raise LeadInputError("The kind is one of: " + ", ".join(QUESTION_KINDS) + ".", "kind")
    options = _options(get("options", 4000), "options")
    if kind in ("single", "multi") and len(options) < 2:
        raise LeadInputError("A choice question needs at least two options.", "options")
    if kind not in ("single", "multi"):
        options = []
    data.update(text=text, kind=kind, options=options, required=_flag(get("required", 5)))
    return data


def add_question(db: Session, actor: Actor, data: dict) -> QualificationQuestion:
    if db.scalar(sa.select(sa.func.count(QualificationQuestion.id))) >= MAX_QUESTIONS:
        raise LeadInputError(f"At most {MAX_QUESTIONS} questions.")
    if db.scalar(
        sa.select(QualificationQuestion.id).where(QualificationQuestion.key == data["key"])
    ):
        raise LeadInputError("Another question already has this key.", "key")
    position = (db.scalar(sa.select(sa.func.max(QualificationQuestion.position))) or 0) + 1
    question = QualificationQuestion(position=position, active=True, **data)
    try:
        with db.begin_nested():
            db.add(question)
            db.flush()
    except sa.exc.IntegrityError:
        raise LeadInputError("Another question already has this key.", "key") from None
    audit.record(
        db,
        actor,
        "lead_question.create",
        "lead_question",
        question.id,
        {"key": question.key, "kind": question.kind},
    )
    return question


def update_question(
    db: Session, actor: Actor, question: QualificationQuestion, data: dict, active: bool
) -> None:
    for key, value in data.items():
        setattr(question, key, value)
    question.active = active
    db.flush()
    audit.record(
        db,
        actor,
        "lead_question.update",
        "lead_question",
        question.id,
        {"key": question.key, "kind": question.kind, "active": active},
    )


def move_question(db: Session, actor: Actor, question: QualificationQuestion, up: bool) -> None:
    ordered = all_questions(db)
    index = next(i for i, q in enumerate(ordered) if q.id == question.id)
    other = index - 1 if up else index + 1
    if 0 <= other < len(ordered):
        ordered[index], ordered[other] = ordered[other], ordered[index]
    for position, item in enumerate(ordered):
        item.position = position
    db.flush()
    audit.record(
        db,
        actor,
        "lead_question.move",
        "lead_question",
        question.id,
        {"direction": "up" if up else "down"},
    )


def _rule_value(question: QualificationQuestion, op: str, text: str, field_name: str):
    text = " ".join(text.split())
    if not text:
        raise LeadInputError("Each rule needs a value.", field_name)
    if len(text) > 300:
        raise LeadInputError("A rule's value is 300 characters at most.", field_name)

    def number(value: str):
        try:
            parsed = float(value.replace(",", ""))
        except ValueError:
            raise LeadInputError(f"“{value}” is not a number.", field_name) from None
        if parsed != parsed or parsed in (float("inf"), float("-inf")):
            raise LeadInputError(f"“{value}” is not a number.", field_name)
        return int(parsed) if parsed.is_integer() else parsed

    def date(value: str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            raise LeadInputError(f"“{value}” is not a date like 2026-01-31.", field_name) from None

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
        raise LeadInputError(
            f"{op} compares numbers or dates; “{question.key}” is a {question.kind} question.",
            field_name,
        )
    if question.kind == "number":
        return number(text)
    if question.kind == "date":
        return date(text)
    if question.kind in ("single", "multi") and text not in (question.options or []):
        raise LeadInputError(f"“{text}” is not one of the options of “{question.key}”.", field_name)
    return text


def parse_rules(db: Session, get, rows: int) -> list[dict]:

    questions = {q.key: q for q in all_questions(db)}
    rules = []
    for index in range(min(rows, MAX_RULES)):
        key = get(f"rule_question_{index}", 100).strip()
        op = get(f"rule_op_{index}", 20).strip()
        value = get(f"rule_value_{index}", 1000)
        if not key:
            continue
        if key not in questions:
            raise LeadInputError("Choose one of the questions.", f"rule_question_{index}")
        if op not in RULE_OPS:
            raise LeadInputError(
                "The comparison is one of: " + ", ".join(RULE_OPS) + ".", f"rule_op_{index}"
            )
        rules.append(
            {
                "question": key,
                "op": op,
                "value": _rule_value(questions[key], op, value, f"rule_value_{index}"),
            }
        )
    try:
        return validate_rules(rules)
    except ValueError as exc:
        raise LeadInputError(str(exc)) from None


def save_rules(db: Session, actor: Actor, rules: list[dict]) -> None:
    row = _settings_row(db)
    row.rules = rules
    db.flush()
    audit.record(
        db,
        actor,
        "lead_rules.update",
        "lead_settings",
        1,
        {"rules": [f"{r['question']} {r['op']} {r['value']}" for r in rules]},
    )


def rule_text(value) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)

"""The admin's lead settings: per-site lead forms, qualification questions and rules (their
forms are in ``leads/forms.py``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit
from asthron.audit.service import Actor
from asthron.leads.forms import CORE_FORM_FIELDS
from asthron.leads.models import LeadForm, LeadSettings, QualificationQuestion
from asthron.leads.validation import LeadInputError

# -- admin settings: per-site lead forms, questions, rules ----------------------------------

MAX_QUESTIONS = 50


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

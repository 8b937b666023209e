"""Qualification: admin-defined questions, answers stored structured with the message they
came from, and admin rules that decide when a lead is qualified."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit, domain_events
from asthron.audit.service import Actor
from asthron.db import utcnow
from asthron.leads.capture import activity, lead_settings
from asthron.leads.models import Lead, QualificationAnswer, QualificationQuestion
from asthron.snapshots import snapshots

RULE_OPS = ("==", "!=", ">=", "<=", ">", "<", "in", "contains")
NUMBER_RE = re.compile(r"(\d[\d,. ]*)\s*(k|thousand|m|million)?\b", re.IGNORECASE)


class QualificationError(ValueError):
    pass


def questions(db: Session) -> list[QualificationQuestion]:
    return list(
        db.scalars(
            sa.select(QualificationQuestion)
            .where(QualificationQuestion.active.is_(True))
            .order_by(QualificationQuestion.position, QualificationQuestion.id)
        )
    )


def any_active_question(db: Session) -> bool:
    """Whether qualification is in use at all, from a snapshot (``asthron.snapshots``): when
    it is not, a visitor's message needs no lookup of its lead for it."""

    return snapshots(db).get("qualification_in_use", lambda: bool(questions(db)))


def answers(db: Session, lead_id: int) -> dict[str, object]:
    rows = db.execute(
        sa.select(QualificationQuestion.key, QualificationAnswer.value)
        .join(QualificationAnswer, QualificationAnswer.question_id == QualificationQuestion.id)
        .where(QualificationAnswer.lead_id == lead_id)
    )
    return {key: value.get("v") for key, value in rows}


def next_question(db: Session, lead_id: int | None) -> QualificationQuestion | None:
    """The first active question not yet answered, in the admin's order."""
    answered = set(answers(db, lead_id)) if lead_id else set()
    for question in questions(db):
        if question.key not in answered:
            return question
    return None


def _number(text: str) -> float | None:
    match = NUMBER_RE.search(text.replace("$", " ").replace("€", " ").replace("£", " "))
    if not match:
        return None
    digits = match.group(1).strip().replace(" ", "")
    # "5,000" and "5.000" are thousands; "2.5" is a decimal.
    if re.fullmatch(r"\d{1,3}([,.]\d{3})+", digits):
        digits = re.sub(r"[,.]", "", digits)
    else:
        digits = digits.replace(",", ".")
    try:
        value = float(Decimal(digits))
    except (InvalidOperation, ValueError):
        return None
    unit = (match.group(2) or "").lower()
    if unit in ("k", "thousand"):
        value *= 1_000
    elif unit in ("m", "million"):
        value *= 1_000_000
    return value


def _options_in(text: str, options: list[str]) -> list[str]:
    lowered = text.lower()
    return [o for o in options if o.lower() in lowered]


def parse_answer(question: QualificationQuestion, text) -> object | None:
    """A deterministic reading of a free-text answer; None when it does not fit."""
    if not isinstance(text, str) or not text.strip():
        return None
    text = text.strip()
    if question.kind == "text":
        return text[:500]
    if question.kind == "number":
        return _number(text)
    if question.kind == "single":
        found = _options_in(text, question.options or [])
        return found[0] if len(found) == 1 else None
    if question.kind == "multi":
        return _options_in(text, question.options or []) or None
    if question.kind == "date":
        for pattern in ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y"):
            try:
                return dt.datetime.strptime(text[:10], pattern).date().isoformat()
            except ValueError:
                continue
        return None
    return None


def validate_value(question: QualificationQuestion, value) -> object:
    """Check a value given as structured data (a form, or model output)."""
    kind = question.kind
    ok = (
        (kind == "text" and isinstance(value, str) and 0 < len(value) <= 500)
        or (kind == "number" and isinstance(value, int | float) and not isinstance(value, bool))
        or (kind == "single" and value in (question.options or []))
        or (
            kind == "multi"
            and isinstance(value, list)
            and value
            and all(v in (question.options or []) for v in value)
        )
        or (kind == "date" and isinstance(value, str) and _is_date(value))
    )
    if not ok:
        raise QualificationError(f"{value!r} is not a valid answer to “{question.text}”.")
    return value


def _is_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def record_answer(
    db: Session,
    lead: Lead,
    question: QualificationQuestion,
    value,
    event_id: int | None,
    actor: Actor,
) -> QualificationAnswer:
    value = validate_value(question, value)
    answer = db.scalar(
        sa.select(QualificationAnswer).where(
            QualificationAnswer.lead_id == lead.id, QualificationAnswer.question_id == question.id
        )
    )
    if answer is None:
        answer = QualificationAnswer(lead_id=lead.id, question_id=question.id)
        db.add(answer)
    answer.value, answer.event_id, answer.answered_at = {"v": value}, event_id, utcnow()
    activity(db, lead, "answer", f"{question.text} → {value}", actor, question=question.key)
    db.flush()
    return answer


def validate_rules(rules) -> list[dict]:
    if not isinstance(rules, list) or len(rules) > 20:
        raise QualificationError("Rules must be a list of at most 20 conditions.")
    clean = []
    for rule in rules:
        if not isinstance(rule, dict) or rule.get("op") not in RULE_OPS:
            raise QualificationError(
                f"Each rule needs a question, an op ({', '.join(RULE_OPS)}) and a value."
            )
        if not isinstance(rule.get("question"), str) or "value" not in rule:
            raise QualificationError("Each rule needs a question key and a value.")
        clean.append({"question": rule["question"], "op": rule["op"], "value": rule["value"]})
    return clean


def _holds(rule: dict, value) -> bool:
    op, expected = rule["op"], rule["value"]
    if value is None:
        return False
    try:
        if op == "==":
            return value == expected
        if op == "!=":
            return value != expected
        if op == "in":
            return value in expected
        if op == "contains":
            return expected in value
        left, right = (
            (float(value), float(expected))
            if not isinstance(value, str) or not _is_date(value)
            else (value, str(expected))
        )
        return {">=": left >= right, "<=": left <= right, ">": left > right, "<": left < right}[op]
    except (TypeError, ValueError):
        return False


def is_qualified(rules: list[dict], given: dict) -> bool:
    return bool(rules) and all(_holds(rule, given.get(rule["question"])) for rule in rules)


def evaluate(db: Session, lead: Lead, actor: Actor, conversation_id: int | None = None) -> bool:
    """Re-check the rules; returns True when the lead has just become qualified (in the
    conversation ``conversation_id``, when it happened in a chat)."""
    settings = lead_settings(db)
    if lead.qualified or not is_qualified(settings.rules or [], answers(db, lead.id)):
        return False
    lead.qualified, lead.qualified_at = True, utcnow()
    if lead.status in ("new", "contacted"):
        lead.status = "qualified"
    activity(db, lead, "qualified", "The lead met the qualification rules.", actor)
    audit.record(db, actor, "lead.qualified", "lead", lead.id, {})
    domain_events.record(db, "lead.qualified", lead_id=lead.id, conversation_id=conversation_id)
    return True


def question_text(question) -> str:
    options = f" ({', '.join(question.options)})" if question.options else ""
    return question.text + options


def question_instruction(question) -> str:
    return (
        "After answering, ask the visitor this one qualification question in your own words, "
        f"naturally and only this one: {question_text(question)}"
    )

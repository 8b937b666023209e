"""Emails the owner may reword: the registry of editable templates with sample values for
the preview, and the sandbox their wording is rendered in.

Each feature registers the emails it sends (``config.add_email_template(name, description,
sample)``) next to where it sends them. The owner's wording (``EmailTemplate``) replaces the
files in ``templates/email`` and is rendered by Jinja2's immutable sandbox: it can read the
values an email is given, never call into the application or change anything.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

log = logging.getLogger(__name__)

REGISTRY_KEY = "editable_emails"
MAX_SUBJECT = 250
MAX_TEXT = 20_000
MAX_HTML = 50_000


@dataclass(frozen=True)
class EditableEmail:
    name: str
    description: str
    # Values like the ones the email is sent with, for the preview and for checking a draft.
    sample: Mapping[str, Any]


@dataclass(frozen=True)
class Wording:
    subject: str
    text: str
    html: str | None


class TemplateProblem(ValueError):
    """A draft that does not render; ``part`` is subject, text or html."""

    def __init__(self, part: str, message: str):
        self.part = part
        super().__init__(message)


def _environment(*, html: bool, strict: bool) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        autoescape=html, undefined=StrictUndefined if strict else Undefined
    )


_TEXT = _environment(html=False, strict=False)
_HTML = _environment(html=True, strict=False)
_STRICT_TEXT = _environment(html=False, strict=True)
_STRICT_HTML = _environment(html=True, strict=True)


def render_wording(wording: Wording, values: Mapping[str, Any], *, strict: bool = False):
    """(subject, text, html) of the owner's wording. ``strict`` refuses names the values do
    not have (used to check a draft against the sample); sending is lenient."""
    text_env, html_env = (_STRICT_TEXT, _STRICT_HTML) if strict else (_TEXT, _HTML)
    rendered = {}
    for part, source, env in (
        ("subject", wording.subject, text_env),
        ("text", wording.text, text_env),
        ("html", wording.html, html_env),
    ):
        if source is None or (part == "html" and not source.strip()):
            rendered[part] = None
            continue
        try:
            rendered[part] = env.from_string(source).render(dict(values))
        except SecurityError as exc:
            raise TemplateProblem(part, f"Not allowed in an email template: {exc}") from None
        except TemplateError as exc:
            line = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
            raise TemplateProblem(part, f"{exc.message or exc}{line}") from None
        except Exception as exc:  # a value's own error (a bad format string, say)
            raise TemplateProblem(part, f"The template failed: {exc}") from None
    return " ".join(rendered["subject"].split()), rendered["text"], rendered["html"]


def check_draft(editable: EditableEmail, wording: Wording) -> tuple[str, str, str | None]:
    """The preview of a draft with the sample values, or TemplateProblem."""
    if not wording.subject.strip():
        raise TemplateProblem("subject", "The subject cannot be empty.")
    if not wording.text.strip():
        raise TemplateProblem("text", "The plain-text version cannot be empty.")
    if len(wording.subject) > MAX_SUBJECT:
        raise TemplateProblem("subject", f"The subject is at most {MAX_SUBJECT} characters.")
    if len(wording.text) > MAX_TEXT:
        raise TemplateProblem("text", f"The text is at most {MAX_TEXT} characters.")
    if wording.html and len(wording.html) > MAX_HTML:
        raise TemplateProblem("html", f"The HTML is at most {MAX_HTML} characters.")
    return render_wording(wording, editable.sample, strict=True)


def editable_emails(registry) -> dict[str, EditableEmail]:
    return registry.get(REGISTRY_KEY, {})


def _add_email_template(config, name: str, description: str, sample: Mapping[str, Any]):
    config.registry.setdefault(REGISTRY_KEY, {})[name] = EditableEmail(name, description, sample)


def includeme(config):
    config.add_directive("add_email_template", _add_email_template)

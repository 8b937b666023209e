"""Classes from SECURITY.md that no feature test pinned down on its own: a widget that never
parses HTML, SQL never built from strings, secrets that rotate, and a model with no agency
beyond text and closed schemas. docs/security.md maps every class to its tests."""

from __future__ import annotations

import re

import jsonschema
import pytest

from tests.conftest import ROOT

# -- stored XSS: the widget only ever makes Text nodes ---------------------------------------

HTML_SINKS = re.compile(
    r"\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write|\beval\(|new Function\b"
    r"|DOMParser|createContextualFragment|srcdoc"
)


def test_the_widget_never_parses_html():
    sources = sorted((ROOT / "widget" / "src").glob("*.js"))
    assert sources
    for path in [*sources, ROOT / "asthron" / "static" / "widget.js"]:
        found = HTML_SINKS.findall(path.read_text())
        assert not found, f"{path.relative_to(ROOT)} uses {found}"


# -- SQL injection: queries are parameterised, never formatted --------------------------------

SQL_FROM_STRINGS = re.compile(
    r"""(?:\btext|\.execute|exec_driver_sql)\(\s*(?:f["']|["'][^"']*["']\s*(?:%|\.format\(|\+))"""
)
# Formatted SQL that takes nothing from input, with the reason.
SQL_ALLOWED = {
    ("asthron/realtime.py", 'execute(f"LISTEN {self.CHANNEL}")'): "a class constant",
}


def test_no_sql_is_built_by_formatting_strings():
    offenders = []
    for path in sorted((ROOT / "asthron").rglob("*.py")):
        text = path.read_text()
        for match in SQL_FROM_STRINGS.finditer(text):
            line = text[: match.start()].count("\n") + 1
            source = text.splitlines()[line - 1].strip()
            relative = str(path.relative_to(ROOT))
            if not any(relative == p and snippet in source for p, snippet in SQL_ALLOWED):
                offenders.append(f"{relative}:{line}: {source}")
    assert not offenders, "\n".join(offenders)


# -- secrets at rest: Fernet with rotation, never shown in full -------------------------------


def test_secrets_rotate_to_a_new_key_and_are_never_shown_in_full():
    from asthron.security.crypto import SecretBox, SecretDecryptionError, masked, new_key

    old, new = new_key(), new_key()
    token = SecretBox([old]).encrypt("sk-live-Secret-value-1234")
    assert "Secret" not in token
    rotating = SecretBox([new, old])  # the new key first: it encrypts, both decrypt
    assert rotating.decrypt(token) == "sk-live-Secret-value-1234"
    rotated = rotating.rotate(token)
    assert SecretBox([new]).decrypt(rotated) == "sk-live-Secret-value-1234"
    with pytest.raises(SecretDecryptionError):
        SecretBox([new_key()]).decrypt(token)
    assert masked("sk-live-Secret-value-1234") == "••••1234"
    assert masked("short") == "••••"


# -- excessive agency (LLM06): no tools, and structured output is a closed schema -------------


@pytest.fixture
def fake_llm():
    from tests.fakes.llm_server import FakeLLMServer

    server = FakeLLMServer().start()
    yield server
    server.stop()


@pytest.mark.parametrize("kind", ["openai", "ollama", "anthropic"])
def test_the_model_is_offered_no_tools(kind, fake_llm):
    """Nothing the model says can call a function: requests carry no tool or function list.
    Adding one must come with a fixed list, validated arguments and our own authorisation."""
    from asthron.assistant.providers.base import ChatMessage
    from asthron.assistant.providers.factory import ProviderSettings, build_provider

    base = fake_llm.openai_base_url if kind == "openai" else fake_llm.url
    provider = build_provider(ProviderSettings(kind, "m", base, api_key="k", total_timeout=10))
    try:
        list(provider.stream_chat([ChatMessage("user", "Book me a table and charge my card")]))
    finally:
        provider.close()
    bodies = [r.body for r in fake_llm.requests if isinstance(r.body, dict)]
    assert bodies
    for body in bodies:
        offered = {k for k in ("tools", "tool_choice", "functions", "function_call") if body.get(k)}
        assert not offered, body  # the ollama package sends "tools": [], which offers none


def test_the_handoff_decision_schema_admits_no_other_action():
    """The only thing the model decides is a yes/no handoff with a short reason; what a handoff
    does (queue for a person) is our code. Extra keys fail validation and are ignored."""
    from asthron.assistant.providers.base import StructuredOutputError, validate_structured
    from asthron.inbox.triggers import DECISION_SCHEMA

    jsonschema.Draft202012Validator.check_schema(DECISION_SCHEMA)
    assert DECISION_SCHEMA["additionalProperties"] is False
    ok = validate_structured(
        '{"handoff": true, "answered": false, "reason": "angry"}', DECISION_SCHEMA
    )
    assert ok == {"handoff": True, "answered": False, "reason": "angry"}
    for text in (
        '{"handoff": true, "answered": false, "reason": "x", "assign_to": 1}',
        '{"handoff": true, "answered": false, "reason": "x", "close": true}',
        '{"handoff": "yes", "answered": false, "reason": "x"}',
        '{"handoff": true, "answered": false, "reason": "' + "x" * 301 + '"}',
    ):
        with pytest.raises(StructuredOutputError):
            validate_structured(text, DECISION_SCHEMA)


def _callers(names: set[str]) -> dict[str, set[str]]:
    """Which function of which module calls any of ``names`` (as f() or x.f())."""
    import ast

    found: dict[str, set[str]] = {}
    for path in (ROOT / "asthron").rglob("*.py"):
        module = path.relative_to(ROOT).as_posix()
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Call):
                    name = getattr(node.func, "attr", getattr(node.func, "id", None))
                    owner = getattr(getattr(node.func, "value", None), "id", None)
                    if name in names and owner != "click":  # click.confirm asks a y/n question
                        found.setdefault(module, set()).add(function.name)
    return found


def test_only_the_visitors_own_submission_books_and_pays():
    """SECURITY.md asks for explicit visitor confirmation before a booking or a payment
    (excessive agency). A slot is reserved only by the booking page's POST, which the visitor
    submits themselves, or confirmed because the visitor paid for it on Stripe's page; no hook
    the assistant runs and no background task may reserve one. A Checkout Session is made only
    by the pay page's POST (the visitor's Pay button), a payment request only by staff."""
    reserving = _callers({"book", "hold", "confirm"})
    assert set(reserving) <= {
        "asthron/bookings/views.py",
        "asthron/bookings/service.py",
        "asthron/bookings/payment_events.py",
        "asthron/bookings/card.py",
    }, reserving
    assert reserving["asthron/bookings/views.py"] == {"booking_post"}
    # The chat's booking card (bookings/card.py) acts only when its widget endpoints call it,
    # on the visitor's click; no hook the assistant runs does.
    assert set(_callers({"hold_slot", "confirm_slot"})) == {"asthron/bookings/widget_views.py"}
    # hold: the visitor's paid booking; confirm: their payment came through.
    assert reserving["asthron/bookings/payment_events.py"] == {
        "hold_for_payment",
        "confirm_paid_booking",
    }
    assert _callers({"hold_for_payment"}) == {"asthron/bookings/views.py": {"booking_post"}}
    # The chat card's hold waits for payment only once the visitor gave their details.
    assert _callers({"await_payment"}) == {
        "asthron/bookings/payment_events.py": {"hold_for_payment"},
        "asthron/bookings/card.py": {"_awaiting_payment"},
    }
    assert _callers({"confirm_paid_booking"}) == {}  # only as the payment.succeeded subscriber
    # Checkout Sessions: made by the pay page's POST only.
    assert _callers({"checkout_url"}) == {"asthron/payments/views.py": {"pay_start"}}
    sessions = {m: f for m, f in _callers({"create"}).items() if m.startswith("asthron/payments")}
    assert sessions == {"asthron/payments/service.py": {"checkout_url", "perform_refund"}}
    # Payment requests: a staff member's POST only.
    assert _callers({"request_payment"}) == {"asthron/payments/views.py": {"request_send"}}

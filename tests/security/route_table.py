"""The expectations table for every route of the app: who may call it, with which method.

Tests compare this table with the routes and views the registry actually has, so a route or a
method added without an entry here fails the suite until someone decides who may use it.
"""

from __future__ import annotations

ANYONE = "anyone"  # public pages: login, invitation links, health, the widget script
LOGGED_IN = frozenset({"owner", "admin", "staff"})
MANAGERS = frozenset({"owner", "admin"})
OWNER = frozenset({"owner"})
ROLES = ("owner", "admin", "staff")

ROUTES: dict[str, dict[str, object]] = {
    "health.check": {"GET": ANYONE},
    "dashboard.home": {"GET": LOGGED_IN},
    "accounts.login": {"GET": ANYONE, "POST": ANYONE},
    "accounts.logout": {"POST": ANYONE},
    "accounts.password": {"GET": LOGGED_IN, "POST": LOGGED_IN},
    "accounts.sessions": {"GET": LOGGED_IN},
    "accounts.theme": {"POST": LOGGED_IN},
    "accounts.session_revoke": {"POST": LOGGED_IN},
    "accounts.invitation": {"GET": ANYONE, "POST": ANYONE},
    "team.list": {"GET": MANAGERS},
    "team.invite": {"POST": MANAGERS},
    "team.invitation_revoke": {"POST": MANAGERS},
    "team.set_role": {"POST": MANAGERS},
    "team.deactivate": {"POST": MANAGERS},
    "team.reactivate": {"POST": MANAGERS},
    "team.sessions": {"GET": MANAGERS},
    "team.sessions_revoke": {"POST": MANAGERS},
    "audit.list": {"GET": MANAGERS},
    "audit.export": {"POST": MANAGERS},
    "privacy.page": {"GET": OWNER},
    "privacy.retention": {"POST": OWNER},
    "privacy.export": {"POST": OWNER},
    "privacy.erase": {"POST": OWNER},
    "privacy.public": {"GET": ANYONE},
    "sites.privacy_policy": {"POST": MANAGERS},
    "integrations.email": {"GET": OWNER, "POST": OWNER},
    "integrations.email_test": {"POST": OWNER},
    "integrations.email_templates": {"GET": OWNER},
    "integrations.email_template": {"GET": OWNER, "POST": OWNER},
    "alerts.rules": {"GET": MANAGERS, "POST": MANAGERS},
    "alerts.rule": {"GET": MANAGERS, "POST": MANAGERS},
    "alerts.rule_delete": {"POST": MANAGERS},
    "sites.list": {"GET": MANAGERS},
    "sites.create": {"GET": MANAGERS, "POST": MANAGERS},
    "sites.edit": {"GET": MANAGERS, "POST": MANAGERS},
    "sites.identity_secret": {"POST": MANAGERS},
    "sites.preview": {"GET": MANAGERS},
    "sites.avatar": {"POST": MANAGERS},
    "conversations.list": {"GET": LOGGED_IN},
    "conversations.detail": {"GET": LOGGED_IN},
    "conversations.mark_wrong": {"POST": LOGGED_IN},
    "widget.script": {"GET": ANYONE},
    "widget.demo": {"GET": ANYONE},
    "widget.avatar": {"GET": ANYONE},
    "bookings.page": {"GET": ANYONE, "POST": ANYONE},
    "bookings.done": {"GET": ANYONE},
    "bookings.list": {"GET": LOGGED_IN},
    "bookings.agenda": {"GET": LOGGED_IN},
    "bookings.approve": {"POST": LOGGED_IN},
    "bookings.decline": {"POST": LOGGED_IN},
    "bookings.cancel": {"POST": LOGGED_IN},
    "bookings.no_show": {"POST": LOGGED_IN},
    "bookings.reschedule": {"POST": LOGGED_IN},
    "bookings.manage": {"GET": ANYONE},
    "bookings.manage_cancel": {"GET": ANYONE, "POST": ANYONE},
    "bookings.manage_reschedule": {"GET": ANYONE, "POST": ANYONE},
    "bookings.setup": {"GET": MANAGERS},
    "bookings.service_new": {"GET": MANAGERS, "POST": MANAGERS},
    "bookings.service_edit": {"GET": MANAGERS, "POST": MANAGERS},
    "bookings.resource_new": {"GET": MANAGERS, "POST": MANAGERS},
    "bookings.resource_edit": {"GET": MANAGERS, "POST": MANAGERS},
    "bookings.resource_hours": {"POST": MANAGERS},
    "bookings.resource_override": {"POST": MANAGERS},
    "bookings.resource_override_remove": {"POST": MANAGERS},
    "bookings.resource_holidays": {"POST": MANAGERS},
    "bookings.calendars": {"GET": LOGGED_IN},
    "bookings.calendar_caldav": {"POST": LOGGED_IN},
    "bookings.calendar_google_start": {"POST": LOGGED_IN},
    "bookings.calendar_choose": {"POST": LOGGED_IN},
    "bookings.calendar_test": {"POST": LOGGED_IN},
    "bookings.calendar_disconnect": {"POST": LOGGED_IN},
    "bookings.calendar_google_callback": {"GET": LOGGED_IN},
    "bookings.google_app": {"POST": OWNER},
    "payments.pay": {"GET": ANYONE, "POST": ANYONE},
    "payments.booking": {"GET": ANYONE},
    "payments.settings": {"GET": OWNER, "POST": OWNER},
    "payments.check": {"POST": OWNER},
    "payments.list": {"GET": MANAGERS},
    "payments.detail": {"GET": MANAGERS},
    "payments.refund": {"POST": MANAGERS},
    "payments.request": {"GET": LOGGED_IN, "POST": LOGGED_IN},
    "knowledge.list": {"GET": MANAGERS},
    "knowledge.create": {"GET": MANAGERS, "POST": MANAGERS},
    "knowledge.edit": {"GET": MANAGERS, "POST": MANAGERS},
    "knowledge.delete": {"POST": MANAGERS},
    "knowledge.gaps": {"GET": MANAGERS},
    "knowledge.gaps_dismiss": {"POST": MANAGERS},
    "knowledge.synonyms": {"GET": MANAGERS, "POST": MANAGERS},
    "knowledge.sources": {"GET": MANAGERS, "POST": MANAGERS},
    "knowledge.upload": {"POST": MANAGERS},
    "knowledge.source": {"GET": MANAGERS, "POST": MANAGERS},
    "knowledge.source_crawl": {"POST": MANAGERS},
    "knowledge.source_delete": {"POST": MANAGERS},
    "knowledge.crawl": {"GET": MANAGERS},
    "assistant.profile": {"GET": MANAGERS, "POST": MANAGERS},
    "assistant.providers": {"GET": OWNER, "POST": OWNER},
    "assistant.providers_test": {"POST": OWNER},
    "assistant.providers_remove": {"POST": OWNER},
    "assistant.budget": {"POST": OWNER},
    "assistant.prices": {"POST": OWNER},
    "usage.dashboard": {"GET": MANAGERS},
    "inbox.list": {"GET": LOGGED_IN},
    "inbox.stream": {"GET": LOGGED_IN},
    "inbox.heartbeat": {"POST": LOGGED_IN},
    "inbox.presence": {"POST": LOGGED_IN},
    "inbox.detail": {"GET": LOGGED_IN},
    "inbox.panel": {"GET": LOGGED_IN},
    "inbox.events": {"GET": LOGGED_IN},
    "inbox.join": {"POST": LOGGED_IN},
    "inbox.reply": {"POST": LOGGED_IN},
    "inbox.typing": {"POST": LOGGED_IN},
    "inbox.return": {"POST": LOGGED_IN},
    "inbox.close": {"POST": LOGGED_IN},
    "inbox.reopen": {"POST": LOGGED_IN},
    "inbox.note": {"POST": LOGGED_IN},
    "inbox.read": {"POST": LOGGED_IN},
    "inbox.visitor": {"POST": LOGGED_IN},
    "leads.list": {"GET": LOGGED_IN},
    "leads.bulk": {"POST": LOGGED_IN},
    "leads.export": {"POST": LOGGED_IN},
    "leads.detail": {"GET": LOGGED_IN},
    "leads.update": {"POST": LOGGED_IN},
    "leads.status": {"POST": LOGGED_IN},
    "leads.assign": {"POST": LOGGED_IN},
    "leads.tags": {"POST": LOGGED_IN},
    "leads.note": {"POST": LOGGED_IN},
    "leads.ai_note": {"POST": LOGGED_IN},
    "leads.ai_note_regenerate": {"POST": LOGGED_IN},
    "leads.proposal": {"POST": LOGGED_IN},
    "leads.settings": {"GET": MANAGERS, "POST": MANAGERS},
    "leads.rules": {"POST": MANAGERS},
    "leads.questions": {"POST": MANAGERS},
    "leads.question": {"POST": MANAGERS},
    "leads.question_move": {"POST": MANAGERS},
    "leads.site_form": {"GET": MANAGERS, "POST": MANAGERS},
    "webhooks.list": {"GET": MANAGERS, "POST": MANAGERS},
    "webhooks.detail": {"GET": MANAGERS, "POST": MANAGERS},
    "webhooks.test": {"POST": MANAGERS},
    "webhooks.rotate": {"POST": MANAGERS},
    "webhooks.delete": {"POST": MANAGERS},
    "webhooks.delivery": {"GET": MANAGERS},
    "webhooks.redeliver": {"POST": MANAGERS},
    "channels.list": {"GET": MANAGERS, "POST": MANAGERS},
    "channels.detail": {"GET": MANAGERS, "POST": MANAGERS},
    "channels.test": {"POST": MANAGERS},
    "channels.delete": {"POST": MANAGERS},
    "channels.template": {"POST": LOGGED_IN},
}

# Event streams: tests read their status and headers and then hang up, instead of reading a
# body that only ends when the stream does.
STREAMING = frozenset({"inbox.stream", "inbox.events"})

# Routes that are not dashboard routes, with the reason. Only the visitor-facing widget API is
# here: it authenticates visitors with bearer tokens, never cookies, so roles and CSRF do not
# apply; its own tests cover it.
NOT_DASHBOARD_PREFIXES = {
    "widget_api.": "public widget API (visitor bearer tokens, no cookies)",
    "channel_webhooks.": "Meta's webhook (X-Hub-Signature-256 on every delivery, no cookies)",
    "unsubscribe.": "the signed unsubscribe link of reply emails (RFC 8058 one-click, no cookies)",
    "hooks.": "inbound provider webhooks (Stripe), authenticated by their signature",
    "__": "static assets",
}


def is_dashboard(route_name: str) -> bool:
    return not any(route_name.startswith(prefix) for prefix in NOT_DASHBOARD_PREFIXES)


def dashboard_routes(registry) -> dict[str, set[str]]:
    from tests.security.support import route_methods

    return {
        name: methods for name, methods in route_methods(registry).items() if is_dashboard(name)
    }


def check_table_matches(registry) -> None:
    """Fail, naming them, if routes or methods exist that the table does not list (or the
    table lists ones that no longer exist)."""
    actual = {(n, m) for n, methods in dashboard_routes(registry).items() for m in methods}
    expected = {(n, m) for n, methods in ROUTES.items() for m in methods}
    assert not actual - expected, (
        f"routes/methods missing from tests/security/route_table.py: {sorted(actual - expected)}"
    )
    assert not expected - actual, (
        f"routes/methods in the table but not in the app: {sorted(expected - actual)}"
    )


def post_routes(registry) -> list[str]:
    return sorted(n for n, methods in dashboard_routes(registry).items() if "POST" in methods)


def get_routes(registry) -> list[str]:
    return sorted(n for n, methods in dashboard_routes(registry).items() if "GET" in methods)


def valid_form(route_name: str, world) -> dict:
    """Form data that would change something if the request were accepted, so a refused
    request that changes nothing proves the refusal."""
    owner = world.users["owner"]
    new_password = "brand-new-Passw0rd!x"
    forms = {
        "accounts.login": {"email": owner["email"], "password": owner["password"]},
        "accounts.password": {
            "current_password": owner["password"],
            "new_password": new_password,
            "confirm_password": new_password,
        },
        "accounts.invitation": {
            "display_name": "Joiner",
            "password": "invited-Pass-93!x",
            "confirm_password": "invited-Pass-93!x",
        },
        "team.invite": {"email": "new-member@example.com", "role": "staff"},
        "accounts.theme": {"theme": "dark"},
        "team.set_role": {"role": "admin"},
        "audit.export": {"actor": "", "action": "", "since": "", "until": ""},
        "privacy.retention": {"conversations": "30"},
        "sites.privacy_policy": {"privacy_policy_text": "Injected", "effective": "2026-12-01"},
        "privacy.export": {"kind": "email", "value": "nobody@example.com"},
        "privacy.erase": {"kind": "email", "value": "nobody@example.com", "confirm": "erase"},
        "integrations.email": {
            "host": "smtp.example.com",
            "port": "587",
            "security": "starttls",
            "username": "mailer",
            "password": "smtp-Secret-Value-77",
            "from_address": "noreply@example.com",
            "from_name": "Example",
            "timeout_seconds": "15",
        },
        "knowledge.create": {"title": "Injected", "body": "Injected text", "published": "1"},
        "knowledge.synonyms": {"synonyms": "injected, words"},
        "assistant.profile": {
            "business_name": "Injected",
            "reply_max_chars": "500",
            "turn_cap": "10",
        },
        "assistant.providers": {
            "slot": "primary",
            "kind": "openai",
            "base_url": "https://api.example.com/v1",
            "model": "m",
            "api_key": "sk-injected-key-123",
            "temperature": "0.3",
            "max_tokens": "600",
            "connect_timeout": "5",
            "first_token_timeout": "20",
            "total_timeout": "90",
            "enabled": "1",
        },
        "assistant.budget": {"monthly_budget": "5"},
        "payments.settings": {"secret_key": "sk_test_injected123", "webhook_secret": "whsec_x1"},
        "payments.refund": {"amount": "1.00", "currency": "EUR", "reason": "x"},
        "inbox.visitor": {"name": "Injected", "email": "i@example.com", "phone": ""},
        "leads.bulk": {"lead_id": "999999", "action": "status", "status": "won"},
        "leads.export": {"status": "new", "q": "x", "sort": "name"},
        "leads.settings": {
            "phone_region": "GB",
            "handoff_when_qualified": "1",
            "notify_when_qualified": "1",
        },
        "leads.questions": {"key": "budget", "text": "What is your budget?", "kind": "number"},
        "leads.rules": {"rule_question_0": "budget", "rule_op_0": ">=", "rule_value_0": "5"},
        "assistant.prices": {
            "provider": "openai",
            "model": "*",
            "input_per_million": "1",
            "output_per_million": "2",
        },
    }
    return dict(forms.get(route_name, {}))


# Which browser performs each POST route in the CSRF and audit tests: the anonymous one for
# the pre-login forms, the owner's for everything else.
ANONYMOUS_POSTS = frozenset({"accounts.login", "accounts.invitation"})

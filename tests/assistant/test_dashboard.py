"""Dashboard → Assistant, AI providers and Usage: roles, CSRF, validation, the encrypted API
key, provider sources and connection tests, budget and prices, charts and the budget banner."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
import webtest

from asthron.assistant.models import AssistantProfile, ModelPrice, ProviderConfig, UsageRecord
from asthron.audit.models import AuditEntry
from asthron.db import utcnow
from tests.conftest import csrf_from
from tests.fakes.llm_server import FakeLLMServer, closed_port

PROFILE = "/assistant"
PROVIDERS = "/integrations/ai"
USAGE = "/usage"
API_KEY = "sk-live-Secret-key-98765"
PROVIDER = {
    "slot": "primary",
    "kind": "openai",
    "base_url": "https://api.example.com/v1",
    "model": "gpt-test",
    "api_key": API_KEY,
    "temperature": "0.4",
    "max_tokens": "500",
    "connect_timeout": "2",
    "first_token_timeout": "10",
    "total_timeout": "60",
    "keep_alive": "",
    "enabled": "1",
}
PROFILE_FORM = {
    "business_name": "Bakery Bell",
    "description": "A bakery in the old town.",
    "services": "Bread, cakes, catering",
    "contact": "hello@bakery.example",
    "policies": "No refunds on custom cakes.",
    "tone": "warm and brief",
    "do_rules": "Mention the daily special.",
    "dont_rules": "Never promise delivery times.",
    "reply_max_chars": "800",
    "turn_cap": "25",
}


@pytest.fixture
def browser(app, make_user, login):
    def make(role):
        client = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.30"})
        login(make_user(role), app=client)
        return client

    return make


@pytest.fixture
def owner(browser):
    return browser("owner")


def post(client, url, data, status=303, page=PROVIDERS):
    token = csrf_from(client.get(page))
    return client.post(url, dict(data, csrf_token=token), status=status)


def audit_actions(run_in_tm, prefix):
    return run_in_tm(
        lambda db: [
            (e.action, e.summary)
            for e in db.scalars(
                sa.select(AuditEntry)
                .where(AuditEntry.action.like(prefix + "%"))
                .order_by(AuditEntry.id)
            )
        ]
    )


def provider_rows(run_in_tm):
    return run_in_tm(
        lambda db: {
            r.slot: {c.name: getattr(r, c.name) for c in ProviderConfig.__table__.columns}
            for r in db.scalars(sa.select(ProviderConfig))
        }
    )


def profile_row(run_in_tm):
    def read(db):
        row = db.get(AssistantProfile, 1)
        return row and {c.name: getattr(row, c.name) for c in AssistantProfile.__table__.columns}

    return run_in_tm(read)


def add_usage(run_in_tm, *records):
    def add(db):
        for values in records:
            db.add(UsageRecord(**{"purpose": "reply", "model": "gpt-test", **values}))

    run_in_tm(add)


# -- roles and navigation -------------------------------------------------------------------


def test_staff_and_admins_are_kept_where_they_belong(browser, run_in_tm):
    staff, admin = browser("staff"), browser("admin")
    staff_token = csrf_from(staff.get("/account/sessions"))
    admin_token = csrf_from(admin.get("/account/sessions"))
    for url in (PROFILE, PROVIDERS, USAGE):
        staff.get(url, status=403)
    for url, data in (
        (PROFILE, PROFILE_FORM),
        (PROVIDERS, PROVIDER),
        (PROVIDERS + "/primary/test", {}),
        (PROVIDERS + "/primary/remove", {}),
        (PROVIDERS + "/budget", {"monthly_budget": "5"}),
        (PROVIDERS + "/prices", {"provider": "openai", "model": "*", "input_per_million": "1"}),
    ):
        staff.post(url, dict(data, csrf_token=staff_token), status=403)
        if url != PROFILE:  # the providers page, its budget and prices are the owner's
            admin.post(url, dict(data, csrf_token=admin_token), status=403)
    admin.get(PROVIDERS, status=403)
    admin.get(PROFILE, status=200)
    admin.get(USAGE, status=200)
    assert provider_rows(run_in_tm) == {}
    assert profile_row(run_in_tm) is None
    assert run_in_tm(lambda db: db.scalar(sa.select(sa.func.count()).select_from(ModelPrice))) == 0

    nav = re.compile(r'<nav aria-label="Main">(.*?)</nav>', re.S)
    staff_nav = nav.search(staff.get("/").text).group(1)
    admin_nav = nav.search(admin.get("/").text).group(1)
    owner_nav = nav.search(browser("owner").get("/").text).group(1)
    for label in ("Knowledge", "Assistant", "AI providers", "Usage"):
        assert f">{label}</a>" in owner_nav
        assert f">{label}</a>" not in staff_nav
    assert ">AI providers</a>" not in admin_nav
    for label in ("Knowledge", "Assistant", "Usage"):
        assert f">{label}</a>" in admin_nav


def test_anonymous_visitors_are_sent_to_log_in(testapp):
    for url in (PROFILE, PROVIDERS, USAGE):
        assert "/login" in testapp.get(url, status=303).location


# -- the business profile -------------------------------------------------------------------


def test_admin_saves_the_profile_and_it_is_audited(browser, run_in_tm):
    admin = browser("admin")
    page = admin.get(PROFILE)
    assert 'value="friendly, concise and helpful"' in page.text  # the defaults
    assert profile_row(run_in_tm) is None  # a GET creates nothing
    response = post(admin, PROFILE, PROFILE_FORM, page=PROFILE)
    assert response.location.endswith("/assistant?notice=assistant_saved")
    row = profile_row(run_in_tm)
    assert row["business_name"] == "Bakery Bell" and row["tone"] == "warm and brief"
    assert (row["reply_max_chars"], row["turn_cap"]) == (800, 25)
    assert row["monthly_budget"] is None
    page = response.follow()
    assert "The assistant&#39;s profile was saved." in page.text
    assert "Never promise delivery times." in page.text
    ((action, summary),) = audit_actions(run_in_tm, "assistant.")
    assert action == "assistant.profile_update"
    assert "business_name" in summary["changed"]


PROFILE_MALFORMED = [
    ({"reply_max_chars": "abc"}, "The reply length limit must be a whole number"),
    ({"reply_max_chars": "5"}, "between 100 and 10000"),
    ({"reply_max_chars": ""}, "The reply length limit must be a whole number"),
    ({"turn_cap": "0"}, "The turn limit must be a whole number between 1 and 500"),
    ({"turn_cap": "-3"}, "The turn limit must be a whole number"),
    ({"business_name": "b" * 121}, "Business name must be at most 120 characters."),
    ({"tone": "warm\nand brief"}, "Tone must be one line."),
    ({"policies": "p" * 10_001}, "Policies must be at most 10,000 characters."),
    ({"contact": "call\x00me"}, "Contact details contains control characters."),
    ({"services": "s" * 30_000}, "The field services is too long."),
]


def test_malformed_profile_input_is_a_form_error_and_changes_nothing(browser, run_in_tm):
    admin = browser("admin")
    post(admin, PROFILE, PROFILE_FORM, page=PROFILE)
    before = profile_row(run_in_tm)
    for change, message in PROFILE_MALFORMED:
        page = post(admin, PROFILE, dict(PROFILE_FORM, **change), status=400, page=PROFILE)
        assert message in page.text, change
        assert 'role="alert"' in page.text and '<form method="post">' in page.text
        assert profile_row(run_in_tm) == before, change
    admin.post(PROFILE, dict(PROFILE_FORM, business_name="No token"), status=400)
    assert profile_row(run_in_tm) == before


# -- AI providers ---------------------------------------------------------------------------


def test_the_api_key_is_stored_encrypted_and_shown_masked(owner, run_in_tm, registry):
    page = owner.get(PROVIDERS)
    assert "built-in only" in page.text
    assert "Settings from: <strong>not configured</strong>" in page.text
    response = post(owner, PROVIDERS, PROVIDER)
    assert response.location.endswith("/integrations/ai?notice=provider_saved")
    row = provider_rows(run_in_tm)["primary"]
    assert (row["kind"], row["base_url"], row["model"]) == (
        "openai",
        "https://api.example.com/v1",
        "gpt-test",
    )
    assert (row["temperature"], row["max_tokens"], row["total_timeout"]) == (0.4, 500, 60.0)
    raw = run_in_tm(
        lambda db: db.execute(sa.text("SELECT api_key_encrypted FROM provider_configs")).scalar()
    )
    assert API_KEY not in raw
    assert registry["secret_box"].decrypt(raw) == API_KEY

    page = response.follow()
    assert "The provider settings were saved." in page.text
    assert API_KEY not in page.text
    assert "••••8765" in page.text
    assert "primary (openai, dashboard) → built-in" in page.text

    # Empty keeps the key; the checkbox clears it.
    post(owner, PROVIDERS, dict(PROVIDER, api_key="", model="gpt-other"))
    row = provider_rows(run_in_tm)["primary"]
    assert row["model"] == "gpt-other" and row["api_key_encrypted"] == raw
    post(owner, PROVIDERS, dict(PROVIDER, api_key="", clear_api_key="1"))
    assert provider_rows(run_in_tm)["primary"]["api_key_encrypted"] is None
    assert "••••" not in owner.get(PROVIDERS).text

    entries = audit_actions(run_in_tm, "ai.provider")
    assert [a for a, _ in entries] == [
        "ai.provider_create",
        "ai.provider_update",
        "ai.provider_update",
    ]
    assert [s["api_key_changed"] for _, s in entries] == [True, False, True]
    assert API_KEY not in str(entries)


PROVIDER_MALFORMED = [
    ({"base_url": "ftp://models.example.com"}, "must start with http:// or https://"),
    ({"base_url": "javascript:alert(1)"}, "must start with http:// or https://"),
    ({"base_url": "http://user:pw@models.example.com"}, "must not contain a user name or pass"),
    ({"base_url": "https://token@models.example.com/v1"}, "must not contain a user name or pass"),
    ({"base_url": "http://"}, "The base URL needs a host name."),
    ({"base_url": "http://models.example.com:99999"}, "not a valid http(s) address"),
    ({"base_url": "http://models example.com"}, "must not contain spaces"),
    ({"base_url": "https://x.example.com/v1?key=1"}, "must not have a query string"),
    ({"base_url": "https://" + "a" * 600 + ".com"}, "at most 500 characters"),
    ({"kind": "gemini"}, "The kind must be one of openai, ollama, anthropic."),
    ({"temperature": "5"}, "The temperature must be a number between 0 and 2."),
    ({"temperature": "nan"}, "The temperature must be a number"),
    ({"temperature": "٠.٥"}, "The temperature must be a number"),
    ({"max_tokens": "0"}, "Max tokens must be a whole number between 1 and 200000."),
    ({"connect_timeout": "1e3"}, "The connect timeout must be a number"),
    ({"total_timeout": "5"}, "The total timeout must be at least the connect and first-token"),
    ({"keep_alive": "forever"}, "Keep-alive must be a duration like 5m"),
    ({"model": "m" * 201}, "The model must be at most 200 characters."),
    ({"api_key": "sk key"}, "The API key must not contain spaces"),
    ({"slot": "tertiary"}, "Choose the primary or secondary slot."),
]


def test_malformed_provider_input_is_a_form_error_and_changes_nothing(owner, run_in_tm):
    post(owner, PROVIDERS, PROVIDER)
    before = provider_rows(run_in_tm)
    for change, message in PROVIDER_MALFORMED:
        page = post(owner, PROVIDERS, dict(PROVIDER, **change), status=400)
        assert message in page.text, change
        assert 'role="alert"' in page.text, change
        assert API_KEY not in page.text, change
        assert provider_rows(run_in_tm) == before, change
    owner.post(PROVIDERS, dict(PROVIDER, model="no-token"), status=400)
    assert provider_rows(run_in_tm) == before


@pytest.fixture
def ini_provider(ini_settings):
    ini_settings.update(
        {
            "asthron.ai.secondary.kind": "ollama",
            "asthron.ai.secondary.base_url": "http://127.0.0.1:11434",
            "asthron.ai.secondary.model": "llama3:8b",
            "asthron.ai.secondary.api_key": "ini-Secret-key-4444",
        }
    )
    return ini_settings


def test_each_slot_shows_where_its_settings_come_from(ini_provider, owner, run_in_tm):
    page = owner.get(PROVIDERS)
    assert "Settings from: <strong>.ini</strong> (saving here overrides the .ini)" in page.text
    assert "secondary (ollama, .ini) → built-in" in page.text
    assert 'value="llama3:8b"' in page.text  # the .ini's settings, ready to take over
    assert "ini-Secret-key-4444" not in page.text and "(set in the .ini)" in page.text

    post(owner, PROVIDERS, dict(PROVIDER, slot="secondary", kind="anthropic", model="claude-x"))
    page = owner.get(PROVIDERS)
    assert "secondary (anthropic, dashboard) → built-in" in page.text

    post(owner, PROVIDERS, dict(PROVIDER, slot="secondary", enabled=""))
    assert "Settings from: <strong>disabled in the dashboard</strong>" in owner.get(PROVIDERS).text
    assert "built-in only" in owner.get(PROVIDERS).text

    removed = post(owner, PROVIDERS + "/secondary/remove", {})
    assert removed.location.endswith("notice=provider_removed")
    assert provider_rows(run_in_tm) == {}
    assert "secondary (ollama, .ini) → built-in" in owner.get(PROVIDERS).text
    assert [a for a, _ in audit_actions(run_in_tm, "ai.provider_remove")] == ["ai.provider_remove"]
    # Nothing left to remove: a form error, not a 500.
    page = post(owner, PROVIDERS + "/secondary/remove", {}, status=400)
    assert "has no dashboard settings" in page.text
    post(owner, PROVIDERS + "/tertiary/remove", {}, status=404)


@pytest.fixture
def fake():
    server = FakeLLMServer().start()
    yield server
    server.stop()


def test_connection_test_shows_health_latency_and_models(owner, run_in_tm, fake):
    page = post(owner, PROVIDERS + "/primary/test", {}, status=400)
    assert "Nothing is configured for the primary slot yet" in page.text
    post(owner, PROVIDERS + "/tertiary/test", {}, status=404)

    post(owner, PROVIDERS, dict(PROVIDER, base_url=fake.openai_base_url, model=""))
    before = provider_rows(run_in_tm)
    page = post(owner, PROVIDERS + "/primary/test", {}, status=200)
    assert re.search(r"Connection test: <strong>ok</strong> in \d+ ms", page.text)
    assert "no model is chosen yet" in page.text
    assert '<select name="model_pick">' in page.text
    assert '<option value="gpt-test">gpt-test</option>' in page.text
    assert '<option value="other-model">other-model</option>' in page.text
    assert provider_rows(run_in_tm) == before  # a test changes nothing

    # Picking a model from the list saves it.
    post(owner, PROVIDERS, dict(PROVIDER, base_url=fake.openai_base_url, model_pick="other-model"))
    assert provider_rows(run_in_tm)["primary"]["model"] == "other-model"
    assert fake.last("/v1/models").headers["authorization"] == f"Bearer {API_KEY}"

    post(owner, PROVIDERS, dict(PROVIDER, base_url=f"http://127.0.0.1:{closed_port()}/v1"))
    page = post(owner, PROVIDERS + "/primary/test", {}, status=200)
    assert "Connection test: <strong>failed</strong>" in page.text
    assert "model_pick" not in page.text
    owner.post(PROVIDERS + "/primary/test", {}, status=400)  # CSRF


# -- budget and prices ----------------------------------------------------------------------


def test_budget_is_saved_validated_and_audited(owner, run_in_tm):
    response = post(owner, PROVIDERS + "/budget", {"monthly_budget": "12.50"})
    assert response.location.endswith("notice=budget_saved")
    assert profile_row(run_in_tm)["monthly_budget"] == Decimal("12.50")
    assert 'name="monthly_budget" value="12.5"' in response.follow().text
    for bad in ("-1", "abc", "1e5", "1.234", "99999999999", "١٠", "NaN"):
        page = post(owner, PROVIDERS + "/budget", {"monthly_budget": bad}, status=400)
        assert "The monthly budget must be a number" in page.text, bad
        assert f'value="{bad}"' in page.text
    assert profile_row(run_in_tm)["monthly_budget"] == Decimal("12.50")
    post(owner, PROVIDERS + "/budget", {"monthly_budget": ""})
    assert profile_row(run_in_tm)["monthly_budget"] is None
    # The profile form leaves the budget alone, and the budget leaves the profile alone.
    post(owner, PROVIDERS + "/budget", {"monthly_budget": "30"})
    post(owner, PROFILE, PROFILE_FORM, page=PROFILE)
    row = profile_row(run_in_tm)
    assert row["monthly_budget"] == Decimal("30") and row["business_name"] == "Bakery Bell"
    summaries = [s for _, s in audit_actions(run_in_tm, "ai.budget_update")]
    assert summaries[0] == {"old": None, "new": "12.50"}
    assert len(summaries) == 3


def prices(run_in_tm):
    return run_in_tm(
        lambda db: sorted(
            (p.provider, p.model, p.input_per_million, p.output_per_million)
            for p in db.scalars(sa.select(ModelPrice))
        )
    )


def test_the_price_table_drives_the_cost_estimate(owner, run_in_tm):
    from asthron.assistant.usage import estimate_cost

    def cost(provider, model):
        return run_in_tm(lambda db: estimate_cost(db, provider, model, 1_000_000, 500_000))

    assert cost("openai", "gpt-test") == 0
    table = [
        ("provider", "openai"),
        ("model", "gpt-test"),
        ("input_per_million", "2.5"),
        ("output_per_million", "10"),
        ("provider", "openai"),
        ("model", "*"),
        ("input_per_million", "1"),
        ("output_per_million", "2"),
        ("provider", ""),
        ("model", ""),
        ("input_per_million", ""),
        ("output_per_million", ""),
    ]
    token = csrf_from(owner.get(PROVIDERS))
    response = owner.post(PROVIDERS + "/prices", [*table, ("csrf_token", token)], status=303)
    assert response.location.endswith("notice=prices_saved")
    assert prices(run_in_tm) == [
        ("openai", "*", Decimal("1"), Decimal("2")),
        ("openai", "gpt-test", Decimal("2.5"), Decimal("10")),
    ]
    assert cost("openai", "gpt-test") == Decimal("7.5")
    assert cost("openai", "gpt-mini") == Decimal("2")
    assert cost("anthropic", "claude") == 0
    page = response.follow()
    assert 'value="2.5"' in page.text and 'value="*"' in page.text

    # Change one row and remove the other (row 0 is "*", sorted by model).
    token = csrf_from(page)
    edit = [
        ("provider", "openai"),
        ("model", "*"),
        ("input_per_million", "1"),
        ("output_per_million", "2"),
        ("remove", "0"),
        ("provider", "openai"),
        ("model", "gpt-test"),
        ("input_per_million", "3"),
        ("output_per_million", "12"),
        ("csrf_token", token),
    ]
    owner.post(PROVIDERS + "/prices", edit, status=303)
    assert prices(run_in_tm) == [("openai", "gpt-test", Decimal("3"), Decimal("12"))]
    assert cost("openai", "gpt-test") == Decimal("9")
    assert cost("openai", "gpt-mini") == 0

    before = prices(run_in_tm)
    bad_tables = [
        (
            [
                ("provider", "gemini"),
                ("model", "x"),
                ("input_per_million", "1"),
                ("output_per_million", "1"),
            ],
            "the provider must be one of",
        ),
        (
            [
                ("provider", "openai"),
                ("model", ""),
                ("input_per_million", "1"),
                ("output_per_million", "1"),
            ],
            "give a model name",
        ),
        (
            [
                ("provider", "openai"),
                ("model", "a"),
                ("input_per_million", "-1"),
                ("output_per_million", "1"),
            ],
            "the input price must be a number",
        ),
        (
            [
                ("provider", "openai"),
                ("model", "a"),
                ("input_per_million", "1"),
                ("output_per_million", "x"),
            ],
            "the output price must be a number",
        ),
        (
            [
                ("provider", "openai"),
                ("model", "a"),
                ("input_per_million", "1"),
                ("output_per_million", "1"),
                ("provider", "openai"),
                ("model", "a"),
                ("input_per_million", "2"),
                ("output_per_million", "2"),
            ],
            "is listed twice",
        ),
        ([("provider", "openai"), ("model", "a"), ("input_per_million", "1")], "sent incomplete"),
    ]
    for rows, message in bad_tables:
        page = owner.post(PROVIDERS + "/prices", [*rows, ("csrf_token", token)], status=400)
        assert message in page.text, rows
        assert prices(run_in_tm) == before
    owner.post(PROVIDERS + "/prices", edit[:-1], status=400)  # CSRF
    assert prices(run_in_tm) == before
    assert len(audit_actions(run_in_tm, "ai.prices_update")) == 2


# -- usage ----------------------------------------------------------------------------------


def test_usage_page_charts_the_last_30_days(browser, run_in_tm, make_site_conversations):
    now = utcnow()
    add_usage(
        run_in_tm,
        {
            "provider": "openai",
            "input_tokens": 1200,
            "output_tokens": 300,
            "cost": Decimal("0.02"),
            "latency_ms": 900,
            "first_token_ms": 200,
            "created_at": now,
        },
        {
            "provider": "openai",
            "input_tokens": 800,
            "output_tokens": 100,
            "cost": Decimal("0.01"),
            "latency_ms": 700,
            "first_token_ms": 100,
            "created_at": now,
        },
        {
            "provider": "ollama",
            "model": "llama3",
            "success": False,
            "error_kind": "timeout",
            "created_at": now,
        },
        {
            "provider": "openai",
            "input_tokens": 5000,
            "output_tokens": 0,
            "created_at": now - dt.timedelta(days=3),
        },
        {"provider": "openai", "input_tokens": 99999, "created_at": now - dt.timedelta(days=45)},
    )
    make_site_conversations([now, now, now - dt.timedelta(days=2)])
    admin = browser("admin")
    page = admin.get(USAGE)
    svgs = re.findall(r"<svg .*?</svg>", page.text, re.S)
    assert len(svgs) == 5
    for title in ("Tokens", "Estimated cost", "Replies", "Failed calls", "Conversations"):
        assert f"{title} per day" in page.text

    def bars(svg):
        return re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"', svg)

    tokens, cost, replies, failures, conversations = svgs
    assert len(bars(tokens)) == 30
    today = now.date().isoformat()
    assert f"<title>{today}: 2.4k</title>" in tokens
    assert f"<title>{(now - dt.timedelta(days=3)).date().isoformat()}: 5k</title>" in tokens
    assert "100k" not in tokens  # older than 30 days
    assert f"<title>{today}: 2</title>" in replies
    assert f"<title>{today}: 1</title>" in failures
    assert f"<title>{today}: 2</title>" in conversations
    assert "total 3" in page.text  # conversations over the 30 days
    assert sum(float(h) > 0 for h in bars(cost)) == 1
    assert "<script" not in page.text and "style=" not in page.text

    table = page.text.split("This month by provider and model")[1]
    assert re.search(r"<td>openai</td><td>gpt-test</td><td>\d+</td>", table)
    assert "<td>ollama</td><td>llama3</td><td>1</td><td>1</td>" in table
    assert "0.0300" in table
    assert "no monthly budget set" in page.text


@pytest.fixture
def make_site_conversations(run_in_tm):
    def make(created):
        from asthron.audit.service import Actor
        from asthron.conversations.models import Conversation, Visitor
        from asthron.sites import service

        def add(db):
            site = service.create_site(
                db, Actor.cli(), service.SiteInput("Shop", ["https://shop.example.com"])
            )
            for i, when in enumerate(created):
                visitor = Visitor(site_id=site.id, token_hash=f"{i:064d}")
                db.add(visitor)
                db.flush()
                db.add(Conversation(site_id=site.id, visitor_id=visitor.id, created_at=when))

        run_in_tm(add)

    return make


def test_the_budget_banner_appears_at_80_percent(browser, run_in_tm):
    owner, admin, staff = browser("owner"), browser("admin"), browser("staff")
    post(owner, PROVIDERS + "/budget", {"monthly_budget": "10"})
    add_usage(run_in_tm, {"provider": "openai", "cost": Decimal("7.90"), "created_at": utcnow()})
    banner = "AI spending has reached"
    assert banner not in owner.get("/").text
    assert banner not in owner.get(USAGE).text
    assert "7.90</strong>" in owner.get(USAGE).text and "(79%)" in owner.get(USAGE).text

    add_usage(run_in_tm, {"provider": "openai", "cost": Decimal("0.60"), "created_at": utcnow()})
    for client in (owner, admin):
        assert f"{banner} 85% of the budget." in client.get("/").text
        assert f"{banner} 85% of the budget." in client.get(USAGE).text
    assert banner not in staff.get("/").text  # staff do not manage the budget

    add_usage(run_in_tm, {"provider": "openai", "cost": Decimal("2"), "created_at": utcnow()})
    assert "budget is used up" in owner.get("/").text
    assert "budget is used up" in owner.get(USAGE).text


def test_hostile_bodies_are_form_errors_never_500(owner, run_in_tm):
    token = csrf_from(owner.get(PROFILE)).encode()
    bodies = [
        b"business_name=%ff%fe&reply_max_chars=8%ff00&turn_cap=25&csrf_token=" + token,
        b"reply_max_chars=" + b"9" * 5000 + b"&turn_cap=-1&csrf_token=" + token,
        b"reply_max_chars=800&turn_cap=25&turn_cap=26&csrf_token=" + token,
    ]
    for body in bodies:
        page = owner.post(
            PROFILE, body, content_type="application/x-www-form-urlencoded", status=400
        )
        assert 'role="alert"' in page.text and '<form method="post">' in page.text
    assert 'id="err-turn_cap">The field turn_cap was sent more than once.' in page.text
    for change in ({"temperature": "inf"}, {"max_tokens": "9" * 3000}, {"total_timeout": "-5"}):
        page = post(owner, PROVIDERS, dict(PROVIDER, **change), status=400)
        assert 'role="alert"' in page.text, change
    assert profile_row(run_in_tm) is None and provider_rows(run_in_tm) == {}


def test_the_embedding_model_is_saved_shown_and_chosen_for_dense_retrieval(owner, run_in_tm):
    from asthron.assistant.embeddings import embedding_provider

    post(owner, PROVIDERS, dict(PROVIDER, embedding_model="text-embedding-3-small"))
    assert provider_rows(run_in_tm)["primary"]["embedding_model"] == "text-embedding-3-small"
    assert 'value="text-embedding-3-small"' in owner.get(PROVIDERS).text
    actions = audit_actions(run_in_tm, "ai.provider_")
    assert actions[-1][1]["embedding_model"] == "text-embedding-3-small"

    def chosen(db):
        from asthron.assistant import config as ai_config
        from asthron.db import registry_of

        registry = registry_of(db)
        providers = ai_config.effective_providers(
            db, registry["app_settings"], registry["secret_box"]
        )
        found = embedding_provider(providers)
        return found and (found.slot, found.embedding_model)

    assert run_in_tm(chosen) == ("primary", "text-embedding-3-small")
    post(owner, PROVIDERS, dict(PROVIDER, embedding_model=""))
    assert run_in_tm(chosen) is None  # no embedding model: lexical retrieval alone
    post(owner, PROVIDERS, dict(PROVIDER, embedding_model="two\nlines"), status=400)

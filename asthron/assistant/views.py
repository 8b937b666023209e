"""Dashboard pages of the assistant: the business profile, AI providers (with connection
tests, the monthly budget and the price table) and usage with daily charts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from pyramid.events import BeforeRender, subscriber
from pyramid.httpexceptions import HTTPNotFound
from pyramid.view import view_config

from asthron.assistant import forms, pricing, profile_settings, provider_settings, usage
from asthron.assistant.config import _from_ini, _from_row, effective_providers
from asthron.assistant.models import PROVIDER_KINDS, PROVIDER_SLOTS, AssistantProfile
from asthron.assistant.provider_check import check_provider
from asthron.conversations.hooks import message_hooks
from asthron.conversations.models import Conversation
from asthron.db import utcnow
from asthron.forms import FormError, notice, parse_form, redirect
from asthron.security.crypto import SecretDecryptionError, masked
from asthron.security.permissions import Permission

# -- the business profile -------------------------------------------------------------------


def _profile_page(request, values=None, refused: FormError | None = None):
    request.response.status_code = 400 if refused else 200
    if values is None:
        values = profile_settings.profile_values(request.db.get(AssistantProfile, 1))
    return {
        "values": values,
        "limits": forms.PROFILE_LIMITS,
        "reply_range": forms.REPLY_MAX_CHARS,
        "turn_range": forms.TURN_CAP,
        "error": refused and refused.message,
        "errors": refused.errors if refused else {},
        "notice": notice(request),
    }


@view_config(
    route_name="assistant.profile",
    renderer="assistant/profile.html",
    permission=Permission.SETTINGS,
    request_method="GET",
)
def profile(request):
    return _profile_page(request)


@view_config(
    route_name="assistant.profile",
    renderer="assistant/profile.html",
    permission=Permission.SETTINGS,
    request_method="POST",
)
def profile_save(request):
    try:
        new = parse_form(forms.ProfileForm, request.POST)
    except FormError as exc:
        return _profile_page(request, exc.values, exc)
    profile_settings.save_profile(request.db, request.actor, new)
    return redirect(request, "assistant.profile", "assistant_saved")


# -- AI providers ---------------------------------------------------------------------------

BLANK_PRICE_ROWS = 3


def _slot(request) -> str:
    slot = request.matchdict.get("slot")
    if slot not in PROVIDER_SLOTS:
        raise HTTPNotFound()
    return slot


def _ini_values(ini) -> dict:
    values = provider_settings.provider_values(None)
    values.update(
        kind=ini.kind,
        base_url=ini.base_url,
        model=ini.model,
        temperature=ini.temperature,
        max_tokens=ini.max_tokens,
        connect_timeout=ini.connect_timeout,
        first_token_timeout=ini.first_token_timeout,
        total_timeout=ini.total_timeout,
        keep_alive=ini.keep_alive or "",
        embedding_model=ini.embedding_model,
    )
    return values


def _providers_page(
    request,
    error=None,
    status=200,
    posted_slot=None,
    posted=None,
    tests=None,
    budget_value=None,
    price_rows=None,
    errors=None,
):
    request.response.status_code = status
    db, settings, box = request.db, request.app_settings, request.secret_box
    rows = provider_settings.provider_rows(db)
    ini_error = None
    try:
        chain = effective_providers(db, settings, box)
    except ValueError as exc:
        chain, ini_error = list(_dashboard_chain(db, box)), str(exc)
    effective = {p.slot: p for p in chain}
    slots = []
    for slot in PROVIDER_SLOTS:
        row = rows.get(slot)
        ini = None
        if row is None:
            try:
                ini = _from_ini(settings, slot)
            except ValueError:
                ini = None
        masked_key, key_problem = "", None
        if row is not None and row.api_key_encrypted:
            try:
                masked_key = masked(box.decrypt(row.api_key_encrypted))
            except SecretDecryptionError:
                key_problem = (
                    "The stored API key cannot be decrypted with the keys in the secrets "
                    "file; enter it again."
                )
        if row is not None:
            source = "dashboard" if row.enabled else "disabled in the dashboard"
            values = provider_settings.provider_values(row)
        elif ini is not None:
            source = ".ini"
            values = _ini_values(ini)
        else:
            source = "not configured"
            values = provider_settings.provider_values(None)
        if posted_slot == slot and posted is not None:
            values = posted
        test = (tests or {}).get(slot)
        slots.append(
            {
                "slot": slot,
                "row": row,
                "source": source,
                "active": slot in effective,
                "ini_key": bool(ini and ini.api_key),
                "form": values,
                "masked_key": masked_key,
                "key_problem": key_problem,
                "test": test,
                "models": test.models if test is not None else [],
                "default_base_url": provider_settings.DEFAULT_BASE_URLS,
            }
        )
    chain_text = " → ".join(f"{p.slot} ({p.kind}, {p.source})" for p in chain)
    prices = pricing.list_prices(db)
    if price_rows is None:
        price_rows = [
            {
                "provider": p.provider,
                "model": p.model,
                "input_per_million": _plain(p.input_per_million),
                "output_per_million": _plain(p.output_per_million),
            }
            for p in prices
        ]
        price_rows += [dict.fromkeys(forms.PRICE_COLUMNS, "") for _ in range(BLANK_PRICE_ROWS)]
    state = usage.budget_state(db)
    if budget_value is None:
        budget_value = _plain(state.budget) if state.budget is not None else ""
    return {
        "slots": slots,
        "kinds": PROVIDER_KINDS,
        "chain_text": (chain_text + " → built-in") if chain else "built-in only",
        "ini_error": ini_error,
        "price_rows": price_rows,
        "budget_value": budget_value,
        "budget": _budget_view(state),
        "error": error,
        "errors": errors or {},
        "notice": notice(request),
    }


def _dashboard_chain(db, box):

    return [
        _from_row(r, box)
        for s, r in sorted(provider_settings.provider_rows(db).items())
        if r.enabled
    ]


def _plain(value) -> str:
    """A decimal without trailing zeros or exponent: 3.5000 → 3.5, 10.00 → 10."""
    if value is None:
        return ""
    text = format(Decimal(value).normalize(), "f")
    return text


@view_config(
    route_name="assistant.providers",
    renderer="assistant/providers.html",
    permission=Permission.INTEGRATIONS,
    request_method="GET",
)
def providers(request):
    return _providers_page(request)


@view_config(
    route_name="assistant.providers",
    renderer="assistant/providers.html",
    permission=Permission.INTEGRATIONS,
    request_method="POST",
)
def provider_save(request):
    try:
        new = parse_form(forms.ProviderForm, request.POST)
        provider_settings.refuse_private_base_url(
            new.kind, new.base_url, request.app_settings.outbound_allowed_private_hosts
        )
    except FormError as exc:
        posted = exc.values or {name: request.POST.get(name, "") for name in ("slot",)}
        slot = posted.get("slot")
        if slot not in PROVIDER_SLOTS:
            return _providers_page(request, exc.errors.get("slot", exc.message), 400)
        shown = {name: posted.get(name, "") for name in provider_settings.PROVIDER_FIELDS}
        shown["enabled"] = posted.get("enabled") in ("1", "on", "true", "yes")
        return _providers_page(request, exc.message, 400, slot, shown, errors=exc.errors)
    provider_settings.save_provider(request.db, request.secret_box, request.actor, new)
    return redirect(request, "assistant.providers", "provider_saved")


@view_config(
    route_name="assistant.providers_remove",
    renderer="assistant/providers.html",
    permission=Permission.INTEGRATIONS,
    request_method="POST",
)
def provider_remove(request):
    slot = _slot(request)
    if not provider_settings.remove_provider(request.db, request.actor, slot):
        return _providers_page(request, f"The {slot} slot has no dashboard settings.", 400)
    return redirect(request, "assistant.providers", "provider_removed")


@view_config(
    route_name="assistant.providers_test",
    renderer="assistant/providers.html",
    permission=Permission.INTEGRATIONS,
    request_method="POST",
)
def provider_test(request):
    slot = _slot(request)
    try:
        effective = provider_settings.slot_provider(
            request.db, request.app_settings, request.secret_box, slot
        )
    except ValueError as exc:
        return _providers_page(request, f"The .ini settings for {slot} are invalid: {exc}", 400)
    if effective is None:
        return _providers_page(
            request, f"Nothing is configured for the {slot} slot yet: save its settings first.", 400
        )
    result = check_provider(
        effective,
        discover=True,
        allowed_private=request.app_settings.outbound_allowed_private_hosts,
    )
    # A passed test is recorded: the home page's checklist ticks "connect and test" from it.
    provider_settings.record_test(request.db, request.actor, slot, effective.kind, result.ok)
    return _providers_page(request, tests={slot: result})


@view_config(
    route_name="assistant.budget",
    renderer="assistant/providers.html",
    permission=Permission.INTEGRATIONS,
    request_method="POST",
)
def budget_save(request):
    try:
        new = parse_form(forms.BudgetForm, request.POST)
    except FormError as exc:
        shown = exc.values.get("monthly_budget", "")
        return _providers_page(request, exc.message, 400, budget_value=shown, errors=exc.errors)
    pricing.save_budget(request.db, request.actor, new.monthly_budget)
    return redirect(request, "assistant.providers", "budget_saved")


@view_config(
    route_name="assistant.prices",
    renderer="assistant/providers.html",
    permission=Permission.INTEGRATIONS,
    request_method="POST",
)
def prices_save(request):
    # The table is parallel lists of fields, one entry per row: read them column by column.
    columns: dict[str, list[str]] = {}
    error = None
    for name in forms.PRICE_COLUMNS:
        posted = request.POST.getall(name)
        if any(not isinstance(v, str) or len(v) > 300 for v in posted):
            error = error or f"The field {name} must be text of at most 300 characters."
            posted = [v if isinstance(v, str) else "" for v in posted]
        columns[name] = [v[:300] for v in posted]
    removed_raw = request.POST.getall("remove")
    removed = {int(v) for v in removed_raw if isinstance(v, str) and v.isdigit() and len(v) < 5}
    count = max((len(c) for c in columns.values()), default=0)
    shown = [
        {name: (columns[name][i] if i < len(columns[name]) else "") for name in forms.PRICE_COLUMNS}
        for i in range(min(count, forms.MAX_PRICE_ROWS + 1))
    ]
    if not error:
        try:
            rows = forms.parse_price_table(columns, removed)
        except FormError as exc:
            error = exc.message
    if error:
        shown += [
            dict.fromkeys(forms.PRICE_COLUMNS, "") for _ in range(BLANK_PRICE_ROWS - len(shown))
        ]
        return _providers_page(request, error, 400, price_rows=shown)
    pricing.save_prices(request.db, request.actor, rows)
    return redirect(request, "assistant.providers", "prices_saved")


# -- usage ----------------------------------------------------------------------------------

CHART_WIDTH, CHART_HEIGHT, CHART_TOP, CHART_BOTTOM = 640, 150, 16, 20


def _short_number(value) -> str:
    value = float(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}".rstrip("0").rstrip(".") + suffix
    if value == int(value):
        return str(int(value))
    return f"{value:.4f}".rstrip("0").rstrip(".")


def bar_chart(key: str, title: str, days: list[dt.date], values: list, unit: str = "") -> dict:
    """Bars for one value per day, laid out for an inline SVG (no JavaScript)."""
    count = max(len(days), 1)
    top = max((float(v) for v in values), default=0.0)
    plot = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    slot_width = CHART_WIDTH / count
    bars = []
    for i, (day, value) in enumerate(zip(days, values, strict=True)):
        height = (float(value) / top * plot) if top else 0.0
        if value and height < 1:
            height = 1.0  # something, however small, is visible
        bars.append(
            {
                "x": round(i * slot_width + 1, 2),
                "y": round(CHART_TOP + plot - height, 2),
                "width": round(max(slot_width - 2, 1), 2),
                "height": round(height, 2),
                "label": f"{day.isoformat()}: {_short_number(value)}{unit}",
            }
        )
    return {
        "key": key,
        "title": title,
        "bars": bars,
        "total": _short_number(sum(values) if values else 0) + unit,
        "max_label": _short_number(top) + unit,
        "first_day": days[0].isoformat() if days else "",
        "last_day": days[-1].isoformat() if days else "",
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "baseline": CHART_HEIGHT - CHART_BOTTOM,
        "label_y": CHART_HEIGHT - 5,
        "empty": not any(values),
    }


def conversations_per_day(db, days: list[dt.date]) -> list[int]:

    if not days:
        return []
    since = dt.datetime.combine(days[0], dt.time(), tzinfo=dt.UTC)
    counts = dict.fromkeys(days, 0)
    for (created_at,) in db.execute(
        sa.select(Conversation.created_at).where(Conversation.created_at >= since)
    ):
        day = created_at.date()
        if day in counts:
            counts[day] += 1
    return [counts[d] for d in days]


def _budget_view(state: usage.BudgetState) -> dict:
    return {
        "budget": state.budget,
        "spent": state.spent,
        "percent": int(state.fraction * 100) if state.budget else None,
        "warn": state.warn,
        "exhausted": state.exhausted,
    }


@view_config(
    route_name="usage.dashboard",
    renderer="assistant/usage.html",
    permission=Permission.SETTINGS,
    request_method="GET",
)
def usage_dashboard(request):
    db = request.db
    now = utcnow()
    daily = usage.daily(db, 30, now)
    days = [d.day for d in daily]
    charts = [
        bar_chart("tokens", "Tokens", days, [d.input_tokens + d.output_tokens for d in daily]),
        bar_chart("cost", "Estimated cost", days, [d.cost for d in daily]),
        bar_chart("replies", "Replies", days, [d.replies for d in daily]),
        bar_chart("failures", "Failed calls", days, [d.failures for d in daily]),
        bar_chart("conversations", "Conversations", days, conversations_per_day(db, days)),
    ]
    month = usage.by_provider(db, usage.month_start(now))
    totals = {
        "calls": sum(r["calls"] for r in month),
        "input_tokens": sum(r["input_tokens"] for r in month),
        "output_tokens": sum(r["output_tokens"] for r in month),
        "cost": sum((Decimal(r["cost"]) for r in month), Decimal(0)),
        "failures": sum(r["failures"] for r in month),
    }
    sections = message_hooks(db).usage_sections(db, request.has_permission)
    return {
        "charts": charts,
        "sections": sections,
        "by_provider": month,
        "totals": totals,
        "month": now.strftime("%B %Y"),
        "budget": _budget_view(usage.budget_state(db, now)),
    }


@subscriber(BeforeRender)
def budget_banner(event):
    """The 80 % budget banner for the dashboard home, for those who may see usage."""
    if event.get("renderer_name") != "dashboard/home.html":
        return
    request = event.get("request")
    if request is None or not request.has_permission(Permission.SETTINGS):
        return
    try:
        state = usage.budget_state(request.db)
    except Exception:  # never let the banner break the home page
        return
    event["budget_banner"] = _budget_view(state) if state.warn else None

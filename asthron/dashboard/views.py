"""The dashboard home: getting started, then today's numbers."""

from __future__ import annotations

from pyramid.view import view_config

from asthron.dashboard import charts, home
from asthron.forms import notice
from asthron.security.permissions import Permission


def _money(value) -> str:
    return f"{value:,.2f}"


@view_config(
    route_name="dashboard.home",
    renderer="dashboard/home.html",
    permission=Permission.DASHBOARD,
    request_method="GET",
)
def home_page(request):
    numbers = home.today(request.db)
    values = {"notice": notice(request), "today": numbers}
    values["conversations_chart"] = charts.bar_chart(
        "Conversations per day",
        [(d.day.strftime("%a"), d.value) for d in numbers.conversations_by_day],
        fmt=lambda v: str(int(v)),
    )
    values["answers"] = charts.Split(numbers.ai_answered, numbers.handed_over)
    values["ai_cost"] = _money(numbers.ai_cost)
    # The setup checklist is for those who can act on it; staff see the numbers only.
    if request.has_permission(Permission.SETTINGS):
        steps = home.checklist(request.db, request.app_settings, request.secret_box)
        values["steps"] = steps
        values["steps_done"] = sum(step.done for step in steps)
        values["cost_chart"] = charts.bar_chart(
            "AI cost per day",
            [(d.day.strftime("%a"), d.value) for d in numbers.cost_by_day],
            fmt=_money,
        )
    return values

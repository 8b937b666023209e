"""The dashboard's menu, built from what each feature registers.

Each feature's ``includeme`` adds its own links with
``config.add_nav_item(group, label, route_name, permission=..., match=..., badge=...)``, so a
new feature gets a menu entry without touching the layout. The layout
(``templates/layout/nav.html``) shows ``request.nav``: the groups in ``GROUPS`` order, each
with the items the user may open, the current page marked, and badges (the inbox's waiting
count). A badge is a function of a database session; its value is kept per process for
``BADGE_TTL_SECONDS``, so a page view costs at most one cheap count every few seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# The menu's groups, in order. A group with one item is shown as a plain link.
GROUPS = ("Home", "Conversations", "Leads", "Knowledge", "Settings", "Usage", "Audit")
BADGE_TTL_SECONDS = 5.0


@dataclass(frozen=True)
class NavItem:
    group: str
    label: str
    route_name: str
    permission: str | None = None
    # Route-name prefixes that also make this item current ("inbox." for a conversation).
    match: tuple[str, ...] = ()
    badge: Callable | None = None
    order: int = 100

    def is_current(self, route_name: str | None) -> bool:
        if route_name is None:
            return False
        return route_name == self.route_name or any(route_name.startswith(m) for m in self.match)


@dataclass(frozen=True)
class ShownItem:
    label: str
    url: str
    current: bool
    badge: int | None = None
    badge_label: str = ""


@dataclass
class ShownGroup:
    label: str
    items: list[ShownItem] = field(default_factory=list)

    @property
    def current(self) -> bool:
        return any(item.current for item in self.items)

    @property
    def badge(self) -> int:
        return sum(item.badge or 0 for item in self.items)


class BadgeCache:
    """Per-process badge values, each read again after ``ttl`` seconds."""

    def __init__(self, ttl: float = BADGE_TTL_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.ttl, self._clock = ttl, clock
        self._lock = threading.Lock()
        self._values: dict[str, tuple[int, float]] = {}

    def get(self, key: str, load: Callable[[], int]) -> int:
        now = self._clock()
        with self._lock:
            entry = self._values.get(key)
        if entry is not None and now - entry[1] < self.ttl:
            return entry[0]
        value = int(load())
        with self._lock:
            self._values[key] = (value, now)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


class Navigation:
    def __init__(self):
        self.items: list[NavItem] = []
        self.badges = BadgeCache()

    def add(self, item: NavItem) -> None:
        if any(existing.route_name == item.route_name for existing in self.items):
            raise ValueError(f"{item.route_name} is already in the menu")
        self.items.append(item)

    def for_request(self, request) -> list[ShownGroup]:
        """The groups this user sees, in order, with the current page and badges."""
        if getattr(request, "user", None) is None:
            return []
        route = request.matched_route.name if request.matched_route else None
        groups: dict[str, ShownGroup] = {}
        order = {name: index for index, name in enumerate(GROUPS)}
        items = sorted(
            self.items, key=lambda i: (order.get(i.group, len(GROUPS)), i.group, i.order)
        )
        for item in items:
            if item.permission is not None and not request.has_permission(item.permission):
                continue
            badge = None
            if item.badge is not None:
                badge = self.badges.get(item.route_name, lambda i=item: i.badge(request.db))
            groups.setdefault(item.group, ShownGroup(item.group)).items.append(
                ShownItem(
                    item.label,
                    request.route_url(item.route_name),
                    item.is_current(route),
                    badge or None,
                )
            )
        return list(groups.values())


def _add_nav_item(
    config,
    group: str,
    label: str,
    route_name: str,
    permission: str | None = None,
    match: tuple[str, ...] = (),
    badge: Callable | None = None,
    order: int = 100,
) -> None:
    """Add a link to the dashboard's menu (see the module's docstring)."""
    config.registry["navigation"].add(
        NavItem(group, label, route_name, permission, tuple(match), badge, order)
    )


def includeme(config):
    config.registry["navigation"] = Navigation()
    config.add_directive("add_nav_item", _add_nav_item)
    config.add_request_method(
        lambda request: request.registry["navigation"].for_request(request), "nav", reify=True
    )

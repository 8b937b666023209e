"""The menu's parts: which item is current, badges kept a few seconds, one entry per route,
and a feature adding its own link through the directive."""

from __future__ import annotations

import pytest
from pyramid.config import Configurator

from asthron.navigation import BadgeCache, Navigation, NavItem


def test_an_item_is_current_on_its_route_and_its_match_prefixes():
    inbox = NavItem("Conversations", "Inbox", "inbox.list", match=("inbox.",))
    assert inbox.is_current("inbox.list")
    assert inbox.is_current("inbox.detail")
    assert not inbox.is_current("leads.list")
    assert not inbox.is_current(None)
    assert not NavItem("Settings", "Assistant", "assistant.profile").is_current(
        "assistant.providers"
    )


def test_badges_are_read_again_after_their_ttl():
    now = [100.0]
    cache = BadgeCache(ttl=5, clock=lambda: now[0])
    reads = []

    def load():
        reads.append(1)
        return len(reads)

    assert cache.get("inbox.list", load) == 1
    now[0] += 4.9
    assert cache.get("inbox.list", load) == 1
    now[0] += 0.2
    assert cache.get("inbox.list", load) == 2


def test_a_route_is_in_the_menu_once():
    navigation = Navigation()
    navigation.add(NavItem("Leads", "Leads", "leads.list"))
    with pytest.raises(ValueError, match=r"leads\.list"):
        navigation.add(NavItem("Settings", "Leads again", "leads.list"))


def test_a_feature_adds_its_link_with_the_directive():
    config = Configurator()
    config.include("asthron.navigation")

    def includeme(config):
        config.add_nav_item("Settings", "Payments", "payments.list", "settings.manage", order=5)

    config.include(includeme)
    [item] = config.registry["navigation"].items
    assert (item.group, item.label, item.route_name, item.permission) == (
        "Settings",
        "Payments",
        "payments.list",
        "settings.manage",
    )

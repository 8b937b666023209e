"""The widget sends the signed identity from its script tag, and never reuses one user's
session for another (or after logout)."""

from __future__ import annotations

import sqlalchemy as sa

from asthron.conversations.models import Visitor
from asthron.sites.models import Site
from asthron.sites.service import identity_signature


def _with_identity(host_site, path, site_key, email=None, signature=None, name=None):
    host_site.page(path, site_key)
    if email is None:
        return host_site.origin + path
    attrs = f' data-user-email="{email}" data-user-signature="{signature}"'
    if name:
        attrs += f' data-user-name="{name}"'
    html = host_site.pages[path].decode()
    host_site.pages[path] = html.replace(
        f'data-site="{site_key}"', f'data-site="{site_key}"{attrs}'
    ).encode()
    return host_site.origin + path


def _visitors(run_in_tm):
    return run_in_tm(
        lambda db: [
            (v.verified_email, v.name) for v in db.scalars(sa.select(Visitor).order_by(Visitor.id))
        ]
    )


def _session_started(page):
    """Waits (as a context manager) for the widget's answered POST .../sessions: the visitor
    it made is committed by then."""
    return page.page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/api/widget/v1/sessions")
    )


def test_the_widget_sends_the_identity_and_one_session_per_user(
    host_site, make_site, open_page, run_in_tm, registry
):
    from asthron.audit.service import Actor
    from asthron.sites import service

    site = make_site(host_site.origin)
    secret = run_in_tm(
        lambda db: service.rotate_identity_secret(
            db, registry["secret_box"], Actor.cli(), db.get(Site, site["id"])
        )
    )
    alice = _with_identity(
        host_site,
        "/alice",
        site["key"],
        "Alice@Example.com",
        identity_signature(secret, "alice@example.com"),
        "Alice",
    )
    bob = _with_identity(
        host_site,
        "/bob",
        site["key"],
        "bob@example.com",
        identity_signature(secret, "bob@example.com"),
    )
    anonymous = _with_identity(host_site, "/out", site["key"])

    page = open_page(alice)  # the launcher shows once the session is made
    assert _visitors(run_in_tm) == [("alice@example.com", "Alice")]
    page.page.goto(alice)  # the same user again: the stored session is reused
    page.page.locator(".launcher").wait_for()
    assert len(_visitors(run_in_tm)) == 1
    with _session_started(page):
        page.page.goto(bob)  # another user in the same browser: a session of their own
    rows = _visitors(run_in_tm)
    assert len(rows) == 2 and rows[1] == ("bob@example.com", None), rows
    with _session_started(page):
        page.page.goto(anonymous)  # logged out: not Bob's verified session
    rows = _visitors(run_in_tm)
    assert len(rows) == 3 and rows[2] == (None, None), rows
    assert not page.errors, page.errors

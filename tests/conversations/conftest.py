"""Fixtures for the visitor side: a site, a visitor session and an API client."""

from __future__ import annotations

import pytest

ORIGIN = "https://shop.example.com"


@pytest.fixture
def make_site(run_in_tm):
    from asthron.audit.service import Actor
    from asthron.sites import service

    def make(name="Shop", origins=(ORIGIN,), **extra):
        def create(db):
            site = service.create_site(
                db, Actor.cli(), service.SiteInput(name, list(origins), **extra)
            )
            return {"id": site.id, "key": site.public_key, "origins": list(origins)}

        return run_in_tm(create)

    return make


@pytest.fixture
def site(make_site):
    return make_site()


class Visitor:
    """A widget client: a token, an origin and helpers for the API calls."""

    def __init__(self, testapp, site, origin=ORIGIN):
        self.app, self.site, self.origin = testapp, site, origin
        response = testapp.post_json(
            "/api/widget/v1/sessions", {"site_key": site["key"]}, headers={"Origin": origin}
        )
        self.token = response.json["visitor_token"]
        self.session_response = response

    @property
    def headers(self):
        return {"Authorization": f"Bearer {self.token}", "Origin": self.origin}

    def open(self, status=None):
        return self.app.post_json(
            "/api/widget/v1/conversations", {}, headers=self.headers, status=status or "*"
        ).json

    def send(self, conversation_id, body, client_id=None, status="*"):
        import uuid

        return self.app.post_json(
            f"/api/widget/v1/conversations/{conversation_id}/messages",
            {"body": body, "client_id": client_id or uuid.uuid4().hex},
            headers=self.headers,
            status=status,
        )

    def events(self, conversation_id, after=0, status="*", **params):
        query = "&".join(f"{k}={v}" for k, v in {"after": after, **params}.items())
        return self.app.get(
            f"/api/widget/v1/conversations/{conversation_id}/events?{query}",
            headers=self.headers,
            status=status,
        )


@pytest.fixture
def visitor(testapp, site):
    return Visitor(testapp, site)


@pytest.fixture
def make_visitor(testapp):
    def make(site, origin=ORIGIN):
        return Visitor(testapp, site, origin)

    return make

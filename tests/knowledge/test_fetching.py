"""Fetching one page through ``SiteFetcher`` from the loopback site: the page's deadline holds
over the whole exchange, not only over the body."""

from __future__ import annotations

import threading

import pytest

from asthron.knowledge.fetching import FetchFailed, FetchLimits, SiteFetcher
from tests.knowledge.site_server import Site

LIMITS = FetchLimits(max_bytes=200_000, request_timeout=5, page_seconds=2, max_redirects=5)


@pytest.fixture
def site():
    site = Site().start()
    yield site
    site.close()


def fetch_in_thread(fetcher: SiteFetcher, url: str, bound: float) -> object:
    """What ``fetcher.get(url)`` returned or raised, or None when it was still running after
    ``bound`` seconds (many times the page's deadline: a hang, not a slow machine)."""
    outcome: list[object] = []

    def run():
        try:
            outcome.append(fetcher.get(url))
        except Exception as exc:  # the test looks at whatever it was
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(bound)
    return outcome[0] if outcome else None


def test_a_server_that_drips_its_headers_fails_at_the_page_deadline(site):
    fetcher = SiteFetcher(site.url + "/", ["127.0.0.1"], LIMITS)

    outcome = fetch_in_thread(fetcher, site.url + "/drip-headers", bound=30 * LIMITS.page_seconds)

    assert isinstance(outcome, FetchFailed), outcome
    assert "did not finish within 2 seconds" in outcome.reason
    assert outcome.status is None

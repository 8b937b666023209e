"""``asthron kb add-site`` and ``asthron kb crawl``: the website import from the shell."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.knowledge.site_server import Site, bicycle_shop


@pytest.fixture
def shop():
    offsite = Site().start()
    site = bicycle_shop(offsite.url).start()
    yield site
    site.close()
    offsite.close()


def test_a_site_is_added_and_crawled_from_the_shell(ready_cli, shop):
    added = ready_cli("kb", "add-site", f"{shop.url}/sitemap.xml", "--publish")
    assert added.exit_code == 0, added.output
    assert added.output.startswith("Added source 1: ")

    result = ready_cli("kb", "crawl", "1")

    assert result.exit_code == 0, result.output
    assert f"failed: {shop.url}/loop-a: redirect loop" in result.output
    assert f"failed: {shop.url}/missing: not found (HTTP 404)" in result.output
    assert "Crawl 1 done: failed 4, new 3, skipped 1." in result.output
    engine = sa.create_engine(ready_cli.database_url)
    try:
        with engine.connect() as connection:
            titles = connection.execute(
                sa.text("SELECT title FROM articles WHERE source_kind = 'website' ORDER BY title")
            )
            assert titles.scalars().all() == ["Delivery", "Returns", "Welcome to Spoke & Wheel"]
            actors = connection.execute(
                sa.text("SELECT actor_label FROM audit_log WHERE action = 'knowledge.crawl'")
            )
            assert actors.scalars().all() == ["cli"]
    finally:
        engine.dispose()


def test_refusals_are_clear_and_exit_non_zero(ready_cli):
    private = ready_cli("kb", "add-site", "http://10.0.0.7/")
    assert private.exit_code == 1
    assert "is a private address" in private.output

    missing = ready_cli("kb", "crawl", "42")
    assert missing.exit_code == 1
    assert "no source 42" in missing.output
    assert "Traceback" not in missing.output + private.output

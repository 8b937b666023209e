"""Importing the business's website: a loopback site with the awkward pages real sites have.

Every page result is checked from what the crawl stored, and every request from what the site
(and the off-site server beside it) actually received.
"""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pytest
import sqlalchemy as sa

from asthron.audit.models import AuditEntry
from asthron.audit.service import Actor
from asthron.knowledge import crawling, sources, tasks
from asthron.knowledge.crawling import CrawlLimits, run_crawl
from asthron.knowledge.fetching import FetchLimits
from asthron.knowledge.models import Article, ArticleChunk
from asthron.knowledge.search import search
from asthron.knowledge.source_models import KnowledgeCrawl, KnowledgeCrawlPage, KnowledgeSource
from tests.knowledge.site_server import Site, bicycle_shop, html_page

SAMPLES = Path(__file__).parent / "samples"

# Small limits keep the never-ending pages short; none of them is asserted as a time.
LIMITS = CrawlLimits(
    max_seconds=120,
    page=FetchLimits(max_bytes=200_000, request_timeout=5, page_seconds=2, max_redirects=5),
)


@pytest.fixture
def offsite():
    site = Site().start()
    yield site
    site.close()


@pytest.fixture
def shop(offsite):
    site = bicycle_shop(offsite.url).start()
    yield site
    site.close()


def add_source(run_in_tm, registry, url, **options) -> int:
    allowed = registry["app_settings"].outbound_allowed_private_hosts

    def create(db):
        data = sources.SourceInput(name="Spoke & Wheel", url=url, **options)
        return sources.create_source(db, Actor.cli(), data, allowed).id

    return run_in_tm(create)


def crawl(run_in_tm, registry, source_id) -> int:
    def start(db):
        return sources.start_crawl(db, Actor.cli(), db.get(KnowledgeSource, source_id)).id

    crawl_id = run_in_tm(start)
    run_crawl(registry, crawl_id, LIMITS)
    return crawl_id


def results(run_in_tm, crawl_id) -> dict[str, tuple[str, str]]:
    def read(db):
        rows = db.scalars(
            sa.select(KnowledgeCrawlPage).where(KnowledgeCrawlPage.crawl_id == crawl_id)
        )
        return {row.url.split("/", 3)[3]: (row.outcome, row.reason) for row in rows}

    return run_in_tm(read)


def website_articles(run_in_tm) -> dict[str, Article]:
    def read(db):
        rows = db.scalars(sa.select(Article).where(Article.source_kind == "website"))
        return {a.source_url.split("/", 3)[3]: a for a in rows}

    return run_in_tm(read)


def the_crawl(run_in_tm, crawl_id) -> KnowledgeCrawl:
    return run_in_tm(lambda db: db.get(KnowledgeCrawl, crawl_id))


def test_a_sitemap_crawl_imports_the_site_and_records_why_each_other_page_failed(
    run_in_tm, registry, shop, offsite
):
    source_id = add_source(run_in_tm, registry, f"{shop.url}/sitemap.xml", publish_pages=True)

    crawl_id = crawl(run_in_tm, registry, source_id)

    done = the_crawl(run_in_tm, crawl_id)
    assert done.status == "done", done.note
    found = results(run_in_tm, crawl_id)
    assert found[""][0] == "new"
    assert found["delivery"][0] == "new"
    assert found["returns"][0] == "new"
    assert found["private/staff-notes"] == ("skipped", "disallowed by robots.txt")
    assert found["loop-a"] == ("failed", "redirect loop")
    assert found["forever"][0] == "failed"
    assert "larger than 200,000 bytes" in found["forever"][1]
    assert found["missing"] == ("failed", "not found (HTTP 404)")
    assert found["away"][0] == "failed"
    assert found["away"][1].startswith("redirects to another site")
    assert "partner-offer" not in " ".join(found)
    # robots.txt is obeyed and the other site is never asked for anything.
    assert "/private/staff-notes" not in shop.requests
    assert offsite.requests == []
    assert done.counts == {"new": 3, "skipped": 1, "failed": 4}

    articles = website_articles(run_in_tm)
    assert set(articles) == {"", "delivery", "returns"}
    delivery = articles["delivery"]
    assert delivery.title == "Delivery"
    assert delivery.source_url == f"{shop.url}/delivery"
    assert delivery.source_type == "html"
    assert delivery.knowledge_source_id == source_id
    assert delivery.published is True
    assert "Spoke & Wheel bicycle workshop · all rights reserved" not in delivery.body
    assert "alarm code" not in " ".join(a.body for a in articles.values())
    # The page's sections are the article's: the chunker split at the h2.
    headings = run_in_tm(
        lambda db: [
            c.heading
            for c in db.scalars(
                sa.select(ArticleChunk).where(ArticleChunk.article_id == delivery.id)
            )
        ]
    )
    assert "Costs" in headings
    passages = run_in_tm(lambda db: search(db, "delivery outside the city costs"))
    assert passages and passages[0].title == "Delivery"

    actions = run_in_tm(
        lambda db: [
            (e.action, e.actor_label)
            for e in db.scalars(
                sa.select(AuditEntry)
                .where(AuditEntry.action.in_(["knowledge.crawl", "knowledge.crawl_finish"]))
                .order_by(AuditEntry.id)
            )
        ]
    )
    assert actions == [("knowledge.crawl", "cli"), ("knowledge.crawl_finish", "system")]


def test_a_start_address_crawl_follows_same_site_links_only(run_in_tm, registry, shop, offsite):
    source_id = add_source(run_in_tm, registry, shop.url + "/")

    crawl_id = crawl(run_in_tm, registry, source_id)

    found = results(run_in_tm, crawl_id)
    assert {url for url, (outcome, _r) in found.items() if outcome == "new"} == {
        "",
        "delivery",
        "returns",
    }
    # /moved redirects (same site) to /returns, already imported: no second article.
    assert "moved" not in found or found["moved"][0] != "new"
    assert "/logo.png" not in shop.requests
    assert offsite.requests == []
    assert "/private/staff-notes" not in shop.requests
    assert found["loop-a"] == ("failed", "redirect loop")
    # Drafts unless the source says otherwise.
    assert {a.published for a in website_articles(run_in_tm).values()} == {False}


def test_a_recrawl_updates_changed_pages_keeps_unchanged_ones_and_retires_removed_ones(
    run_in_tm, registry, shop
):
    source_id = add_source(run_in_tm, registry, f"{shop.url}/sitemap.xml", publish_pages=True)
    crawl(run_in_tm, registry, source_id)
    before = website_articles(run_in_tm)
    shop.pages["/delivery"] = (
        "text/html",
        html_page("Delivery", "<h1>Delivery</h1><p>From March we deliver on Saturdays too.</p>"),
    )
    del shop.pages["/returns"]
    shop.requests.clear()

    second = crawl(run_in_tm, registry, source_id)

    found = results(run_in_tm, second)
    assert found["delivery"][0] == "updated"
    assert found[""] == ("unchanged", "not modified")  # the ETag answered 304
    assert found["returns"] == ("retired", "not found (HTTP 404)")
    after = website_articles(run_in_tm)
    assert after["delivery"].id == before["delivery"].id
    assert "Saturdays" in after["delivery"].body
    assert "two working days" not in after["delivery"].body
    returns = after["returns"]  # kept, not deleted
    assert returns.id == before["returns"].id
    assert returns.published is False
    assert returns.retired_at is not None
    assert not [p for p in run_in_tm(lambda db: search(db, "return parts unused receipt"))
                if p.title == "Returns"]  # fmt: skip

    # The page comes back: its article is published again, not duplicated.
    shop.pages["/returns"] = (
        "text/html",
        html_page("Returns", "<h1>Returns</h1><p>Parts can be returned within 60 days.</p>"),
    )
    third = crawl(run_in_tm, registry, source_id)
    assert results(run_in_tm, third)["returns"][0] == "updated"
    back = website_articles(run_in_tm)["returns"]
    assert (back.id, back.published, back.retired_at) == (returns.id, True, None)


def test_a_page_gone_from_the_links_is_fetched_again_and_retired_when_it_is_gone(
    run_in_tm, registry, shop
):
    source_id = add_source(run_in_tm, registry, shop.url + "/")
    crawl(run_in_tm, registry, source_id)
    # The home page no longer links to /returns, and /returns is gone.
    shop.pages["/"] = ("text/html", html_page("Welcome", "<p>We repair bicycles.</p>", []))
    del shop.pages["/returns"]

    second = crawl(run_in_tm, registry, source_id)

    assert results(run_in_tm, second)["returns"] == ("retired", "not found (HTTP 404)")
    assert website_articles(run_in_tm)["delivery"].retired_at is None  # unlinked, not gone


def test_a_page_that_drips_forever_fails_at_the_page_deadline_and_the_crawl_goes_on(
    run_in_tm, registry, shop
):
    shop.pages["/sitemap.xml"] = (
        "application/xml",
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{shop.url}/drip</loc></url><url><loc>{shop.url}/delivery</loc></url>"
        "</urlset>",
    )
    source_id = add_source(run_in_tm, registry, f"{shop.url}/sitemap.xml")

    crawl_id = crawl(run_in_tm, registry, source_id)

    found = results(run_in_tm, crawl_id)
    assert found["drip"][0] == "failed"
    assert "did not finish within 2 seconds" in found["drip"][1]
    assert found["delivery"][0] == "new"


def test_the_page_limit_stops_the_crawl_without_retiring_what_it_did_not_reach(
    run_in_tm, registry, shop
):
    source_id = add_source(run_in_tm, registry, f"{shop.url}/sitemap.xml")
    crawl(run_in_tm, registry, source_id)
    run_in_tm(lambda db: setattr(db.get(KnowledgeSource, source_id), "max_pages", 1))

    second = crawl(run_in_tm, registry, source_id)

    done = the_crawl(run_in_tm, second)
    assert done.status == "done"
    assert done.note == "Stopped at the page limit (1 pages)."
    assert sum(done.counts.values()) == 1
    assert all(a.retired_at is None for a in website_articles(run_in_tm).values())


@pytest.mark.app_settings(**{"outbound.allowed_private_hosts": "localhost:11434"})
def test_every_fetch_goes_through_the_outbound_address_rules(run_in_tm, registry, shop):
    # The dashboard refuses such a source outright...
    with pytest.raises(sources.SourceError, match="loopback address"):
        add_source(run_in_tm, registry, shop.url + "/")

    # ...and a source stored before the operator narrowed the allowlist fetches nothing.
    def insert(db):
        source = KnowledgeSource(name="old", url=shop.url + "/", max_pages=10, recrawl_hours=0)
        db.add(source)
        db.flush()
        return source.id

    crawl_id = crawl(run_in_tm, registry, run_in_tm(insert))

    done = the_crawl(run_in_tm, crawl_id)
    assert done.status == "failed"
    assert "refused by the outbound address rules" in done.note
    assert shop.requests == []


def test_robots_txt_disallowing_the_start_address_stops_the_crawl(run_in_tm, registry, shop):
    shop.pages["/robots.txt"] = ("text/plain", "User-agent: AsthronBot\nDisallow: /\n")
    source_id = add_source(run_in_tm, registry, shop.url + "/")

    crawl_id = crawl(run_in_tm, registry, source_id)

    done = the_crawl(run_in_tm, crawl_id)
    assert (done.status, done.note) == ("failed", "robots.txt disallows the start address.")
    assert shop.requests == ["/robots.txt"]


def test_one_crawl_at_a_time_and_a_dead_one_does_not_block_the_next(run_in_tm, registry, shop):
    source_id = add_source(run_in_tm, registry, shop.url + "/")
    run_in_tm(lambda db: sources.start_crawl(db, Actor.cli(), db.get(KnowledgeSource, source_id)))

    with pytest.raises(sources.SourceError, match="already under way"):
        run_in_tm(
            lambda db: sources.start_crawl(db, Actor.cli(), db.get(KnowledgeSource, source_id))
        )

    def lose_the_worker(db):
        crawl = db.scalar(sa.select(KnowledgeCrawl).where(KnowledgeCrawl.source_id == source_id))
        crawl.status = "running"
        crawl.heartbeat_at = crawl.created_at - dt.timedelta(hours=1)

    run_in_tm(lose_the_worker)
    new_id = run_in_tm(
        lambda db: sources.start_crawl(db, Actor.cli(), db.get(KnowledgeSource, source_id)).id
    )
    states = run_in_tm(
        lambda db: [
            (c.id, c.status, c.note)
            for c in db.scalars(sa.select(KnowledgeCrawl).order_by(KnowledgeCrawl.id))
        ]
    )
    assert states[0][1:] == ("failed", "The worker stopped before the crawl finished.")
    assert states[1] == (new_id, "queued", "")


def test_the_schedule_crawls_sources_whose_interval_has_passed(run_in_tm, registry, shop):
    due = add_source(run_in_tm, registry, f"{shop.url}/sitemap.xml", recrawl_hours=24)
    add_source(run_in_tm, registry, shop.url + "/", recrawl_hours=0)  # on demand only

    def make_due(db):
        source = db.get(KnowledgeSource, due)
        source.next_crawl_at = source.created_at - dt.timedelta(minutes=1)

    run_in_tm(make_due)

    tasks.crawl_due_sources()  # huey runs immediately in tests, the crawl after its commit

    crawls = run_in_tm(
        lambda db: [
            (c.source_id, c.trigger, c.status) for c in db.scalars(sa.select(KnowledgeCrawl))
        ]
    )
    assert crawls == [(due, "schedule", "done")]
    source = run_in_tm(lambda db: db.get(KnowledgeSource, due))
    assert source.next_crawl_at > source.created_at + dt.timedelta(hours=23)
    assert "delivery" in website_articles(run_in_tm)


def test_a_gzipped_sitemap_is_read(run_in_tm, registry, shop):
    listed = (
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{shop.url}/delivery</loc></url></urlset>"
    )
    shop.pages["/sitemap.xml.gz"] = ("application/gzip", gzip.compress(listed.encode()))
    source_id = add_source(run_in_tm, registry, f"{shop.url}/sitemap.xml.gz")

    crawl_id = crawl(run_in_tm, registry, source_id)

    assert results(run_in_tm, crawl_id) == {"delivery": ("new", "")}


def test_without_etags_an_unchanged_page_is_known_by_its_content_hash(run_in_tm, registry, shop):
    shop.etags = False
    source_id = add_source(run_in_tm, registry, f"{shop.url}/sitemap.xml")
    crawl(run_in_tm, registry, source_id)
    before = {url: a.updated_at for url, a in website_articles(run_in_tm).items()}

    second = crawl(run_in_tm, registry, source_id)

    found = results(run_in_tm, second)
    assert {url: found[url] for url in before} == dict.fromkeys(before, ("unchanged", ""))
    after = {url: a.updated_at for url, a in website_articles(run_in_tm).items()}
    assert after == before


def test_a_sitemap_index_is_followed_to_its_sitemaps_on_the_same_site(
    run_in_tm, registry, shop, offsite
):
    shop.pages["/sitemap-index.xml"] = (
        "application/xml",
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{shop.url}/pages.xml</loc></sitemap>"
        f"<sitemap><loc>{offsite.url}/their-sitemap.xml</loc></sitemap>"
        "</sitemapindex>",
    )
    shop.pages["/pages.xml"] = (
        "application/xml",
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{shop.url}/returns</loc></url><url><loc>{shop.url}/returns</loc></url>"
        "</urlset>",
    )
    source_id = add_source(run_in_tm, registry, f"{shop.url}/sitemap-index.xml")

    crawl_id = crawl(run_in_tm, registry, source_id)

    assert results(run_in_tm, crawl_id) == {"returns": ("new", "")}
    assert offsite.requests == []


def sitemap_of(site: Site, *paths: str) -> tuple[str, str]:
    locs = "".join(f"<url><loc>{site.url}{path}</loc></url>" for path in paths)
    return (
        "application/xml",
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>',
    )


def test_a_pdf_the_reader_cannot_decode_is_one_failed_page_and_the_crawl_goes_on(
    run_in_tm, registry, shop
):
    shop.pages["/price-list.pdf"] = (
        "application/pdf",
        (SAMPLES / "damaged-filter.pdf").read_bytes(),
    )
    shop.pages["/sitemap.xml"] = sitemap_of(shop, "/price-list.pdf", "/delivery")
    source_id = add_source(run_in_tm, registry, f"{shop.url}/sitemap.xml")

    crawl_id = crawl(run_in_tm, registry, source_id)

    assert the_crawl(run_in_tm, crawl_id).status == "done"
    assert results(run_in_tm, crawl_id) == {
        "price-list.pdf": ("failed", "the PDF is not a readable PDF (it may be damaged)"),
        "delivery": ("new", ""),
    }


def test_a_page_whose_reading_fails_unexpectedly_is_one_failed_page(
    run_in_tm, registry, shop, monkeypatch
):
    real = crawling.run_bounded

    def reader_with_a_bug(function, body, url):
        if url.endswith("/returns"):
            raise RuntimeError("a bug in a reader")
        return real(function, body, url)

    monkeypatch.setattr(crawling, "run_bounded", reader_with_a_bug)
    shop.pages["/sitemap.xml"] = sitemap_of(shop, "/returns", "/delivery")
    source_id = add_source(run_in_tm, registry, f"{shop.url}/sitemap.xml")

    crawl_id = crawl(run_in_tm, registry, source_id)

    assert the_crawl(run_in_tm, crawl_id).status == "done"
    assert results(run_in_tm, crawl_id) == {
        "returns": ("failed", "could not be read (unexpected RuntimeError)"),
        "delivery": ("new", ""),
    }


def test_a_known_page_that_now_redirects_to_a_page_already_there_is_retired(
    run_in_tm, registry, shop
):
    source_id = add_source(run_in_tm, registry, f"{shop.url}/sitemap.xml", publish_pages=True)
    crawl(run_in_tm, registry, source_id)
    returns = website_articles(run_in_tm)["returns"]
    assert returns.published
    # The returns page is removed and its address sent to the home page, as sites do.
    del shop.pages["/returns"]
    shop.redirects["/returns"] = "/"

    second = crawl(run_in_tm, registry, source_id)

    found = results(run_in_tm, second)
    assert found["returns"] == ("retired", f"redirects to {shop.url}/")
    assert found[""][0] == "unchanged"
    after = website_articles(run_in_tm)
    assert after["returns"].id == returns.id
    assert (after["returns"].published, after["returns"].retired_at is not None) == (False, True)
    assert after[""].published and after[""].retired_at is None


def test_a_known_page_moved_to_a_new_address_leaves_one_published_article(
    run_in_tm, registry, shop
):
    source_id = add_source(run_in_tm, registry, f"{shop.url}/sitemap.xml", publish_pages=True)
    crawl(run_in_tm, registry, source_id)
    del shop.pages["/returns"]
    shop.pages["/returns-policy"] = (
        "text/html",
        html_page("Returns", "<h1>Returns</h1><p>Parts can be returned within 14 days.</p>"),
    )
    shop.redirects["/returns"] = "/returns-policy"

    second = crawl(run_in_tm, registry, source_id)

    found = results(run_in_tm, second)
    assert found["returns"] == ("retired", f"redirects to {shop.url}/returns-policy")
    assert found["returns-policy"] == ("new", "")
    articles = website_articles(run_in_tm)
    published = {url for url, a in articles.items() if url.startswith("returns") and a.published}
    assert published == {"returns-policy"}
    assert "14 days" in articles["returns-policy"].body
    assert articles["returns"].retired_at is not None


def test_robots_txt_wildcards_are_obeyed(run_in_tm, registry, shop):
    shop.pages["/robots.txt"] = (
        "text/plain",
        "User-agent: *\nDisallow: /*.pdf$\nDisallow: /*/private\nDisallow: /search*\n",
    )
    shop.pages["/price-list.pdf"] = (
        "application/pdf",
        (SAMPLES / "price-list.pdf").read_bytes(),
    )
    for path in ("/shop/private/notes", "/search?q=bikes", "/searching", "/private-hire"):
        shop.pages[path] = ("text/html", html_page("Page", f"<p>The page at {path}.</p>"))
    shop.pages["/sitemap.xml"] = sitemap_of(
        shop,
        "/delivery",
        "/price-list.pdf",
        "/shop/private/notes",
        "/search?q=bikes",
        "/searching",
        "/private-hire",
    )
    source_id = add_source(run_in_tm, registry, f"{shop.url}/sitemap.xml")

    crawl_id = crawl(run_in_tm, registry, source_id)

    disallowed = ("skipped", "disallowed by robots.txt")
    assert results(run_in_tm, crawl_id) == {
        "delivery": ("new", ""),
        "price-list.pdf": disallowed,
        "shop/private/notes": disallowed,
        "search?q=bikes": disallowed,
        "searching": disallowed,
        "private-hire": ("new", ""),  # /*/private needs a folder before "private"
    }
    assert shop.requests == ["/robots.txt", "/sitemap.xml", "/delivery", "/private-hire"]


def test_a_sitemap_that_robots_txt_disallows_is_not_fetched(run_in_tm, registry, shop):
    shop.pages["/index.xml"] = (
        "application/xml",
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{shop.url}/private/pages.xml</loc></sitemap>"
        f"<sitemap><loc>{shop.url}/pages.xml</loc></sitemap>"
        "</sitemapindex>",
    )
    shop.pages["/private/pages.xml"] = sitemap_of(shop, "/delivery")
    shop.pages["/pages.xml"] = sitemap_of(shop, "/returns")
    source_id = add_source(run_in_tm, registry, f"{shop.url}/index.xml")

    crawl_id = crawl(run_in_tm, registry, source_id)

    assert "/private/pages.xml" not in shop.requests  # robots.txt: Disallow: /private/
    assert results(run_in_tm, crawl_id) == {"returns": ("new", "")}


def test_a_page_is_decoded_with_the_charset_its_content_type_header_names(
    run_in_tm, registry, shop
):
    # No <meta charset>: only the HTTP header says windows-1252.
    page = (
        "<!doctype html><html><head><title>Réparation complète</title></head><body><main>"
        "<h1>Réparation complète</h1><p>La révision complète coûte 79 €, pièces comprises, "
        "et le vélo est prêt en deux jours ouvrés.</p></main></body></html>"
    )
    shop.pages["/revision"] = ("text/html; charset=windows-1252", page.encode("cp1252"))
    shop.pages["/sitemap.xml"] = sitemap_of(shop, "/revision")
    source_id = add_source(run_in_tm, registry, f"{shop.url}/sitemap.xml")

    crawl(run_in_tm, registry, source_id)

    article = website_articles(run_in_tm)["revision"]
    assert article.title == "Réparation complète"
    assert "La révision complète coûte 79 €, pièces comprises" in article.body


def change_address(run_in_tm, registry, source_id, url):
    allowed = registry["app_settings"].outbound_allowed_private_hosts

    def change(db):
        source = db.get(KnowledgeSource, source_id)
        data = sources.SourceInput(source.name, url, source.max_pages, 0, source.publish_pages)
        sources.update_source(db, Actor.cli(), source, data, allowed)

    run_in_tm(change)


def test_moving_a_source_to_another_site_retires_the_old_sites_articles(
    run_in_tm, registry, shop, offsite
):
    source_id = add_source(run_in_tm, registry, f"{shop.url}/sitemap.xml", publish_pages=True)
    crawl(run_in_tm, registry, source_id)
    # Another address on the same site retires nothing.
    change_address(run_in_tm, registry, source_id, shop.url + "/")
    assert {a.retired_at for a in website_articles(run_in_tm).values()} == {None}
    offsite.pages["/robots.txt"] = ("text/plain", "")
    offsite.pages["/"] = (
        "text/html",
        html_page("Welcome", "<h1>Spoke & Wheel has moved</h1><p>Our new workshop site.</p>"),
    )

    change_address(run_in_tm, registry, source_id, offsite.url + "/")

    old = website_articles(run_in_tm)
    assert set(old) == {"", "delivery", "returns"}
    assert {(a.published, a.retired_at is not None) for a in old.values()} == {(False, True)}
    updates = run_in_tm(
        lambda db: [
            e.summary
            for e in db.scalars(
                sa.select(AuditEntry).where(AuditEntry.action == "knowledge.source_update")
            )
        ]
    )
    assert updates[-1] == {
        "url": offsite.url + "/",
        "previous_url": shop.url + "/",
        "retired_pages": 3,
    }

    # The next crawl imports the new site and has nothing to say about the old one.
    second = crawl(run_in_tm, registry, source_id)

    assert results(run_in_tm, second) == {"": ("new", "")}
    articles = run_in_tm(
        lambda db: {
            (a.source_url, a.published)
            for a in db.scalars(sa.select(Article).where(Article.source_kind == "website"))
            if a.retired_at is None
        }
    )
    assert articles == {(offsite.url + "/", True)}


def test_a_source_cannot_move_to_another_site_while_it_is_being_crawled(
    run_in_tm, registry, shop, offsite
):
    source_id = add_source(run_in_tm, registry, f"{shop.url}/sitemap.xml")
    run_in_tm(lambda db: sources.start_crawl(db, Actor.cli(), db.get(KnowledgeSource, source_id)))

    with pytest.raises(sources.SourceError, match="crawl of this website is under way"):
        change_address(run_in_tm, registry, source_id, offsite.url + "/")

    assert run_in_tm(lambda db: db.get(KnowledgeSource, source_id).url) == f"{shop.url}/sitemap.xml"

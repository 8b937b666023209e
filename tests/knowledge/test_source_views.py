"""Dashboard → Knowledge → Sources: adding a website, crawling it from the button, following
the crawl page by page, and uploading files (with the upload route's own body cap)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
import webtest

from asthron.audit.models import AuditEntry
from asthron.audit.service import Actor
from asthron.knowledge import service
from asthron.knowledge.models import Article
from asthron.knowledge.source_models import KnowledgeCrawl, KnowledgeSource
from tests.conftest import csrf_from
from tests.knowledge.site_server import Site, bicycle_shop

SOURCES = "/knowledge/sources"
UPLOAD = "/knowledge/upload"
SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture
def owner(app, make_user, login):
    client = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.30"})
    login(make_user("owner"), app=client)
    return client


@pytest.fixture
def shop():
    offsite = Site().start()
    site = bicycle_shop(offsite.url).start()
    yield site
    site.close()
    offsite.close()


def actions(run_in_tm, prefix="knowledge."):
    return run_in_tm(
        lambda db: [
            (e.action, e.summary)
            for e in db.scalars(
                sa.select(AuditEntry)
                .where(AuditEntry.action.like(f"{prefix}%"))
                .order_by(AuditEntry.id)
            )
        ]
    )


def test_staff_cannot_see_or_change_sources(app, make_user, login):
    staff = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.31"})
    login(make_user("staff"), app=staff)

    assert staff.get(SOURCES, status=403)
    token = csrf_from(staff.get("/"))
    staff.post(SOURCES, {"url": "https://example.com/", "csrf_token": token}, status=403)


def test_adding_a_website_and_crawling_it_from_the_dashboard(owner, run_in_tm, shop):
    page = owner.get(SOURCES)
    added = owner.post(
        SOURCES,
        {
            "csrf_token": csrf_from(page),
            "name": "Our shop",
            "url": f"{shop.url}/sitemap.xml",
            "max_pages": "50",
            "recrawl_hours": "24",
            "publish_pages": "1",
        },
        status=303,
    )
    source_page = added.follow()
    assert "The website source was saved." in source_page.text
    source = run_in_tm(lambda db: db.scalars(sa.select(KnowledgeSource)).one())
    assert (source.name, source.max_pages, source.recrawl_hours, source.publish_pages) == (
        "Our shop",
        50,
        24,
        True,
    )
    assert source.next_crawl_at is not None

    # "Crawl now": the worker (immediate in tests) runs it after the request commits.
    crawled = owner.post(
        f"{SOURCES}/{source.id}/crawl", {"csrf_token": csrf_from(source_page)}, status=303
    )
    crawl_page = crawled.follow()
    crawl = run_in_tm(lambda db: db.scalars(sa.select(KnowledgeCrawl)).one())
    assert crawl.status == "done"
    assert 'http-equiv="refresh"' not in crawl_page.text  # finished: no more reloading
    assert f"{shop.url}/private/staff-notes" in crawl_page.text
    assert "disallowed by robots.txt" in crawl_page.text
    assert "redirect loop" in crawl_page.text
    assert "not found (HTTP 404)" in crawl_page.text
    delivery = run_in_tm(
        lambda db: db.scalars(sa.select(Article).where(Article.title == "Delivery")).one()
    )
    assert delivery.source_url == f"{shop.url}/delivery"
    assert f"/knowledge/{delivery.id}" in crawl_page.text
    assert [a for a, _s in actions(run_in_tm)] == [
        "knowledge.source_create",
        "knowledge.crawl",
        *["knowledge.create"] * 3,
        "knowledge.crawl_finish",
    ]


def test_a_crawl_in_progress_reloads_its_page_and_refuses_a_second_one(owner, run_in_tm):
    source_id = run_in_tm(
        lambda db: _insert(db, KnowledgeSource(name="s", url="https://example.com/"))
    )
    crawl_id = run_in_tm(
        lambda db: _insert(db, KnowledgeCrawl(source_id=source_id, status="running", counts={}))
    )
    page = owner.get(f"/knowledge/crawls/{crawl_id}")
    assert 'http-equiv="refresh"' in page.text

    source_page = owner.get(f"{SOURCES}/{source_id}")
    refused = owner.post(
        f"{SOURCES}/{source_id}/crawl", {"csrf_token": csrf_from(source_page)}, status=409
    )
    assert "A crawl of this website is already under way." in refused.text


def _insert(db, row):
    db.add(row)
    db.flush()
    return row.id


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/", "Only http:// and https:// addresses are allowed."),
        ("http://10.1.2.3/", "is a private address"),
        ("http://169.254.169.254/latest/", "is a link-local address"),
        ("https://user:pw@example.com/", "must not contain a user name or password"),
        ("", "Enter the address of a sitemap or of the page to start from."),
    ],
)
def test_a_source_address_outside_the_rules_is_refused(owner, run_in_tm, url, message):
    page = owner.get(SOURCES)

    refused = owner.post(SOURCES, {"csrf_token": csrf_from(page), "url": url}, status=400)

    assert message in refused.text
    assert run_in_tm(lambda db: db.scalar(sa.select(sa.func.count(KnowledgeSource.id)))) == 0


def test_editing_and_removing_a_source_keeps_its_articles(owner, run_in_tm):
    source_id = run_in_tm(
        lambda db: _insert(db, KnowledgeSource(name="s", url="https://example.com/"))
    )
    article_id = run_in_tm(
        lambda db: _insert(
            db,
            Article(title="From the site", body="Text", tags=[], knowledge_source_id=source_id),
        )
    )
    page = owner.get(f"{SOURCES}/{source_id}")
    owner.post(
        f"{SOURCES}/{source_id}",
        {
            "csrf_token": csrf_from(page),
            "name": "Renamed",
            "url": "https://example.com/sitemap.xml",
            "max_pages": "10",
            "recrawl_hours": "0",
        },
        status=303,
    )
    assert run_in_tm(lambda db: db.get(KnowledgeSource, source_id).name) == "Renamed"

    owner.post(f"{SOURCES}/{source_id}/delete", {"csrf_token": csrf_from(page)}, status=303)

    assert run_in_tm(lambda db: db.get(KnowledgeSource, source_id)) is None
    article = run_in_tm(lambda db: db.get(Article, article_id))
    assert (article.title, article.knowledge_source_id) == ("From the site", None)
    assert [a for a, _s in actions(run_in_tm, "knowledge.source")] == [
        "knowledge.source_update",
        "knowledge.source_delete",
    ]


def _upload(owner, files, status, published=False):
    page = owner.get(SOURCES)
    fields = [("csrf_token", csrf_from(page))]
    if published:
        fields.append(("published", "1"))
    return owner.post(
        UPLOAD, fields, upload_files=[("files", name, data) for name, data in files], status=status
    )


def test_uploaded_files_become_articles_with_their_file_name_and_type(owner, run_in_tm):
    files = [
        (name, (SAMPLES / name).read_bytes())
        for name in ("price-list.pdf", "opening-hours.docx", "horaires-atelier.md")
    ]

    answer = _upload(owner, files, 200, published=True)

    assert "Bicycle repair price list" in answer.text
    rows = run_in_tm(
        lambda db: {
            a.title: (a.source_kind, a.source_file, a.source_type, a.published)
            for a in db.scalars(sa.select(Article))
        }
    )
    assert rows == {
        "Bicycle repair price list": ("file", "price-list.pdf", "pdf", True),
        "Opening hours and holidays": ("file", "opening-hours.docx", "docx", True),
        "Horaires de l'atelier": ("file", "horaires-atelier.md", "markdown", True),
    }
    imports = [s for a, s in actions(run_in_tm) if a == "knowledge.import"]
    assert [s["file"] for s in imports] == [
        "price-list.pdf",
        "opening-hours.docx",
        "horaires-atelier.md",
    ]


def test_a_bad_file_in_an_upload_imports_nothing_and_says_which_and_why(owner, run_in_tm):
    files = [
        ("warranty.md", (SAMPLES / "warranty.md").read_bytes()),
        ("encrypted.pdf", (SAMPLES / "encrypted.pdf").read_bytes()),
        ("readme.md", (SAMPLES / "price-list.pdf").read_bytes()),
    ]

    answer = _upload(owner, files, 400)

    assert "Nothing was imported" in answer.text
    assert "encrypted (password-protected) PDF" in answer.text
    assert "is a binary file (a PDF or an office document), not text" in answer.text
    assert run_in_tm(lambda db: db.scalar(sa.select(sa.func.count(Article.id)))) == 0


def test_a_pdf_the_reader_cannot_decode_is_refused_not_a_server_error(owner, run_in_tm):
    files = [("price-list.pdf", (SAMPLES / "damaged-filter.pdf").read_bytes())]

    answer = _upload(owner, files, 400)

    assert "Nothing was imported" in answer.text
    assert "is not a readable PDF (it may be damaged)" in answer.text
    assert run_in_tm(lambda db: db.scalar(sa.select(sa.func.count(Article.id)))) == 0


def test_a_50_mb_upload_is_refused_before_it_is_read(owner, run_in_tm):
    scan = b"%PDF-1.7\n" + b"\0" * (50 * 1024 * 1024)

    answer = _upload(owner, [("scan.pdf", scan)], 413)

    assert "The upload is too large: files of at most 20 MB in all" in answer.text
    assert run_in_tm(lambda db: db.scalar(sa.select(sa.func.count(Article.id)))) == 0


def test_other_routes_keep_the_ordinary_body_limit(owner):
    page = owner.get(SOURCES)
    big = "x" * (2 * 1024 * 1024)

    answer = owner.post(SOURCES, {"csrf_token": csrf_from(page), "name": big}, status=413)

    assert "The request body is too large (1,048,576 bytes at most)." in answer.text


def test_a_file_updates_only_the_article_imported_from_that_file_never_one_of_the_same_title(
    owner, run_in_tm
):
    def write_by_hand(db):
        data = service.ArticleInput(
            title="Opening hours",
            body="We are open 9 to 17, Monday to Friday.",
            tags=["hours"],
            published=True,
        )
        return service.create_article(db, Actor.cli(), data).id

    handwritten = run_in_tm(write_by_hand)
    notes = b"# Opening hours\n\nDraft: maybe we open on Sundays?\n"

    _upload(owner, [("notes.md", notes)], 200)
    _upload(owner, [("hours.md", b"# Opening hours\n\nFrom another file.\n")], 200)

    def articles(db):
        rows = db.scalars(sa.select(Article).order_by(Article.id))
        return [(a.id, a.source_kind, a.source_file, a.published, a.body) for a in rows]

    rows = run_in_tm(articles)
    assert rows[0] == (
        handwritten,
        "manual",
        None,
        True,
        "We are open 9 to 17, Monday to Friday.",
    )
    assert [row[1:] for row in rows[1:]] == [
        ("file", "notes.md", False, "Draft: maybe we open on Sundays?"),
        ("file", "hours.md", False, "From another file."),
    ]

    # The same file again updates its own article, and only that one.
    _upload(owner, [("notes.md", b"# Opening hours\n\nWe open on Sundays from May.\n")], 200)

    again = run_in_tm(articles)
    assert [row[0] for row in again] == [row[0] for row in rows]
    assert again[1][4] == "We open on Sundays from May."
    assert again[0] == rows[0] and again[2] == rows[2]


def test_an_uploaded_file_name_is_kept_as_one_plain_name(owner, run_in_tm):
    answer = _upload(owner, [("..\\..\\etc\\notes\x1b[31m.md", b"# Notes\n\nFree parking.")], 200)

    assert "Notes" in answer.text
    article = run_in_tm(lambda db: db.scalars(sa.select(Article)).one())
    assert article.source_file == "notes[31m.md"
    assert article.source_type == "markdown"

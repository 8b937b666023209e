"""Dashboard → Knowledge: roles, CSRF, validation, markdown shown as text, test retrieval."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
import webtest

from asthron.audit.models import AuditEntry
from asthron.knowledge.models import Article, ArticleChunk
from tests.conftest import csrf_from

LIST = "/knowledge"
NEW = "/knowledge/new"
ARTICLE = {
    "title": "Delivery",
    "body": "# Delivery\n\nWe deliver within **two** working days.\n\n"
    "## Costs\n\nDelivery is free over 50 euros. <script>alert(1)</script>",
    "tags": "Shipping, faq",
    "source_url": "https://shop.example.com/delivery",
    "published": "1",
}


@pytest.fixture
def browser(app, make_user, login):
    """A logged-in browser of its own for a role."""

    def make(role):
        client = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.20"})
        login(make_user(role), app=client)
        return client

    return make


def post(client, url, data, status=303, page_url=LIST):
    token = csrf_from(client.get(page_url if page_url else url))
    return client.post(url, dict(data, csrf_token=token), status=status)


def articles(run_in_tm):
    return run_in_tm(
        lambda db: [
            (a.title, a.body, list(a.tags), a.published, a.source_url)
            for a in db.scalars(sa.select(Article).order_by(Article.id))
        ]
    )


def actions(run_in_tm):
    return run_in_tm(
        lambda db: [
            (e.action, e.summary.get("title"))
            for e in db.scalars(
                sa.select(AuditEntry)
                .where(AuditEntry.action.like("knowledge.%"))
                .order_by(AuditEntry.id)
            )
        ]
    )


def test_staff_may_not_use_the_knowledge_pages(browser, run_in_tm):
    staff = browser("staff")
    token = csrf_from(staff.get("/account/sessions"))
    for url in (LIST, NEW, LIST + "?q=delivery", "/knowledge/1"):
        staff.get(url, status=403)
    staff.post(NEW, dict(ARTICLE, csrf_token=token), status=403)
    staff.post("/knowledge/1", dict(ARTICLE, csrf_token=token), status=403)
    staff.post("/knowledge/1/delete", {"csrf_token": token}, status=403)
    assert articles(run_in_tm) == []
    assert "/knowledge" not in staff.get("/").text  # no nav link either


@pytest.mark.parametrize("role", ["admin", "owner"])
def test_managers_write_edit_and_delete_articles(browser, run_in_tm, role):
    client = browser(role)
    assert 'href="http://localhost/knowledge"' in client.get("/").text
    created = post(client, NEW, ARTICLE, page_url=NEW)
    assert "notice=article_saved" in created.location
    page = created.follow()
    assert "The article was saved." in page.text
    # The markdown is shown as text, escaped, never rendered.
    assert "We deliver within **two** working days." in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text and "<strong>two" not in page.text
    assert articles(run_in_tm) == [
        (
            "Delivery",
            ARTICLE["body"],
            ["faq", "shipping"],
            True,
            "https://shop.example.com/delivery",
        )
    ]

    listing = client.get(LIST)
    assert "Delivery" in listing.text and "faq, shipping" in listing.text
    assert "yes" in listing.text

    edit_url = created.location.split("?")[0]
    post(client, edit_url, dict(ARTICLE, title="Shipping", published=""), page_url=edit_url)
    assert articles(run_in_tm)[0][0] == "Shipping"
    assert articles(run_in_tm)[0][3] is False
    assert "no (draft)" in client.get(LIST).text

    deleted = post(client, edit_url + "/delete", {}, page_url=edit_url)
    assert deleted.location.endswith("/knowledge?notice=article_deleted")
    assert articles(run_in_tm) == []
    chunks = run_in_tm(lambda db: db.scalar(sa.select(sa.func.count()).select_from(ArticleChunk)))
    assert chunks == 0
    assert actions(run_in_tm) == [
        ("knowledge.create", "Delivery"),
        ("knowledge.update", "Shipping"),
        ("knowledge.delete", "Shipping"),
    ]
    client.get(edit_url, status=404)


MALFORMED = [
    ({"title": ""}, "Give the article a title"),
    ({"title": "t" * 201}, "200 characters at most"),
    ({"body": "   "}, "The article needs some text."),
    ({"source_url": "javascript:alert(1)"}, "The source URL must be an http(s) address."),
    ({"tags": ",".join(f"tag{i}" for i in range(40))}, "At most 30 tags."),
    ({"title": "x" * 2000}, "The field title is too long."),
]


def test_malformed_input_is_a_form_error_and_changes_nothing(browser, run_in_tm):
    client = browser("admin")
    edit_url = post(client, NEW, ARTICLE, page_url=NEW).location.split("?")[0]
    before = articles(run_in_tm)
    for change, message in MALFORMED:
        for url in (NEW, edit_url):
            page = post(client, url, dict(ARTICLE, **change), status=400, page_url=url)
            assert message in page.text, (url, change)
            assert 'role="alert"' in page.text
            assert '<form method="post">' in page.text  # the form again, with what was typed
            assert articles(run_in_tm) == before, (url, change)
    # A repeated field is refused, not half-read.
    token = csrf_from(client.get(NEW))
    fields = [*ARTICLE.items(), ("title", "Other"), ("csrf_token", token)]
    page = client.post(NEW, fields, status=400)
    assert "The field title was sent more than once." in page.text
    assert articles(run_in_tm) == before


def test_posts_need_the_csrf_token(browser, run_in_tm):
    client = browser("owner")
    edit_url = post(client, NEW, ARTICLE, page_url=NEW).location.split("?")[0]
    before = articles(run_in_tm)
    client.post(NEW, dict(ARTICLE, title="Other"), status=400)
    client.post(edit_url, dict(ARTICLE, title="Other"), status=400)
    client.post(edit_url + "/delete", {}, status=400)
    client.post(edit_url + "/delete", {"csrf_token": "x" * 43}, status=400)
    assert articles(run_in_tm) == before


def test_unknown_and_malformed_ids_are_not_found(browser):
    client = browser("admin")
    token = csrf_from(client.get(LIST))
    client.get("/knowledge/999999", status=404)
    client.get("/knowledge/99999999999", status=404)
    client.post("/knowledge/999999/delete", {"csrf_token": token}, status=404)


def test_retrieval_box_shows_the_passages_search_returns(browser, run_in_tm):
    client = browser("admin")
    post(client, NEW, ARTICLE, page_url=NEW)
    post(
        client,
        NEW,
        {"title": "Secret draft", "body": "Delivery by drone, coming soon.", "published": ""},
        page_url=NEW,
    )
    page = client.get(LIST, {"q": "How much does delivery cost?"})
    assert page.status_int == 200
    assert "<strong>Delivery</strong> — Costs" in page.text
    assert "Delivery is free over 50 euros. &lt;script&gt;" in page.text
    assert "drone" not in page.text  # drafts are never retrieved
    assert 'value="How much does delivery cost?"' in page.text

    none = client.get(LIST, {"q": "quantum chromodynamics"})
    assert "No published article matches" in none.text
    hostile = client.get(LIST, {"q": '"unterminated NEAR( <b>x</b>'})
    assert hostile.status_int == 200 and "<b>x</b>" not in hostile.text

    repeated = client.get(LIST + "?q=a&q=b", status=400)
    assert "The parameter q was sent more than once." in repeated.text
    too_long = client.get(LIST, {"q": "x" * 500}, status=400)
    assert "too long" in too_long.text

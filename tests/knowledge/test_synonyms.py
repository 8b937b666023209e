"""The owner's synonyms: parsed strictly, used by retrieval at once, edited on the dashboard
(admin only, CSRF, audited, bad input a 400 form)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
import webtest

from asthron.audit.models import AuditEntry
from asthron.audit.service import Actor
from asthron.knowledge import service, synonyms
from asthron.knowledge.models import KnowledgeSynonym
from asthron.knowledge.search import answerable, parse_synonyms, search
from tests.conftest import csrf_from

PAGE = "/knowledge/synonyms"
FURNACE = (
    "Furnace servicing",
    "We service every make of furnace once a year for 85, checking the burner and the flue.",
)


def test_parse_lines_keeps_groups_and_refuses_what_is_not_one():
    assert synonyms.parse_lines("Boiler,  furnace , HEATER\n\nrent, hire, rent") == [
        ["boiler", "furnace", "heater"],
        ["rent", "hire"],
    ]
    for text, message in [
        ("boiler", "Line 1: list at least two"),
        ("a, b\nalone", "Line 2: list at least two"),
        (", ".join(f"w{i}" for i in range(25)), "at most 20 words"),
        ("x" * 600, "Line 1 is too long"),
        ("!!, ??", "needs a letter or digit"),
        ("a, b\n# boiler, furnace", 'Line 2 starts with "#"'),
        ("- #boiler, furnace", 'Line 1 starts with "#"'),
    ]:
        with pytest.raises(synonyms.SynonymError, match=message):
            synonyms.parse_lines(text)


def test_an_owner_synonym_makes_a_word_find_the_article(run_in_tm):
    run_in_tm(
        lambda db: service.create_article(db, Actor.cli(), service.ArticleInput(*FURNACE, []))
    )
    question = "How much is a boiler service?"
    before = run_in_tm(lambda db: answerable(search(db, question)))
    assert not before  # "boiler" is nowhere in the knowledge base: the question is not covered

    run_in_tm(lambda db: synonyms.replace_all(db, Actor.cli(), "boiler, furnace"))
    after = run_in_tm(lambda db: answerable(search(db, question)))
    assert [p.title for p in after][:1] == ["Furnace servicing"]

    # Removing it takes effect as well (the index is rebuilt when the synonyms change).
    run_in_tm(lambda db: synonyms.replace_all(db, Actor.cli(), ""))
    assert not run_in_tm(lambda db: answerable(search(db, question)))


def test_editing_a_group_takes_effect_though_the_row_count_and_ids_stay_the_same(run_in_tm):
    run_in_tm(
        lambda db: service.create_article(db, Actor.cli(), service.ArticleInput(*FURNACE, []))
    )
    run_in_tm(lambda db: synonyms.replace_all(db, Actor.cli(), "heater, furnace"))
    heater, boiler = "How much is a heater service?", "How much is a boiler service?"
    assert [p.title for p in run_in_tm(lambda db: answerable(search(db, heater)))][:1] == [
        "Furnace servicing"
    ]
    ids_before = run_in_tm(lambda db: db.scalars(sa.select(KnowledgeSynonym.id)).all())

    run_in_tm(lambda db: synonyms.replace_all(db, Actor.cli(), "boiler, furnace"))
    ids_after = run_in_tm(lambda db: db.scalars(sa.select(KnowledgeSynonym.id)).all())
    assert len(ids_after) == len(ids_before)  # SQLite even reuses the id
    assert [p.title for p in run_in_tm(lambda db: answerable(search(db, boiler)))][:1] == [
        "Furnace servicing"
    ]
    assert not run_in_tm(lambda db: answerable(search(db, heater)))


@pytest.fixture
def browser(app, make_user, login):
    def make(role):
        client = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.21"})
        login(make_user(role), app=client)
        return client

    return make


def test_dashboard_form_saves_audits_and_refuses_bad_lines(browser, run_in_tm):
    owner = browser("owner")
    page = owner.get(PAGE)
    assert "Synonym groups" in page.text
    token = csrf_from(page)
    owner.post(
        PAGE, {"synonyms": "boiler, furnace\nloo, toilet, wc", "csrf_token": token}, status=303
    )
    assert "boiler, furnace\nloo, toilet, wc" in owner.get(PAGE).text
    assert run_in_tm(synonyms.groups) == [["boiler", "furnace"], ["loo", "toilet", "wc"]]

    refused = owner.post(PAGE, {"synonyms": "boiler\n", "csrf_token": token}, status=400)
    assert "Line 1: list at least two" in refused.text
    assert "boiler" in refused.text  # the text is shown again to fix
    assert run_in_tm(synonyms.groups) == [["boiler", "furnace"], ["loo", "toilet", "wc"]]

    twice = owner.post(PAGE, {"synonyms": ["a, b", "c, d"], "csrf_token": token}, status=400)
    assert "more than once" in twice.text

    entries = run_in_tm(
        lambda db: [
            e.summary
            for e in db.scalars(
                sa.select(AuditEntry).where(AuditEntry.action == "knowledge.synonyms")
            )
        ]
    )
    assert entries == [{"groups": 2, "before": 0}]


def test_every_line_the_form_accepts_is_one_retrieval_reads():
    text = "boiler, furnace, #heater\n- loo, toilet"
    assert parse_synonyms("\n".join(", ".join(g) for g in synonyms.parse_lines(text))) == [
        ["boiler", "furnace", "#heater"],
        ["loo", "toilet"],
    ]


def test_a_line_too_long_once_saved_is_a_form_error_and_keeps_the_groups(browser, run_in_tm):
    owner = browser("owner")
    token = csrf_from(owner.get(PAGE))
    owner.post(PAGE, {"synonyms": "boiler, furnace", "csrf_token": token}, status=303)
    # 500 characters as typed, but saved with ", " between its 20 words: 519 characters.
    line = ",".join(f"w{i:02d}" + "x" * 20 for i in range(20))
    line += "y" * (synonyms.MAX_LINE - len(line))
    assert len(line) == synonyms.MAX_LINE

    refused = owner.post(PAGE, {"synonyms": line, "csrf_token": token}, status=400)
    assert "Line 1 is too long" in refused.text
    assert run_in_tm(synonyms.groups) == [["boiler", "furnace"]]


def test_staff_cannot_edit_synonyms_and_csrf_is_required(browser):
    browser("staff").get(PAGE, status=403)
    owner = browser("owner")
    owner.post(PAGE, {"synonyms": "a, b"}, status=400)

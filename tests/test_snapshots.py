"""Per-process snapshots of the settings rows the visitor-message path reads
(``asthron.snapshots``): the cache itself, its invalidation by the session events of the app's
session factory, the widget API and the handoff keywords seeing a change at once, and other
processes hearing of it through the notifier (Redis or PostgreSQL)."""

from __future__ import annotations

import contextlib
import time
import uuid

import pytest
import sqlalchemy as sa
import transaction
import webtest

from tests.conftest import ROOT, csrf_from, empty_database
from tests.fixtures.visitors import ORIGIN, Visitor
from tests.fixtures.waiting import wait_for

API = "/api/widget/v1"
ORIGIN_B = "https://blog.example.net"


# -- helpers ----------------------------------------------------------------------------------


class NotCached(Exception):
    pass


def _not_cached():
    raise NotCached


def is_cached(found, key) -> bool:
    """Whether ``key`` is held (and fresh) without loading anything: a load that raises is
    never stored."""
    try:
        found.get(key, _not_cached)
    except NotCached:
        return False
    return True


def commit_in(registry, func):
    """``func(db)`` in its own committed transaction on ``registry``'s session factory."""
    from asthron.db import get_tm_session

    tm = transaction.TransactionManager(explicit=True)
    with tm:
        db = get_tm_session(registry["dbsession_factory"], tm)
        result = func(db)
        db.flush()
        return result


def warm(registry, site_id: int) -> None:
    """Load the site and handoff-rules snapshots the way the visitor path does."""
    from asthron.inbox.triggers import rules_snapshot
    from asthron.sites.service import site_snapshot

    def read(db):
        site_snapshot(db, site_id)
        rules_snapshot(db)

    commit_in(registry, read)
    found = registry["snapshots"]
    assert is_cached(found, ("site", site_id))
    assert is_cached(found, "handoff_rules")


def assert_error(response, status, code):
    assert response.status_int == status, response.body
    assert response.json["error"]["code"] == code
    assert "Access-Control-Allow-Origin" not in response.headers


# -- 1. the cache -----------------------------------------------------------------------------


class Loader:
    def __init__(self, *values):
        self.values, self.calls = list(values), 0

    def __call__(self):
        self.calls += 1
        return self.values[min(self.calls, len(self.values)) - 1]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_get_loads_once_and_keeps_the_value():
    from asthron.snapshots import Snapshots

    found, load = Snapshots(), Loader("first", "second")
    assert found.get("k", load) == "first"
    assert found.get("k", load) == "first"
    assert load.calls == 1
    # Keys are separate.
    other = Loader("other")
    assert found.get(("site", 1), other) == "other"
    assert found.get("k", load) == "first" and load.calls == 1


def test_none_is_a_snapshot_too():
    from asthron.snapshots import Snapshots

    found, load = Snapshots(), Loader(None, "second")
    assert found.get("k", load) is None
    assert found.get("k", load) is None
    assert load.calls == 1


def test_invalidate_forces_a_reload():
    from asthron.snapshots import Snapshots

    found, load = Snapshots(), Loader("first", "second")
    found.get("k", load)
    found.invalidate()
    assert not is_cached(found, "k")
    assert found.get("k", load) == "second"
    assert load.calls == 2
    assert found.get("k", load) == "second" and load.calls == 2


def test_ttl_expiry_reloads():
    from asthron.snapshots import Snapshots

    clock = Clock()
    found, load = Snapshots(ttl=60, clock=clock), Loader("first", "second")
    assert found.get("k", load) == "first"
    clock.now += 59.9
    assert found.get("k", load) == "first" and load.calls == 1
    clock.now += 0.1  # exactly 60 s old: stale
    assert found.get("k", load) == "second" and load.calls == 2
    # The reload is timed from when it was read.
    clock.now += 59
    assert found.get("k", load) == "second" and load.calls == 2


def test_a_load_that_races_an_invalidation_is_not_kept():
    from asthron.snapshots import Snapshots

    found = Snapshots()
    calls = []

    def racing_load():
        calls.append(1)
        # A watched change commits (here or in another process) while the row is being read.
        found.invalidate()
        return "maybe stale"

    # The caller still gets what was read, but nobody else will.
    assert found.get("k", racing_load) == "maybe stale"
    assert not is_cached(found, "k")
    assert found.get("k", Loader("fresh")) == "fresh"
    assert is_cached(found, "k")
    assert len(calls) == 1


def test_a_session_from_outside_the_app_always_reads():
    from sqlalchemy.orm import Session

    from asthron.snapshots import snapshots

    with Session() as db:
        load = Loader("a", "b")
        assert snapshots(db).get("k", load) == "a"
        assert snapshots(db).get("k", load) == "b"
        assert load.calls == 2


def test_frozen_copies_the_column_values():
    from asthron.sites.models import Site
    from asthron.snapshots import frozen

    assert frozen(None) is None
    site = Site(
        id=7,
        public_key="site_abc",
        name="Shop",
        allowed_origins=[ORIGIN],
        title="Ask",
        privacy_url="",
    )
    copy = frozen(site)
    assert type(copy).__name__ == "SimpleNamespace"
    columns = {c.key for c in sa.inspect(Site).column_attrs}
    assert set(vars(copy)) == columns
    assert (copy.id, copy.public_key, copy.name, copy.allowed_origins, copy.title) == (
        7,
        "site_abc",
        "Shop",
        [ORIGIN],
        "Ask",
    )
    # A copy, not a view of the row: later changes to the row do not show through.
    site.name, site.allowed_origins = "Renamed", [ORIGIN_B]
    assert copy.name == "Shop" and copy.allowed_origins == [ORIGIN]
    assert not hasattr(copy, "_sa_instance_state")


# -- 2. invalidation by the app's session events ----------------------------------------------


def _set_origins(site_id, origins):
    def change(db):
        from asthron.sites.models import Site

        db.get(Site, site_id).allowed_origins = list(origins)

    return change


def _rules_row(keywords):
    def change(db):
        from asthron.inbox.models import HandoffRules

        row = db.get(HandoffRules, 1)
        if row is None:
            db.add(HandoffRules(id=1, keywords=list(keywords)))
        else:
            row.keywords = list(keywords)

    return change


def _change_profile(db):
    from asthron.assistant.forms import ProfileForm
    from asthron.assistant.profile_settings import save_profile
    from asthron.audit.service import Actor
    from asthron.forms import validate_form

    values = {"business_name": "Corner Shop", "reply_max_chars": "900", "turn_cap": "30"}
    save_profile(db, Actor.cli(), validate_form(ProfileForm, values))


def _add_provider(db):
    from asthron.assistant.models import ProviderConfig

    db.add(ProviderConfig(slot="primary", kind="ollama", base_url="http://127.0.0.1:9", model="m"))


def _bulk_update_site(site_id):
    def change(db):
        from asthron.sites.models import Site

        db.execute(
            sa.update(Site)
            .where(Site.id == site_id)
            .values(allowed_origins=[ORIGIN_B])
            .execution_options(synchronize_session=False)
        )

    return change


def _bulk_delete_rules(db):
    from asthron.inbox.models import HandoffRules

    db.execute(sa.delete(HandoffRules))


WATCHED_CHANGES = {
    "site origins (ORM)": lambda site_id: _set_origins(site_id, [ORIGIN_B]),
    "handoff rules, new row": lambda _site_id: _rules_row(["refund"]),
    "handoff rules, existing row": lambda _site_id: _rules_row(["complaint"]),
    "assistant profile (service)": lambda _site_id: _change_profile,
    "provider config": lambda _site_id: _add_provider,
    "bulk UPDATE of sites": _bulk_update_site,
    "bulk DELETE of handoff rules": lambda _site_id: _bulk_delete_rules,
}


@pytest.mark.parametrize("change", list(WATCHED_CHANGES))
def test_a_committed_change_to_a_watched_table_drops_the_snapshots(registry, make_site, change):
    site = make_site(origins=(ORIGIN, ORIGIN_B))
    if change in ("handoff rules, existing row", "bulk DELETE of handoff rules"):
        commit_in(registry, _rules_row(["old"]))
    warm(registry, site["id"])
    found = registry["snapshots"]

    commit_in(registry, WATCHED_CHANGES[change](site["id"]))

    # Every snapshot goes at once, whatever table changed.
    assert not is_cached(found, ("site", site["id"]))
    assert not is_cached(found, "handoff_rules")


def test_the_next_read_after_a_change_sees_the_committed_values(registry, make_site):
    from asthron.inbox.triggers import rules_snapshot
    from asthron.sites.service import site_snapshot

    site = make_site(origins=(ORIGIN, ORIGIN_B))
    warm(registry, site["id"])
    commit_in(registry, _set_origins(site["id"], [ORIGIN_B]))
    commit_in(registry, _rules_row(["refund"]))
    fresh = commit_in(registry, lambda db: site_snapshot(db, site["id"]))
    assert fresh.allowed_origins == [ORIGIN_B]
    assert commit_in(registry, rules_snapshot).keywords == ["refund"]
    # And that is what is held now.
    assert registry["snapshots"].get(("site", site["id"]), _not_cached) is fresh


def _unwatched_changes(registry, site):
    """Commits of the kinds a visitor message makes: none touches a watched table."""
    from asthron.conversations import service
    from asthron.conversations.models import Conversation
    from asthron.conversations.models import Visitor as VisitorRow

    def make(db):
        from asthron.sites.models import Site

        visitor, _token = service.start_visitor(
            db, db.get(Site, site["id"]), "TestAgent", None, None
        )
        db.flush()
        conversation, _created = service.open_conversation(db, visitor)
        db.flush()
        return visitor.id, conversation.id

    visitor_id, conversation_id = commit_in(registry, make)

    def event(db):
        conversation = db.get(Conversation, conversation_id)
        service.append_event(db, conversation, "note", "for staff", public=False)

    def bulk(db):
        db.execute(
            sa.update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(unanswered_streak=1)
            .execution_options(synchronize_session=False)
        )
        db.get(VisitorRow, visitor_id).name = "Ada"

    return event, bulk


def test_commits_to_unwatched_tables_keep_the_snapshots(registry, make_site):
    site = make_site()
    warm(registry, site["id"])
    found = registry["snapshots"]
    # An event, a bulk UPDATE and an ORM change (after creating a visitor and conversation).
    for change in _unwatched_changes(registry, site):
        commit_in(registry, change)
        assert is_cached(found, ("site", site["id"])), change
        assert is_cached(found, "handoff_rules"), change
    # Reading a watched row (without changing it) keeps them too.
    from asthron.sites.models import Site

    commit_in(registry, lambda db: db.get(Site, site["id"]))
    assert is_cached(found, ("site", site["id"]))


def test_a_rolled_back_change_does_not_mark_the_next_commit(registry, make_site):
    """A watched change flushed and then rolled back leaves nothing behind: the next commit,
    in the same session, of an unrelated table keeps the snapshots."""
    from asthron.conversations.models import Visitor as VisitorRow
    from asthron.sites.models import Site

    site = make_site(origins=(ORIGIN, ORIGIN_B))
    warm(registry, site["id"])
    event, _bulk = _unwatched_changes(registry, site)
    found = registry["snapshots"]

    # A plain session from the app's factory, reused after its rollback.
    db = registry["dbsession_factory"]()
    try:
        db.get(Site, site["id"]).allowed_origins = [ORIGIN_B]
        db.flush()
        db.execute(sa.update(Site).where(Site.id == site["id"]).values(title="Rolled back"))
        db.rollback()
        assert is_cached(found, ("site", site["id"]))
        visitor = db.scalar(sa.select(VisitorRow).where(VisitorRow.site_id == site["id"]))
        visitor.name = "Grace"
        db.commit()
        assert is_cached(found, ("site", site["id"]))
        assert is_cached(found, "handoff_rules")
    finally:
        db.close()

    # And through a transaction manager, as requests and jobs do: abort, then commit.
    from asthron.db import get_tm_session

    tm = transaction.TransactionManager(explicit=True)
    tm.begin()
    aborted = get_tm_session(registry["dbsession_factory"], tm)
    aborted.get(Site, site["id"]).allowed_origins = [ORIGIN_B]
    aborted.flush()
    tm.abort()
    aborted.close()
    commit_in(registry, event)
    assert is_cached(found, ("site", site["id"]))
    # Nothing was changed: the origins are as they were.
    stored = commit_in(registry, lambda db: db.get(Site, site["id"]).allowed_origins)
    assert stored == sorted([ORIGIN, ORIGIN_B])


def test_a_watched_change_in_a_plain_session_commit_drops_the_snapshots(registry, make_site):
    from asthron.sites.models import Site

    site = make_site(origins=(ORIGIN, ORIGIN_B))
    warm(registry, site["id"])
    db = registry["dbsession_factory"]()
    try:
        db.execute(sa.update(Site).where(Site.id == site["id"]).values(title="New title"))
        db.commit()
    finally:
        db.close()
    assert not is_cached(registry["snapshots"], ("site", site["id"]))


# -- 3. the widget API sees an origin removed at once ------------------------------------------


@pytest.fixture
def admin(app, make_user, login):
    client = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.61"})
    login(make_user("admin"), app=client)
    return client


def _site_form(**overrides):
    values = {
        "name": "Shop",
        "origins": f"{ORIGIN}\n{ORIGIN_B}",
        "title": "Chat with us",
        "greeting": "Hi!",
        "accent_color": "#2f5bea",
        "position": "right",
        "language": "en",
        "timezone": "UTC",
        "business_hours": "{}",
        "holidays": "",
        "privacy_notice": "",
        "privacy_url": "",
    }
    values.update(overrides)
    return values


def test_an_origin_removed_in_the_dashboard_is_refused_on_the_next_call(
    testapp, registry, make_site, admin
):
    site = make_site(origins=(ORIGIN, ORIGIN_B))
    visitor = Visitor(testapp, site, ORIGIN)
    conversation = visitor.open()
    config = testapp.get(f"{API}/config", headers=visitor.headers)
    assert config.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert config.json["title"] == "Chat with us"
    sent = visitor.send(conversation["id"], "hello", status=201)
    assert sent.headers["Access-Control-Allow-Origin"] == ORIGIN
    # The widget API now reads the site from this process's snapshot.
    assert is_cached(registry["snapshots"], ("site", site["id"]))

    page = admin.get(f"/sites/{site['id']}")
    response = admin.post(
        f"/sites/{site['id']}",
        {**_site_form(origins=ORIGIN_B, title="Ask the shop"), "csrf_token": csrf_from(page)},
    )
    assert response.status_int == 303

    # The very next calls from the removed origin are refused: no stale CORS.
    refused = testapp.get(f"{API}/config", headers=visitor.headers, status="*")
    assert_error(refused, 403, "origin_not_allowed")
    refused = visitor.send(conversation["id"], "still here?")
    assert_error(refused, 403, "origin_not_allowed")
    refused = visitor.events(conversation["id"])
    assert_error(refused, 403, "origin_not_allowed")
    # The origin that stayed works, with the new settings.
    kept = testapp.get(f"{API}/config", headers={**visitor.headers, "Origin": ORIGIN_B})
    assert kept.headers["Access-Control-Allow-Origin"] == ORIGIN_B
    assert kept.json["title"] == "Ask the shop"


def test_an_origin_removed_by_the_site_service_is_refused_on_the_next_call(
    testapp, registry, make_site
):
    from asthron.audit.service import Actor
    from asthron.sites import service
    from asthron.sites.models import Site

    site = make_site(origins=(ORIGIN, ORIGIN_B))
    visitor = Visitor(testapp, site, ORIGIN)
    testapp.get(f"{API}/config", headers=visitor.headers)

    def remove(db):
        row = db.get(Site, site["id"])
        service.update_site(db, Actor.cli(), row, service.SiteInput("Shop", [ORIGIN_B]))

    commit_in(registry, remove)
    refused = testapp.get(f"{API}/config", headers=visitor.headers, status="*")
    assert_error(refused, 403, "origin_not_allowed")


# -- 4. a handoff keyword takes effect on the next visitor message ----------------------------


def _conversation_row(registry, conversation_id):
    from asthron.conversations.models import Conversation

    return commit_in(
        registry,
        lambda db: (lambda c: (c.owner, c.status))(db.get(Conversation, conversation_id)),
    )


def _rule_notes(registry, conversation_id):
    from asthron.conversations.models import ConversationEvent

    def read(db):
        notes = db.scalars(
            sa.select(ConversationEvent).where(
                ConversationEvent.conversation_id == conversation_id,
                ConversationEvent.type == "note",
            )
        )
        return [(n.data or {}).get("handoff_trigger") for n in notes]

    return commit_in(registry, read)


def test_a_new_handoff_keyword_applies_to_the_very_next_message(app, testapp, registry, make_site):
    site = make_site()
    commit_in(registry, _rules_row([]))
    visitor = Visitor(testapp, site)
    conversation = visitor.open()
    # A message without any keyword: the assistant answers, and the rules are now held.
    visitor.send(conversation["id"], "Do you sell refunds of gift cards?", status=201)
    assert _conversation_row(registry, conversation["id"]) == ("assistant", "open")
    assert is_cached(registry["snapshots"], "handoff_rules")

    # The owner adds a keyword (the rules row, committed as a settings service would).
    commit_in(registry, _rules_row(["refund"]))

    visitor.send(conversation["id"], "I want a REFUND now", status=201)
    assert _conversation_row(registry, conversation["id"]) == ("waiting", "open")
    assert "rule" in _rule_notes(registry, conversation["id"])


def test_a_first_rules_row_applies_to_the_very_next_message(app, testapp, registry, make_site):
    """No rules row yet (the defaults are held as the snapshot); the first one saved counts."""
    site = make_site()
    visitor = Visitor(testapp, site)
    conversation = visitor.open()
    visitor.send(conversation["id"], "hello there", status=201)
    assert is_cached(registry["snapshots"], "handoff_rules")
    commit_in(registry, _rules_row(["complaint"]))
    visitor.send(conversation["id"], "I have a complaint", status=201)
    assert _conversation_row(registry, conversation["id"])[0] == "waiting"


# -- 5. other processes hear of a change --------------------------------------------------------


def _settings(database_url, tmp_path, secrets_file, notifier, redis_url):
    return {
        "here": str(ROOT),
        "asthron.database_url": database_url,
        "asthron.huey_url": f"sqlite:///{tmp_path / 'huey.sqlite'}",
        "asthron.huey.immediate": "true",
        "asthron.secrets_file": str(secrets_file),
        "asthron.public_url": "http://localhost",
        "asthron.templates_dir": str(ROOT / "templates"),
        "asthron.migrations_dir": str(ROOT / "migrations"),
        "asthron.var_dir": str(tmp_path / "var"),
        "asthron.notifier": notifier,
        "asthron.redis_url": redis_url,
        "jinja2.autoescape": "true",
        "jinja2.undefined": "strict",
        "retry.attempts": "3",
    }


@pytest.fixture(
    params=[
        pytest.param("redis", marks=[pytest.mark.postgresql, pytest.mark.redis]),
        pytest.param("postgresql", marks=pytest.mark.postgresql),
    ]
)
def two_apps(request, pg_database_url, tmp_path, secrets_file):
    """Two apps on one PostgreSQL database and one notifier bus, as two web processes are:
    each with its own registry, session factory, snapshots and notifier."""
    from asthron import main

    notifier = request.param
    redis_url = request.getfixturevalue("redis_url") if notifier == "redis" else "redis://unused"
    apps = []
    try:
        for name in ("a", "b"):
            directory = tmp_path / name
            directory.mkdir()
            apps.append(
                main({}, **_settings(pg_database_url, directory, secrets_file, notifier, redis_url))
            )
        for application in apps:
            assert application.registry["notifier"].backend == notifier
        yield apps
    finally:
        for application in apps:
            application.registry["reply_runner"].pool.shutdown(wait=True)
            application.registry["notifier"].stop()
            application.registry["db_engine"].dispose()
        empty_database(pg_database_url)


@contextlib.contextmanager
def heard_in(registry, changes=1):
    """On leaving the block, wait until ``registry``'s process has dropped its snapshots for
    the ``changes`` commits another process made in it.

    The word travels through the notifier and arrives a moment later, in a thread of its own:
    a snapshot the process took in that moment would be dropped under the test's feet.
    """
    found = registry["snapshots"]
    before = found._generation
    yield
    wait_for(
        lambda: found._generation >= before + changes,
        f"the other process to hear of {changes} change(s)",
        timeout=10,
        interval=0.01,
    )


def _wait_until(predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_a_change_in_one_process_drops_the_snapshots_of_another(two_apps):
    from asthron.audit.service import Actor
    from asthron.sites import service
    from asthron.sites.models import Site

    app_a, app_b = two_apps
    registry_a, registry_b = app_a.registry, app_b.registry
    assert registry_a["snapshots"] is not registry_b["snapshots"]

    def create(db):
        created = service.create_site(
            db, Actor.cli(), service.SiteInput("Shop", [ORIGIN, ORIGIN_B])
        )
        return {"id": created.id, "key": created.public_key}

    with heard_in(registry_b):
        site = commit_in(registry_a, create)
    client_b = webtest.TestApp(app_b, extra_environ={"REMOTE_ADDR": "192.0.2.70"})
    visitor = Visitor(client_b, site, ORIGIN)
    ok = client_b.get(f"{API}/config", headers=visitor.headers)
    assert ok.headers["Access-Control-Allow-Origin"] == ORIGIN
    found_b = registry_b["snapshots"]
    assert is_cached(found_b, ("site", site["id"]))

    # An unrelated commit in A says nothing to B.
    commit_in(registry_a, lambda db: service.list_sites(db))
    assert is_cached(found_b, ("site", site["id"]))

    def remove(db):
        row = db.get(Site, site["id"])
        service.update_site(db, Actor.cli(), row, service.SiteInput("Shop", [ORIGIN_B]))

    commit_in(registry_a, remove)
    assert not is_cached(registry_a["snapshots"], ("site", site["id"]))
    assert _wait_until(lambda: not is_cached(found_b, ("site", site["id"]))), (
        "B still holds the old site 2 s after A committed the change"
    )

    refused = client_b.get(f"{API}/config", headers=visitor.headers, status="*")
    assert_error(refused, 403, "origin_not_allowed")
    kept = client_b.get(f"{API}/config", headers={**visitor.headers, "Origin": ORIGIN_B})
    assert kept.headers["Access-Control-Allow-Origin"] == ORIGIN_B


def test_a_handoff_keyword_saved_in_one_process_applies_in_another(two_apps):
    from asthron.audit.service import Actor
    from asthron.sites import service

    app_a, app_b = two_apps
    with heard_in(app_b.registry, changes=2):
        site = commit_in(
            app_a.registry,
            lambda db: (lambda s: {"id": s.id, "key": s.public_key})(
                service.create_site(db, Actor.cli(), service.SiteInput("Shop", [ORIGIN]))
            ),
        )
        commit_in(app_a.registry, _rules_row([]))
    client_b = webtest.TestApp(app_b, extra_environ={"REMOTE_ADDR": "192.0.2.71"})
    visitor = Visitor(client_b, site, ORIGIN)
    conversation = visitor.open()
    visitor.send(conversation["id"], "hello", status=201)
    assert is_cached(app_b.registry["snapshots"], "handoff_rules")

    commit_in(app_a.registry, _rules_row(["refund"]))
    assert _wait_until(lambda: not is_cached(app_b.registry["snapshots"], "handoff_rules"))
    visitor.send(conversation["id"], "a refund please", client_id=uuid.uuid4().hex, status=201)
    assert _conversation_row(app_b.registry, conversation["id"])[0] == "waiting"


def test_a_transaction_that_changed_a_watched_row_does_not_cache_its_uncommitted_view(
    app, registry, run_in_tm
):
    """Read inside the changing transaction, then rolled back: the process keeps nothing."""
    import transaction

    from asthron.db import get_tm_session
    from asthron.inbox.models import HandoffRules
    from asthron.inbox.triggers import rules_snapshot

    run_in_tm(lambda db: db.add(HandoffRules(id=1, keywords=["before"])))
    tm = transaction.TransactionManager(explicit=True)
    tm.begin()
    db = get_tm_session(registry["dbsession_factory"], tm)
    try:
        db.get(HandoffRules, 1).keywords = ["uncommitted"]
        assert rules_snapshot(db).keywords == ["uncommitted"]  # what this transaction sees
        db.flush()
        assert rules_snapshot(db).keywords == ["uncommitted"]
    finally:
        tm.abort()
        db.close()
    assert run_in_tm(lambda db: rules_snapshot(db).keywords) == ["before"]


def test_qualification_in_use_follows_questions_being_added_and_deactivated(app, run_in_tm):
    from asthron.leads.models import QualificationQuestion
    from asthron.leads.qualification import any_active_question

    assert run_in_tm(any_active_question) is False
    run_in_tm(
        lambda db: db.add(
            QualificationQuestion(key="budget", text="What is your budget?", kind="number")
        )
    )
    assert run_in_tm(any_active_question) is True

    def deactivate(db):
        for question in db.query(QualificationQuestion):
            question.active = False

    run_in_tm(deactivate)
    assert run_in_tm(any_active_question) is False

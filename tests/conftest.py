"""Shared fixtures: both databases, a configured app, WebTest, factories and login.

Every database test runs on SQLite and on PostgreSQL (the ``db_url`` fixture is parametrised).
PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379 are skipped when unreachable,
unless ASTHRON_REQUIRE_SERVICES=1 (CI), which turns a missing service into a failure.

Fixtures that several test packages share live in tests/fixtures/ and are registered below, so
no conftest imports fixtures from a sibling package.
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa
import transaction
from sqlalchemy.pool import NullPool

pytest_plugins = [
    "tests.fixtures.hashing",
    "tests.fixtures.providers",
    "tests.fixtures.visitors",
    "tests.fixtures.smtp",
    "tests.fixtures.worker",
    "tests.fixtures.cli",
]

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get(
    "ASTHRON_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


REQUIRE_SERVICES = os.environ.get("ASTHRON_REQUIRE_SERVICES") == "1"
_redis_lock = None  # held for the life of the process: the Redis database is ours


def _redis_db() -> int:
    """A Redis database that no other test process uses at the same time.

    Each process takes an exclusive lock on a file per database, so xdist workers and test
    runs side by side (other worktrees on the same machine) never flush each other's queues.
    xdist worker gwN prefers 14 - N; any free one of 14 down to 2 will do, then 15, which test
    runs from before these locks take without one. 0 and 1 are left alone: they are the ones
    development.ini and production.ini use.
    """
    global _redis_lock
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    preferred = 14 - (index % 13)
    for db in [preferred, *(n for n in range(14, 1, -1) if n != preferred), 15]:
        lock = open(Path(tempfile.gettempdir()) / f"asthron-test-redis-{db}.lock", "a")  # noqa: SIM115
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        _redis_lock = lock
        return db
    raise RuntimeError("every Redis test database (2-15) is in use by another test process")


@functools.cache
def redis_test_url() -> str:
    """This process's Redis URL (ASTHRON_TEST_REDIS_URL, or a database of its own)."""
    return os.environ.get("ASTHRON_TEST_REDIS_URL") or f"redis://127.0.0.1:6379/{_redis_db()}"


def database_name(kind: str) -> str:
    """A PostgreSQL database name of this process's own: per xdist worker and per process, so
    workers and test runs side by side never drop each other's database."""
    return f"asthron_{kind}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f"{name} at {host}:{port} is unreachable"
    if REQUIRE_SERVICES:
        pytest.fail(message + " and ASTHRON_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


def migrate(url: str) -> None:
    from alembic import command

    from asthron.cli.db import alembic_config
    from asthron.settings import AppSettings

    settings = AppSettings(
        database_url=url,
        huey_url="sqlite:///unused",
        secrets_file=Path("unused"),
        migrations_dir=ROOT / "migrations",
        var_dir=Path("/tmp"),
    )
    command.upgrade(alembic_config(settings), "head")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database_url() -> str:
    """A database of our own on the PostgreSQL server, migrated once per test session."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = database_name("test")
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    migrate(url)
    yield url
    forget_database(url)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def _pg_scratch_url() -> str:
    """A PostgreSQL database of this process's own, made once, for ``empty_pg_url``."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = database_name("scratch")
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def empty_pg_url(_pg_scratch_url) -> str:
    """A PostgreSQL database with nothing in it, for the test alone (for the tests of
    ``asthron setup``, ``asthron db`` and the migrations, which make the schema themselves).

    One database per process, its schema dropped and made again before each test: what
    creating and dropping a database per test gave, without DROP DATABASE's checkpoint, which
    took seconds when the server was busy.
    """
    engine = sa.create_engine(_pg_scratch_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            # Whatever the last test left connected goes, as DROP DATABASE ... WITH (FORCE) did.
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            connection.execute(sa.text("DROP SCHEMA public CASCADE"))
            connection.execute(sa.text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    return _pg_scratch_url


_emptiers: dict[str, tuple[sa.Engine, str, list[str]]] = {}


def empty_database(url: str) -> None:
    """Empty every table and restart every id sequence, as TRUNCATE ... RESTART IDENTITY would.

    With DELETE and setval, in one round trip on a kept connection: the tables hold a few
    rows after a test, and TRUNCATE, which gives every table new files, took a few hundred
    milliseconds each time.
    """
    if url not in _emptiers:
        from asthron.db import Base
        from asthron.models import import_all_models

        import_all_models()
        names = [t.name for t in Base.metadata.sorted_tables]
        engine = sa.create_engine(url, pool_size=1)
        with engine.connect() as connection:
            sequences = connection.scalars(
                sa.text(
                    "SELECT s.oid::regclass::text FROM pg_class s"
                    " JOIN pg_depend d ON d.objid = s.oid"
                    " AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')"
                    " JOIN pg_class t ON t.oid = d.refobjid"
                    " WHERE s.relkind = 'S' AND t.relname = ANY(:names)"
                ),
                {"names": names},
            ).all()
        # Children before parents, so no foreign key stops a delete.
        deletes = "; ".join(f'DELETE FROM "{name}"' for name in reversed(names))  # noqa: S608
        _emptiers[url] = (engine, deletes, sequences)
    engine, deletes, sequences = _emptiers[url]
    with engine.begin() as connection:
        connection.execute(sa.text(deletes))
        connection.execute(
            sa.text(
                "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass,"
                " start_value, false) FROM pg_sequences"
                " WHERE last_value IS NOT NULL"
                " AND format('%I.%I', schemaname, sequencename)::regclass::text = ANY(:sequences)"
            ),
            {"sequences": sequences},
        )


def forget_database(url: str) -> None:
    """Close the connection ``empty_database`` keeps to ``url`` (before it is dropped)."""
    emptier = _emptiers.pop(url, None)
    if emptier is not None:
        emptier[0].dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_url(request, tmp_path) -> str:
    """A migrated, empty database: a copy of the SQLite template, or the PostgreSQL test
    database, emptied after the test."""
    if request.param == "sqlite":
        path = tmp_path / "asthron.sqlite"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_database_url")
        yield url
        empty_database(url)


@pytest.fixture
def sqlite_url(tmp_path, sqlite_template) -> str:
    """SQLite only, for tests whose subject is not the database."""
    path = tmp_path / "asthron.sqlite"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def secrets_file(tmp_path) -> Path:
    from asthron.cli.setup import write_secrets_file

    path = tmp_path / "var" / "secrets.json"
    write_secrets_file(path)
    return path


@pytest.fixture
def ini_settings(request, db_url, tmp_path, secrets_file) -> dict:
    """The [app:main] settings a test app is built from; tests may change them first, and
    ``@pytest.mark.app_settings(name=value, ...)`` sets ``asthron.name`` for one test."""
    settings = {
        "here": str(ROOT),
        "asthron.database_url": db_url,
        "asthron.huey_url": f"sqlite:///{tmp_path / 'huey.sqlite'}",
        "asthron.huey.immediate": "true",
        "asthron.secrets_file": str(secrets_file),
        "asthron.public_url": "http://localhost",
        "asthron.templates_dir": str(ROOT / "templates"),
        "asthron.migrations_dir": str(ROOT / "migrations"),
        "asthron.var_dir": str(tmp_path / "var"),
        "asthron.outbox.retry_base_seconds": "0",
        # The test SMTP servers and fake model servers listen on 127.0.0.1 (any port).
        "asthron.outbound.allowed_private_hosts": "127.0.0.1",
        "jinja2.autoescape": "true",
        "jinja2.undefined": "strict",
        "retry.attempts": "3",
    }
    marker = request.node.get_closest_marker("app_settings")
    if marker is not None:
        settings.update({f"asthron.{k}": str(v) for k, v in marker.kwargs.items()})
    return settings


@pytest.fixture
def app(ini_settings):
    from asthron import main

    application = main({}, **ini_settings)
    yield application
    # Replies run in a pool after commit; let them finish before the database is emptied, so
    # a late reply never lands in the next test's conversation.
    application.registry["reply_runner"].pool.shutdown(wait=True)
    application.registry["db_engine"].dispose()


@pytest.fixture
def registry(app):
    return app.registry


@pytest.fixture
def testapp(app):
    import webtest

    return webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.10"})


@pytest.fixture
def dbsession(registry):
    """A session for arranging and checking data; ``commit()`` commits through its own tm."""
    from asthron.db import get_tm_session

    tm = transaction.TransactionManager(explicit=True)
    tm.begin()
    session = get_tm_session(registry["dbsession_factory"], tm)
    session.commit_tm = tm.commit
    yield session
    try:
        tm.abort()
    finally:
        session.close()


@pytest.fixture
def run_in_tm(registry):
    """Run ``func(db)`` in its own committed transaction and return its result."""
    from asthron.db import get_tm_session

    def run(func):
        tm = transaction.TransactionManager(explicit=True)
        with tm:
            db = get_tm_session(registry["dbsession_factory"], tm)
            result = func(db)
            db.flush()
            return result

    return run


PASSWORDS = {
    "owner": "owner-pass-Kx81!q",
    "admin": "admin-pass-Lm29@w",
    "staff": "staff-pass-Pz47#e",
}


@pytest.fixture
def make_user(run_in_tm):
    from asthron.accounts import service as accounts
    from asthron.audit.service import Actor

    def make(role="staff", email=None, password=None, name=None):
        email = email or f"{role}-{os.urandom(3).hex()}@example.com"
        password = password or PASSWORDS.get(role, "some-pass-Zz99!x")

        def create(db):
            user = accounts.create_user(db, Actor.cli(), email, role, password, name)
            return user.id

        user_id = run_in_tm(create)
        return {"id": user_id, "email": email, "password": password, "role": role}

    return make


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(response) -> str:
    match = CSRF_RE.search(response.text)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def login(testapp):
    def do_login(user: dict, app=None, expect_status=303):
        client = app or testapp
        page = client.get("/login")
        return client.post(
            "/login",
            {"email": user["email"], "password": user["password"], "csrf_token": csrf_from(page)},
            status=expect_status,
        )

    return do_login


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    url = redis_test_url()
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()

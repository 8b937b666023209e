"""Shared fixtures: both databases, a configured app, WebTest, factories and login.

Every database test runs on SQLite and on PostgreSQL (the ``db_url`` fixture is parametrised).
PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379 are skipped when unreachable,
unless ASTHRON_REQUIRE_SERVICES=1 (CI), which turns a missing service into a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path

import pytest
import sqlalchemy as sa
import transaction

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get(
    "ASTHRON_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _redis_db() -> int:
    # One Redis database per xdist worker (gw0 → 15, gw1 → 14, ...), so parallel workers
    # never flush each other's queues.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    return 15 - (index % 8)


REDIS_URL = os.environ.get("ASTHRON_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{_redis_db()}")
REQUIRE_SERVICES = os.environ.get("ASTHRON_REQUIRE_SERVICES") == "1"


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


def _worker_suffix() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


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
    # Named per process, so test runs side by side never drop each other's database.
    name = f"asthron_test_{_worker_suffix()}_{os.getpid()}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    migrate(url)
    yield url
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(url: str) -> None:
    from asthron.db import Base
    from asthron.models import import_all_models

    import_all_models()
    engine = sa.create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_url(request, tmp_path) -> str:
    """A migrated, empty database: a copy of the SQLite template, or the PostgreSQL test
    database truncated after the test."""
    if request.param == "sqlite":
        path = tmp_path / "asthron.sqlite"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_database_url")
        yield url
        _truncate_all(url)


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
def ini_settings(db_url, tmp_path, secrets_file) -> dict:
    """The [app:main] settings a test app is built from; tests may change them first."""
    return {
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


@pytest.fixture
def app(ini_settings):
    from asthron import main

    application = main({}, **ini_settings)
    yield application
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

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()

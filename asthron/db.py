"""The database: engine, the one session path (``request.db``), shared column types.

Every timestamp is stored in UTC. SQLite is the embedded default (WAL, foreign keys, busy
timeout); PostgreSQL is the way to scale.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
import transaction
import zope.sqlalchemy
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on both SQLite and PostgreSQL.

    Naive values are refused on the way in, so local time can never slip into the database.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use asthron.db.utcnow()")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def new_uuid() -> str:
    return uuid.uuid4().hex


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _retry_when_locked(context):
    """SQLite answers "database is locked" when a read transaction cannot become a write one
    (another writer committed first). Retrying the whole request is the fix, so the error is
    marked retryable for pyramid_retry."""
    from pyramid_retry import mark_error_retryable

    if "database is locked" in str(context.original_exception):
        mark_error_retryable(context.sqlalchemy_exception)


def make_engine(url: str, **kwargs) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 10}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "handle_error", _retry_when_locked)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **kwargs)


def get_tm_session(session_factory, transaction_manager) -> Session:
    """A session joined to a transaction manager: for requests, the CLI and tasks."""
    dbsession = session_factory()
    # Kept so code holding only the session can queue work after this transaction commits.
    dbsession.info["transaction_manager"] = transaction_manager
    zope.sqlalchemy.register(dbsession, transaction_manager=transaction_manager)
    return dbsession


@contextmanager
def new_transaction(registry) -> Iterator[Session]:
    """A session in a transaction of its own, committed when the block ends (aborted if it
    raises): the one way code outside a request (the CLI, tasks, streams, the reply runner)
    reads and writes the database."""
    tm = transaction.TransactionManager(explicit=True)
    session = None
    try:
        with tm:
            session = get_tm_session(registry["dbsession_factory"], tm)
            yield session
    finally:
        # Loaded objects stay readable after the session closes (expire_on_commit=False).
        if session is not None:
            session.close()


def registry_of(db: Session):
    """The application registry a session was made for: services that hold only a session
    reach the hook points and subscribers through it."""
    return db.info["registry"]


def add_session_info(config, **values) -> None:
    """Attach shared objects (the notifier, the secret box...) to every new session."""
    factory = config.registry["dbsession_factory"]
    factory.configure(info={**(factory.kw.get("info") or {}), **values})


def _request_db(request) -> Session:
    session = get_tm_session(request.registry["dbsession_factory"], request.tm)
    request.add_finished_callback(lambda _request: session.close())
    return session


def includeme(config):
    settings = config.registry["app_settings"]
    engine = make_engine(settings.database_url)
    config.registry["db_engine"] = engine
    config.registry["dbsession_factory"] = sessionmaker(
        bind=engine, expire_on_commit=False, info={"registry": config.registry}
    )
    config.add_request_method(_request_db, "db", reify=True)

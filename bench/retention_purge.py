"""7. The retention purge on a year of history, SQLite and PostgreSQL.

A fresh migrated database is filled with a year of chats: 1,000,000 conversation events
(50,000 with --quick) in conversations of 10 events, one visitor each, their last activity
spread evenly over 365 days. The conversations window is set to 30 days, so about 92 % of
them (and their events, by the foreign key's cascade) are past it. Then:

* **batched**: ``asthron.privacy.retention.purge`` as the worker runs it (batches of 500 ids,
  each its own transaction);
* **naive**: the same rows removed by one ``DELETE … WHERE last_activity_at < cutoff`` per
  table in a single transaction, on an identical copy of the database (a file copy on
  SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL).

During each, a visitor's thread inserts a message into a recent conversation every 10 ms
(its own connection, one short transaction each) and the longest insert is reported: how
long a visitor waited behind the purge. Rows/s counts the events deleted; peak RSS is the
purging process's high-water mark (VmHWM, reset before the purge). PostgreSQL runs on a
scratch database on 127.0.0.1:5432 (trust auth), dropped afterwards; skipped if unreachable.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import threading
import time
from types import SimpleNamespace

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from bench.harness import Result, Section, migrate

NAME = "purge"
TITLE = "Retention purge"
EVENTS = 1_000_000
QUICK_EVENTS = 50_000
PER_CONVERSATION = 10
WINDOW_DAYS = 30
PG_ADMIN = os.environ.get(
    "ASTHRON_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _rss_reset() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS (Linux ≥ 4.0)
    except OSError:
        pass


def _rss_peak_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def fill(url: str, events: int) -> None:
    from asthron.conversations.models import Conversation, ConversationEvent, Visitor
    from asthron.sites.models import Site

    engine = sa.create_engine(url)
    now = dt.datetime.now(dt.UTC)
    conversations = events // PER_CONVERSATION
    with engine.begin() as c:
        site_id = c.execute(
            sa.insert(Site.__table__).values(name="Bench", public_key="site_benchpurge")
        ).inserted_primary_key[0]
    step = dt.timedelta(days=365) / conversations
    chunk = 5000
    for start in range(0, conversations, chunk):
        ids = range(start + 1, min(start + chunk, conversations) + 1)
        with engine.begin() as c:
            when = {i: now - step * i for i in ids}
            c.execute(
                sa.insert(Visitor.__table__),
                [
                    {
                        "id": i,
                        "site_id": site_id,
                        "token_hash": f"{i:064x}",
                        "first_seen_at": when[i],
                        "last_seen_at": when[i],
                    }
                    for i in ids
                ],
            )
            c.execute(
                sa.insert(Conversation.__table__),
                [
                    {
                        "id": i,
                        "site_id": site_id,
                        "visitor_id": i,
                        "status": "closed",
                        "open_slot": None,
                        "created_at": when[i],
                        "last_activity_at": when[i],
                    }
                    for i in ids
                ],
            )
            c.execute(
                sa.insert(ConversationEvent.__table__),
                [
                    {
                        "conversation_id": i,
                        "type": "visitor_message" if k % 2 == 0 else "assistant_message",
                        "body": f"message {k} about teapot order {i}",
                        "created_at": when[i],
                    }
                    for i in ids
                    for k in range(PER_CONVERSATION)
                ],
            )
    if url.startswith("postgresql"):
        with engine.begin() as c:
            for table in ("visitors", "conversations", "conversation_events"):
                c.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                        f" (SELECT max(id) FROM {table}))"
                    )
                )
            c.execute(sa.text("ANALYZE"))
    engine.dispose()


class Visitor(threading.Thread):
    """Inserts a message into the newest conversation every 10 ms; keeps the longest wait."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        from asthron.db import make_engine

        self.engine = make_engine(url)
        self.stop = threading.Event()
        self.waits: list[float] = []
        self.inserted = self.failed = 0

    def run(self):
        from asthron.conversations.models import ConversationEvent

        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                with self.engine.begin() as c:
                    c.execute(
                        sa.insert(ConversationEvent.__table__).values(
                            conversation_id=1, type="visitor_message", body="still there?"
                        )
                    )
            except sa.exc.OperationalError:
                # SQLite's busy timeout ran out behind the purge: the visitor's message failed.
                self.failed += 1
            else:
                self.inserted += 1
            self.waits.append(time.perf_counter() - started)
            self.stop.wait(0.01)

    def finish(self) -> float:
        self.stop.set()
        self.join()
        self.engine.dispose()
        return max(self.waits) * 1000 if self.waits else float("nan")


def count_events(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as c:
        n = c.scalar(sa.text("SELECT count(*) FROM conversation_events"))
    engine.dispose()
    return n


def batched(url: str) -> tuple[float, int]:
    from asthron.db import get_tm_session, make_engine  # noqa: F401
    from asthron.privacy import retention

    engine = make_engine(url)
    registry: dict = {}
    registry["dbsession_factory"] = sessionmaker(
        bind=engine, expire_on_commit=False, info={"registry": registry}
    )
    days = {"conversations": WINDOW_DAYS, "page_views": 0}
    settings = SimpleNamespace(retention_days=days)
    started = time.perf_counter()
    report = retention.purge(registry, settings)
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds, report["conversations"]["rows"]


def naive(url: str) -> tuple[float, int]:
    from asthron.db import make_engine

    engine = make_engine(url)
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=WINDOW_DAYS)
    started = time.perf_counter()
    with engine.begin() as c:
        gone = c.execute(
            sa.text("DELETE FROM conversations WHERE last_activity_at < :cutoff"),
            {"cutoff": cutoff},
        ).rowcount
        c.execute(sa.text("DELETE FROM visitors WHERE last_seen_at < :cutoff"), {"cutoff": cutoff})
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds, gone


def measure(label: str, how, url: str, section: Section, backend: str) -> None:
    before = count_events(url)
    visitor = Visitor(url)
    visitor.start()
    time.sleep(0.2)
    _rss_reset()
    seconds, conversations = how(url)
    peak = _rss_peak_mb()
    longest = visitor.finish()
    deleted = before + visitor.inserted - count_events(url)
    name = f"{backend} {label}"
    section.results.append(
        Result(TITLE, f"{name}: events deleted/s", deleted / seconds, "/s", None, 0)
    )
    section.results.append(Result(TITLE, f"{name}: longest visitor insert", longest, "ms", None, 1))
    section.results.append(Result(TITLE, f"{name}: peak RSS", peak, "MB", None, 0))
    section.results.append(
        Result(TITLE, f"{name}: visitor inserts failed", visitor.failed, "", None, 0)
    )
    section.notes.append(
        f"{name}: {deleted:,} events in {conversations:,} conversations deleted in "
        f"{seconds:.1f} s; {visitor.inserted:,} visitor inserts meanwhile, "
        f"{visitor.failed:,} failed (database locked)."
    )


def _pg_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
        return True
    except OSError:
        return False


def run(ctx) -> Section:
    section = Section(TITLE)
    events = QUICK_EVENTS if ctx.quick else EVENTS
    # SQLite: fill once, copy the file for the naive run.
    url = ctx.fresh_database("purge")
    fill(url, events)
    copy = ctx.tmp / "purge-naive.sqlite"
    shutil.copy(url.removeprefix("sqlite:///"), copy)
    measure("batched", batched, url, section, "SQLite")
    measure("naive", naive, f"sqlite:///{copy}", section, "SQLite")
    if not _pg_up():
        section.notes.append("PostgreSQL: not reachable on 127.0.0.1:5432, skipped.")
        return section
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    names = [f"asthron_bench_purge_{os.getpid()}", f"asthron_bench_purge_{os.getpid()}_naive"]
    base = PG_ADMIN.rsplit("/", 1)[0]
    try:
        with admin.connect() as c:
            for name in names:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(sa.text(f'CREATE DATABASE "{names[0]}"'))
        migrate(f"{base}/{names[0]}")
        fill(f"{base}/{names[0]}", events)
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{names[1]}" TEMPLATE "{names[0]}"'))
        measure("batched", batched, f"{base}/{names[0]}", section, "PostgreSQL")
        measure("naive", naive, f"{base}/{names[1]}", section, "PostgreSQL")
    finally:
        with admin.connect() as c:
            for name in names:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return section

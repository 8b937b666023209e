"""``asthron serve`` and ``asthron worker`` as real processes, the way scripts/run starts them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import sqlalchemy as sa

from tests.fixtures.cli import ASTHRON

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(ready_cli, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [str(ASTHRON), "-c", str(ready_cli.ini), *args],
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
    return output or ""


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def _wait_for(url: str, process: subprocess.Popen, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited early:\n{_stop(process)}")
        try:
            return _get(url)
        except (ConnectionError, urllib.error.URLError, TimeoutError):
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {seconds}s:\n{_stop(process)}")


def test_serve_answers_healthz_and_login(ready_cli):
    port = _free_port()
    process = _start(ready_cli, "serve", "--port", str(port))
    try:
        status, headers, body = _wait_for(f"http://127.0.0.1:{port}/healthz", process)
        # No worker runs here, so the report may be 503; it must still be the JSON report.
        assert status in (200, 503)
        assert headers["Content-Type"].startswith("application/json")
        report = json.loads(body)
        assert report["database"]["ok"] is True
        assert report["migrations"]["ok"] is True

        status, headers, body = _get(f"http://127.0.0.1:{port}/login")
        assert status == 200
        assert headers["Content-Type"].startswith("text/html")
        assert 'name="csrf_token"' in body
        assert 'name="password"' in body
    finally:
        output = _stop(process)
    assert "Traceback" not in output, output


def test_worker_starts_and_beats(ready_cli):
    process = _start(ready_cli, "worker", "--workers", "1")
    engine = sa.create_engine(ready_cli.database_url)
    try:
        deadline = time.monotonic() + 30
        beat = None
        while beat is None and time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"the worker exited early:\n{_stop(process)}")
            with engine.connect() as connection:
                beat = connection.execute(
                    sa.text("SELECT pid FROM worker_heartbeats WHERE name = 'worker'")
                ).scalar()
            time.sleep(0.2)
        assert beat == process.pid
    finally:
        engine.dispose()
        output = _stop(process)
    assert "Traceback" not in output, output

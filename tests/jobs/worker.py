"""Helpers for tests that run the real thing: a test-written .ini and `asthron worker`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def write_ini(path: Path, settings: dict, **overrides) -> Path:
    """An .ini with an [app:main] section built from the conftest ``ini_settings``."""
    values = {k: v for k, v in settings.items() if k != "here"} | overrides
    lines = ["[app:main]", "use = egg:asthron"]
    lines += [f"{key} = {str(value).replace('%', '%%')}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def asthron_command() -> list[str]:
    script = Path(sys.executable).with_name("asthron")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from asthron.cli import main; main()"]


def child_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTHRON_")}
    env["PYTHONWARNINGS"] = "ignore"
    return env


def run_cli(ini: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*asthron_command(), "-c", str(ini), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(),
        cwd=ROOT,
        check=False,
    )


def wait_for(predicate, what: str, timeout: float = 30.0, interval: float = 0.1, log=None):
    """Poll ``predicate`` until it returns something truthy; fail (with the worker's log)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            details = f"\n--- worker log ---\n{log()}" if log else ""
            pytest.fail(f"gave up waiting for {what}{details}", pytrace=False)
        time.sleep(interval)


class WorkerProcess:
    def __init__(self, ini: Path, log_path: Path, workers: int):
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [*asthron_command(), "-c", str(ini), "worker", "--workers", str(workers)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=child_env(),
            cwd=ROOT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def kill(self):
        """SIGKILL: no shutdown hooks, no chance to finish the task in hand."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self):
        self.kill()  # nothing to save at teardown; a graceful stop only takes longer
        self._log.close()


@pytest.fixture
def start_worker(tmp_path):
    """Start `asthron -c INI worker` processes; every one is killed at teardown."""
    started: list[WorkerProcess] = []

    def start(ini: Path, workers: int = 2) -> WorkerProcess:
        worker = WorkerProcess(ini, tmp_path / f"worker-{len(started)}.log", workers)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()

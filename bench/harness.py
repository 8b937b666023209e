"""Shared pieces of the benchmarks: results, percentiles, the server subprocess, an API
client over keep-alive HTTP, the machine description and the report (table and markdown)."""

from __future__ import annotations

import http.client
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
RESULTS_START = "<!-- bench:results:start -->"
RESULTS_END = "<!-- bench:results:end -->"
API = "/api/widget/v1"


# -- results --------------------------------------------------------------------------------


@dataclass
class Result:
    """One row: ``goal`` is ``("<=", limit)`` or None for a figure given for context."""

    name: str
    metric: str
    value: float | str
    unit: str = ""
    goal: tuple[str, float] | None = None
    digits: int = 2

    @property
    def status(self) -> str:
        if self.goal is None:
            return "—"
        if isinstance(self.value, str):
            return "n/a"
        op, limit = self.goal
        ok = self.value <= limit if op == "<=" else self.value >= limit
        return "pass" if ok else "FAIL"

    def value_text(self) -> str:
        if isinstance(self.value, str):
            return self.value
        return f"{self.value:,.{self.digits}f} {self.unit}".strip()

    def goal_text(self) -> str:
        if self.goal is None:
            return "—"
        op, limit = self.goal
        symbol = "≤" if op == "<=" else "≥"
        return f"{symbol} {limit:g} {self.unit}".strip()


@dataclass
class Section:
    title: str
    results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None


def percentile(values, p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100)
    return ordered[int(rank) - 1]


# -- the run context ------------------------------------------------------------------------


class Context:
    """A temporary directory and a migrated SQLite template, copied fresh per server."""

    def __init__(self, quick: bool = False):
        self.quick = quick
        self.tmp = Path(tempfile.mkdtemp(prefix="asthron-bench-"))
        self._template: Path | None = None
        self.servers: list[ServerProcess] = []

    def template(self) -> Path:
        if self._template is None:
            self._template = self.tmp / "template.sqlite"
            migrate(f"sqlite:///{self._template}")
        return self._template

    def fresh_database(self, name: str) -> str:
        """A migrated, empty SQLite database, as tests/conftest.py makes them."""
        path = self.tmp / f"{name}.sqlite"
        shutil.copy(self.template(), path)
        return f"sqlite:///{path}"

    def start_app(self, name: str, threads: int, **options) -> ServerProcess:
        workdir = self.tmp / name
        workdir.mkdir()
        args = [
            "app",
            "--db",
            self.fresh_database(name),
            "--workdir",
            str(workdir),
            "--threads",
            str(threads),
        ]
        for key, value in options.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                args.append(flag)
            elif value not in (None, False):
                args += [flag, str(value)]
        return self._start(name, args)

    def start_baseline(self, threads: int) -> ServerProcess:
        return self._start("baseline", ["baseline", "--threads", str(threads)])

    def _start(self, name: str, args: list[str]) -> ServerProcess:
        server = ServerProcess(name, args, self.tmp / f"{name}.log")
        self.servers.append(server)
        return server

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def migrate(url: str) -> None:
    """Migrate a database to head the way tests/conftest.py does."""
    from alembic import command

    from asthron.cli.db import alembic_config
    from asthron.settings import AppSettings

    settings = AppSettings(
        database_url=url,
        huey_url="sqlite:///unused",
        secrets_file=Path("unused"),
        migrations_dir=ROOT / "migrations",
        var_dir=Path(tempfile.gettempdir()),
    )
    command.upgrade(alembic_config(settings), "head")


@contextmanager
def scratch_postgres(admin_url: str, name: str):
    """A fresh database ``name`` on ``admin_url``'s server, migrated to head, dropped after:
    ``with scratch_postgres(url, "asthron_bench_x") as database_url: …``."""
    import sqlalchemy as sa

    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    drop = sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    try:
        with admin.connect() as connection:
            connection.execute(drop)
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            url = admin_url.rsplit("/", 1)[0] + f"/{name}"
            migrate(url)
            yield url
        finally:
            with admin.connect() as connection:
                connection.execute(drop)
    finally:
        admin.dispose()


# -- the server subprocess ------------------------------------------------------------------


class ServerProcess:
    """``python -m bench.server ...`` in its own process, so the server and the load
    generator do not share a GIL; stderr goes to a log file, shown if it fails."""

    def __init__(self, name: str, args: list[str], log_path: Path, timeout: float = 60):
        self.name = name
        self.log_path = log_path
        env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONUNBUFFERED": "1"}
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.server", *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            text=True,
            bufsize=1,
        )
        try:
            self.info = self._read(timeout)
            if not self.info.get("ready"):
                raise RuntimeError(f"{name} server did not start: {self.info}")
        except Exception:
            self.stop()
            raise
        self.port = self.info["port"]

    def _read(self, timeout: float) -> dict:
        import selectors

        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise RuntimeError(
                    f"{self.name} server did not answer in {timeout} s:\n{self.log_tail()}"
                )
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=5)
            raise RuntimeError(
                f"{self.name} server exited ({self.proc.returncode}):\n{self.log_tail()}"
            )
        return json.loads(line)

    def command(self, timeout: float = 60, **command):
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self._read(timeout)

    def send(self, **command) -> None:
        """Send a command without waiting; collect the answer with ``receive``."""
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float = 60):
        return self._read(timeout)

    def rss_bytes(self) -> int:
        """VmRSS of the server process, from /proc (no psutil)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS in /proc/<pid>/status")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self._log.closed:
            return
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


# -- a widget client over keep-alive HTTP ---------------------------------------------------


class ApiClient:
    """One keep-alive connection speaking the widget API as a browser on ``origin`` would."""

    def __init__(self, port: int, origin: str, token: str | None = None):
        self.port, self.origin, self.token = port, origin, token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Origin": self.origin, "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=payload, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else {})

    def expect(self, status: int, method: str, path: str, body: dict | None = None) -> dict:
        got, data = self.request(method, path, body)
        if got != status:
            raise RuntimeError(f"{method} {path}: expected {status}, got {got}: {data}")
        return data

    def start_session(self, site_key: str) -> str:
        data = self.expect(201, "POST", f"{API}/sessions", {"site_key": site_key})
        self.token = data["visitor_token"]
        return self.token

    def open_conversation(self) -> int:
        return self.expect(201, "POST", f"{API}/conversations", {})["id"]

    def message_body(self) -> dict:
        return {"body": "Hello, is anyone there?", "client_id": uuid.uuid4().hex}

    def close(self) -> None:
        self.conn.close()


def new_visitor(port: int, site_key: str, origin: str) -> tuple[ApiClient, int]:
    """A visitor session and its conversation, opened through the API."""
    client = ApiClient(port, origin)
    client.start_session(site_key)
    return client, client.open_conversation()


# -- the machine and the report -------------------------------------------------------------


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    from importlib.metadata import version

    import sqlalchemy
    import waitress  # noqa: F401 - the version comes from the distribution

    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "waitress": version("waitress"),
        "pyramid": version("pyramid"),
        "sqlalchemy": sqlalchemy.__version__,
        "sqlite": sqlite3.sqlite_version,
        "load": "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg()),
    }


def _rows(sections: list[Section]) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for section in sections:
        if section.error:
            rows.append((section.title, "error", section.error, "", "ERROR"))
        for r in section.results:
            rows.append((r.name, r.metric, r.value_text(), r.goal_text(), r.status))
    return rows


HEADERS = ("benchmark", "metric", "value", "goal", "pass/fail")


def text_table(sections: list[Section]) -> str:
    rows = [HEADERS, *_rows(sections)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.rjust(widths[i]) if i == 2 else cell.ljust(widths[i]) for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(sections: list[Section]) -> str:
    lines = [
        "| " + " | ".join(HEADERS) + " |",
        "| --- | --- | ---: | ---: | :---: |",
    ]
    for row in _rows(sections):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines)


def markdown_results(sections: list[Section], info: dict, duration: float) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    parts = [
        RESULTS_START,
        f"Last run: {stamp}, `scripts/bench --write`, {duration:.0f} s in all.",
        "",
        "Machine: "
        + f"{info['cpu']}, {info['cores']} cores, {info['memory']} RAM, {info['os']}; "
        + f"Python {info['python']}, waitress {info['waitress']}, Pyramid {info['pyramid']}, "
        + f"SQLAlchemy {info['sqlalchemy']}, SQLite {info['sqlite']}. "
        + f"Load average (1, 5, 15 min) before the run: {info['load']}.",
        "",
        markdown_table(sections),
    ]
    notes = [note for section in sections for note in section.notes]
    if notes:
        parts += ["", *[f"- {note}" for note in notes]]
    parts.append(RESULTS_END)
    return "\n".join(parts)


def write_docs(results_md: str, path: Path = DOCS) -> None:
    """Replace the results block of docs/benchmarks.md, keeping the prose around it."""
    if path.exists():
        text = path.read_text()
        start, end = text.find(RESULTS_START), text.find(RESULTS_END)
        if start != -1 and end != -1:
            text = text[:start] + results_md + text[end + len(RESULTS_END) :]
            path.write_text(text)
            return
        text = text.rstrip() + "\n\n## Results\n\n" + results_md + "\n"
    else:
        text = "# Benchmarks\n\n## Results\n\n" + results_md + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)

"""2. A visitor's message round trip, with the reply runner switched off, beside a bare
Pyramid+waitress endpoint served with the same thread count (the baseline).

POST /api/widget/v1/conversations/{id}/messages over keep-alive HTTP (http.client): first
sequentially from one client (latency), then from a few clients at once (throughput).
"""

from __future__ import annotations

import threading
import time

from bench.harness import API, ApiClient, Result, Section, new_visitor, percentile

NAME = "roundtrip"
TITLE = "Message round trip"
THREADS = 16  # asthron.waitress.threads' default
CLIENTS = 4
GOAL_P50_MS = 5


def _timed_posts(client: ApiClient, path: str, count: int = 0, until: float = 0.0) -> list[float]:
    """POST a message ``count`` times (or until the monotonic deadline); latencies in ms."""
    latencies = []
    while (count and len(latencies) < count) or (until and time.monotonic() < until):
        body = client.message_body()
        start = time.perf_counter()
        status, _data = client.request("POST", path, body)
        latencies.append((time.perf_counter() - start) * 1000)
        if status != 201:
            raise RuntimeError(f"POST {path}: status {status}")
    return latencies


def _concurrent(clients: list[tuple[ApiClient, str]], seconds: float) -> tuple[float, list]:
    barrier = threading.Barrier(len(clients) + 1)
    results: list[list[float]] = [[] for _ in clients]
    errors: list[BaseException] = []

    def work(index: int, client: ApiClient, path: str) -> None:
        try:
            barrier.wait()
            results[index] = _timed_posts(client, path, until=time.monotonic() + seconds)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(i, c, p), daemon=True)
        for i, (c, p) in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    latencies = [x for r in results for x in r]
    return len(latencies) / elapsed, latencies


def _measure(make_client, sequential: int, warmup: int, seconds: float) -> dict:
    client, path = make_client()
    _timed_posts(client, path, count=warmup)
    latencies = _timed_posts(client, path, count=sequential)
    client.close()
    clients = [make_client() for _ in range(CLIENTS)]
    for c, p in clients:
        _timed_posts(c, p, count=5)
    rps, concurrent = _concurrent(clients, seconds)
    for c, _p in clients:
        c.close()
    return {
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "rps": rps,
        "c_p50": percentile(concurrent, 50),
        "c_p99": percentile(concurrent, 99),
    }


def run(ctx) -> Section:
    section = Section(TITLE)
    sequential = 300 if ctx.quick else 1500
    seconds = 2.0 if ctx.quick else 5.0

    app = ctx.start_app("roundtrip", THREADS, no_reply=True)
    try:
        site_key, origin = app.info["site_key"], app.info["origin"]

        def app_client():
            client, conversation_id = new_visitor(app.port, site_key, origin)
            return client, f"{API}/conversations/{conversation_id}/messages"

        asthron = _measure(app_client, sequential, 100, seconds)
        rss = app.rss_bytes()
    finally:
        app.stop()

    baseline_server = ctx.start_baseline(THREADS)
    try:

        def baseline_client():
            client = ApiClient(baseline_server.port, "https://shop.example.com", "x" * 43)
            return client, f"{API}/conversations/1/messages"

        baseline = _measure(baseline_client, sequential, 100, seconds)
    finally:
        baseline_server.stop()

    name = "Message round trip (Asthron)"
    base = "Baseline: bare Pyramid+waitress"
    section.results += [
        Result(name, "p50, 1 client", asthron["p50"], "ms", ("<=", GOAL_P50_MS)),
        Result(name, "p99, 1 client", asthron["p99"], "ms"),
        Result(name, f"throughput, {CLIENTS} clients", asthron["rps"], "req/s", digits=0),
        Result(name, f"p50, {CLIENTS} clients", asthron["c_p50"], "ms"),
        Result(base, "p50, 1 client", baseline["p50"], "ms"),
        Result(base, "p99, 1 client", baseline["p99"], "ms"),
        Result(base, f"throughput, {CLIENTS} clients", baseline["rps"], "req/s", digits=0),
        Result(base, f"p50, {CLIENTS} clients", baseline["c_p50"], "ms"),
    ]
    overhead = asthron["p50"] - baseline["p50"]
    section.notes.append(
        f"Round trip: {sequential} sequential POSTs after 100 warm-up ones, then {CLIENTS} "
        f"keep-alive clients for {seconds:g} s; waitress with {THREADS} threads, SQLite, reply "
        f"runner off. Asthron's p50 is {asthron['p50'] / baseline['p50']:.1f}× the baseline's "
        f"(+{overhead:.2f} ms of app work per message: token lookup, origin check, "
        "idempotency lookup, insert and commit); throughput is "
        f"{asthron['rps'] / baseline['rps']:.0%} of the baseline's. "
        f"Server RSS after the run: {rss / 2**20:.0f} MiB."
    )
    return section

"""The server side of the benchmarks: one waitress process, driven over stdin/stdout.

``python -m bench.server app --db sqlite:///... --workdir DIR --threads N`` serves the real
Asthron app (a fresh site is created first); ``python -m bench.server baseline --threads N``
serves a bare Pyramid app with one small JSON view. Either prints one JSON line
``{"ready": true, "port": ...}`` and then answers one JSON command per stdin line:

- ``{"cmd": "append", "conversations": [ids], "gap_ms": 0}``: append a staff message to each
  conversation, each in its own transaction (as the reply runner does), so the after-commit
  publish wakes the streams; answers ``[[id, start_ns, committed_ns], ...]`` on the
  system-wide monotonic clock, so the client can compute delivery latency;
- ``{"cmd": "stats"}``: open streams, notifier subscribers, threads;
- ``{"cmd": "quit"}`` (or end of input): exit.

The protocol uses a private copy of stdout; everything else printed goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "https://shop.example.com"
UNLIMITED = "1000000"


def app_settings(database_url: str, workdir: Path, threads: int, max_streams: int) -> dict:
    """The [app:main] settings: production-like (memory notifier, no immediate Huey, no
    template reloading), with the per-visitor rate limits raised out of the way."""
    return {
        "here": str(ROOT),
        "asthron.database_url": database_url,
        "asthron.huey_url": f"sqlite:///{workdir / 'huey.sqlite'}",
        "asthron.huey.immediate": "false",
        "asthron.secrets_file": str(workdir / "secrets.json"),
        "asthron.public_url": "http://127.0.0.1",
        "asthron.notifier": "memory",
        "asthron.templates_dir": str(ROOT / "templates"),
        "asthron.migrations_dir": str(ROOT / "migrations"),
        "asthron.var_dir": str(workdir / "var"),
        "asthron.waitress.threads": str(threads),
        "asthron.widget.messages_per_minute": UNLIMITED,
        "asthron.widget.messages_per_minute_per_ip": UNLIMITED,
        "asthron.widget.sessions_per_hour_per_ip": UNLIMITED,
        "asthron.widget.sessions_per_hour_per_site": UNLIMITED,
        "asthron.widget.max_streams_per_visitor": "10",
        "asthron.widget.max_streams": str(max_streams),
        "jinja2.autoescape": "true",
        "jinja2.undefined": "strict",
        "pyramid.reload_templates": "false",
        "retry.attempts": "3",
        "tm.annotate_user": "false",
    }


def make_asthron_app(args):
    from asthron import main
    from asthron.cli.setup import write_secrets_file

    workdir = Path(args.workdir)
    write_secrets_file(workdir / "secrets.json")
    settings = app_settings(args.db, workdir, args.threads, args.max_streams)
    if getattr(args, "ai_kind", None):
        settings.update(
            {
                "asthron.ai.primary.kind": args.ai_kind,
                "asthron.ai.primary.base_url": args.ai_base_url,
                "asthron.ai.primary.model": args.ai_model,
                "asthron.ai.primary.api_key": "sk-bench",
            }
        )
    app = main({}, **settings)
    if args.no_reply:
        # Isolate the API from the responder: no assistant replies are scheduled.
        app.registry["reply_runner"].start_reply = lambda *a, **k: None
    return app


def make_baseline_app():
    from pyramid.config import Configurator

    def message(request):
        request.response.status_code = 201
        return {"id": 1, "ok": True, "length": len(request.body)}

    config = Configurator()
    config.add_route("message", "/api/widget/v1/conversations/{conversation_id}/messages")
    config.add_view(message, route_name="message", renderer="json", request_method="POST")
    return config.make_wsgi_app()


def in_transaction(registry, func):
    import transaction

    from asthron.db import get_tm_session

    tm = transaction.TransactionManager(explicit=True)
    with tm:
        db = get_tm_session(registry["dbsession_factory"], tm)
        try:
            result = func(db)
            db.flush()
        except BaseException:
            db.close()
            raise
    db.close()
    return result


def create_site(registry) -> str:
    from asthron.audit.service import Actor
    from asthron.sites import service

    def create(db):
        site = service.create_site(db, Actor.cli(), service.SiteInput("Bench shop", [ORIGIN]))
        return site.public_key

    return in_transaction(registry, create)


def append_staff_messages(registry, conversation_ids, gap_ms: float) -> list:
    from asthron.conversations import service
    from asthron.conversations.models import Conversation

    timings = []
    for conversation_id in conversation_ids:
        start = time.monotonic_ns()

        def append(db, conversation_id=conversation_id):
            conversation = db.get(Conversation, conversation_id)
            service.append_event(
                db, conversation, "staff_message", "Hello from the team!", author_name="Staff"
            )

        in_transaction(registry, append)
        timings.append([conversation_id, start, time.monotonic_ns()])
        if gap_ms:
            time.sleep(gap_ms / 1000)
    return timings


def stats(app) -> dict:
    info = {"threads": threading.active_count()}
    if app is not None:
        info["open_streams"] = app.registry["stream_counter"].total
        info["subscribers"] = app.registry["notifier"].hub.subscriber_count()
    return info


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("kind", choices=["app", "baseline"])
    parser.add_argument("--db")
    parser.add_argument("--workdir")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--max-streams", type=int, default=0)
    parser.add_argument("--connection-limit", type=int, default=100)
    parser.add_argument("--no-reply", action="store_true")
    parser.add_argument(
        "--ai-kind", help="configure a primary AI provider (openai|ollama|anthropic)"
    )
    parser.add_argument("--ai-base-url")
    parser.add_argument("--ai-model")
    args = parser.parse_args(argv)

    # Keep the protocol channel to ourselves: anything else printed goes to stderr.
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    from waitress.server import create_server

    app = make_asthron_app(args) if args.kind == "app" else None
    wsgi = app if app is not None else make_baseline_app()
    site_key = create_site(app.registry) if app is not None else None
    # The options `asthron serve` uses, plus a connection limit that fits the stream count.
    server = create_server(
        wsgi,
        host="127.0.0.1",
        port=0,
        threads=args.threads,
        ident="asthron",
        channel_timeout=120,
        channel_request_lookahead=1,
        connection_limit=args.connection_limit,
    )
    threading.Thread(target=server.run, name="waitress", daemon=True).start()

    def reply(data) -> None:
        protocol.write(json.dumps(data) + "\n")
        protocol.flush()

    reply({"ready": True, "port": server.effective_port, "site_key": site_key, "origin": ORIGIN})
    for line in sys.stdin:
        command = json.loads(line)
        name = command.get("cmd")
        if name == "append":
            reply(
                append_staff_messages(
                    app.registry, command["conversations"], command.get("gap_ms", 0)
                )
            )
        elif name == "stats":
            reply(stats(app))
        elif name == "quit":
            break
        else:
            reply({"error": f"unknown command {name!r}"})
    # Streams pin waitress threads forever; do not wait for them.
    try:
        server.close()
    finally:
        os._exit(0)


if __name__ == "__main__":
    main()

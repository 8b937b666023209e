"""``asthron serve`` (waitress) and ``asthron worker`` (the Huey consumer)."""

from __future__ import annotations

import click

from asthron import upload_allowances
from asthron.jobs.queue import huey
from asthron.settings import local_port


def waitress_options(settings, host: str, port: int) -> dict:
    """How ``asthron serve`` runs waitress (tests start the same server)."""
    options = {
        "host": host,
        "port": port,
        "threads": settings.waitress_threads,
        "ident": "asthron",
        # Streams (SSE) hold a thread each; keep slow clients from pinning the rest.
        "channel_timeout": 120,
        # Lets waitress notice a closed client while a stream waits, so a closed tab frees its
        # thread at once instead of at the next heartbeat.
        "channel_request_lookahead": 1,
        # Each open stream is a connection; the default limit (100) would stall new ones.
        "connection_limit": max(100, settings.waitress_threads + 100),
        # waitress's default is 1 GiB. It refuses a body of this size or more with 413 before
        # the app sees it, hence one byte more than the largest accepted.
        "max_request_body_size": max(
            settings.max_request_body_size, *upload_allowances(settings).values()
        )
        + 1,
    }
    if settings.trusted_proxies:
        if len(settings.trusted_proxies) != 1:
            raise click.ClickException("asthron.trusted_proxies takes one address (the proxy)")
        options.update(
            trusted_proxy=settings.trusted_proxies[0],
            trusted_proxy_count=1,
            trusted_proxy_headers="x-forwarded-for x-forwarded-proto x-forwarded-host",
            clear_untrusted_proxy_headers=True,
        )
    return options


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help="Default: the port of asthron.public_url when that is this machine, else 6543.",
)
@click.pass_obj
def serve(obj, host, port):
    """Serve the web application with waitress."""
    import waitress
    from pyramid.paster import get_app, setup_logging

    if port is None:
        port = local_port(obj.settings.public_url)
    setup_logging(obj.config_path)
    options = waitress_options(obj.settings, host, port)
    app = get_app(obj.config_path, "main")
    click.echo(f"Asthron serving on http://{host}:{port}")
    waitress.serve(app, **options)


@click.command()
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.pass_obj
def worker(obj, workers):
    """Run the background worker (the Huey consumer) until interrupted."""
    import logging

    registry = obj.registry  # bootstraps the app: settings, database, task modules
    settings = registry["app_settings"]
    if settings.huey_immediate:
        raise click.ClickException(
            "asthron.huey.immediate is on: tasks run in the web process, there is nothing "
            "for a worker to consume"
        )
    # Without a logging section in the .ini, still say what the worker does.
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s [%(name)s] %(message)s")
    for name in ("huey", "asthron"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET and logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
    consumer = huey.create_consumer(
        workers=workers,
        worker_type="thread",
        periodic=True,
        check_worker_health=True,
        max_delay=2.0,
    )
    click.echo(f"Asthron worker started ({workers} threads, queue {huey.storage_class.__name__}).")
    consumer.run()


def register(cli):
    cli.add_command(serve)
    cli.add_command(worker)

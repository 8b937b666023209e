"""Asthron: a self-hosted AI website assistant."""

from pyramid.config import Configurator


def make_config(global_config=None, **settings) -> Configurator:
    config = Configurator(settings=settings)
    # Typed settings and the secrets file come first: everything below reads them.
    config.include(".settings")
    # One transaction per request, retried on serialisation conflicts. pyramid_retry must be
    # included before pyramid_tm so a retried attempt gets a fresh transaction.
    config.include("pyramid_retry")
    config.include("pyramid_tm")
    # request.db joins the request's transaction; nothing else commits during a request.
    config.include(".db")
    # The notifier wakes event streams, in this process or (PostgreSQL/Redis) across processes.
    config.include(".realtime")
    # Per-process copies of the settings rows each visitor message reads, dropped on change.
    config.include(".snapshots")
    # Background jobs: the Huey instance, the outbox and enqueue-after-commit.
    config.include(".jobs")
    # Templates, static files and the security tween (headers, CSP).
    config.include("pyramid_jinja2")
    config.include(".rendering")
    config.include(".security")
    # Feature packages, each with its own services and views.
    config.include(".audit")
    config.include(".accounts")
    config.include(".notify")
    config.include(".sites")
    config.include(".conversations")
    config.include(".knowledge")
    config.include(".assistant")
    config.include(".inbox")
    config.include(".leads")
    config.include(".health")
    # Every route lives in one file.
    config.include(".routes")
    # The provider modules hold no views and import heavy SDKs (~70 MiB); they are loaded only
    # when a provider is configured.
    config.scan(ignore=["asthron.cli", "asthron.assistant.providers"])
    return config


def main(global_config=None, **settings):
    """The WSGI application factory named in the .ini files."""
    from asthron.security.body_limit import RequestBodyLimit

    app = make_config(global_config, **settings).make_wsgi_app()
    # Outside everything, pyramid_retry included: it copies the body before any tween runs.
    return RequestBodyLimit(app, app.registry["app_settings"].max_request_body_size)

"""Asthron: a self-hosted AI website assistant."""

from pyramid.config import Configurator

from asthron.models import import_all_models
from asthron.security.body_limit import RequestBodyLimit


def make_config(global_config=None, **settings) -> Configurator:
    # The privacy feature reads every table's personal-data rule from the metadata.
    import_all_models()
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
    # Domain events: recorded in the cause's transaction; features subscribe in their
    # includeme, so this comes before them.
    config.include(".domain_events")
    # Templates, static files and the security tween (headers, CSP).
    config.include("pyramid_jinja2")
    config.include(".rendering")
    config.include(".security")
    # The layers, bottom up (docs/architecture.md): each may use what was included before it.
    config.include(".audit")
    # notify first within its layer: accounts registers its invitation email with it.
    config.include(".notify")
    config.include(".accounts")
    config.include(".sites")
    config.include(".knowledge")
    # The message path: the event log, the hook points and the reply runner...
    config.include(".conversations")
    # ...whose responder is the assistant...
    config.include(".assistant")
    # Email routing: below the features, which raise alerts through it.
    config.include(".alerts")
    # ...and the features, which plug into it through hooks and domain events. The inbox's
    # on-visitor-message hook (handoff rules) is ordered before the leads' by its order value,
    # not by this list.
    config.include(".inbox")
    config.include(".leads")
    # Outbound webhooks: a subscriber to every domain event.
    config.include(".webhooks")
    # Bookings: services, availability, calendars; a prompt contributor offers free times.
    config.include(".bookings")
    # Payments (Stripe): subscribes to bookings' domain events; a side panel in the inbox.
    config.include(".payments")
    # Messaging channels (WhatsApp, Messenger, Instagram): another way in and out of a
    # conversation, through the outbound-message hook and the outbox.
    config.include(".channels")
    # Retention, subject export/erase, backups, keys: reads the others only via metadata.
    config.include(".privacy")
    config.include(".health")
    # Every route lives in one file.
    config.include(".routes")
    # The provider modules hold no views and import heavy SDKs (~70 MiB); they are loaded only
    # when a provider is configured.
    config.scan(ignore=["asthron.cli", "asthron.assistant.providers"])
    return config


def main(global_config=None, **settings):
    """The WSGI application factory named in the .ini files."""
    app = make_config(global_config, **settings).make_wsgi_app()
    # Outside everything, pyramid_retry included: it copies the body before any tween runs.
    return RequestBodyLimit(app, app.registry["app_settings"].max_request_body_size)

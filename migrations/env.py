"""Alembic environment: reads the same .ini as the application (or a URL the CLI passes in)."""

from alembic import context

from asthron.db import Base, make_engine
from asthron.models import import_all_models

import_all_models()
config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return url
    from pyramid.paster import get_appsettings

    from asthron.settings import AppSettings

    return AppSettings.from_ini(get_appsettings(config.config_file_name)).database_url


def run_migrations_online():
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_database_url())
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection):
    if connection.dialect.name == "postgresql":
        # Fail fast rather than queue behind a long transaction holding a lock.
        connection.exec_driver_sql("SET lock_timeout = '10s'")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()


run_migrations_online()

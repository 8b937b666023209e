"""Alembic environment: reads the same .ini as the application (or a URL the CLI passes in).

Three ways in:
- ``asthron db …`` passes the URL from the typed settings in ``config.attributes``;
- a caller may pass an open ``connection`` in ``config.attributes`` (tests);
- plain ``alembic -c development.ini …`` reads ``[app:main]`` of that file, including the
  ``ASTHRON_DATABASE_URL`` override. ``alembic … --sql`` prints the SQL without connecting.
"""

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


def _options(dialect_name: str, connection=None) -> dict:
    from asthron.cli.db import include_object_for

    return {
        "target_metadata": target_metadata,
        # The full-text index lives outside the models (see asthron/knowledge/models.py): an
        # FTS5 table on SQLite, a tsvector column on PostgreSQL. Such hand-made objects are
        # not drift; asthron.cli.db.include_object_for finds them.
        "include_object": include_object_for(connection) if connection is not None else None,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        "render_as_batch": dialect_name == "sqlite",
        "compare_type": True,
        "compare_server_default": True,
    }


def run_migrations_offline():
    url = _database_url()
    dialect_name = url.split(":", 1)[0].split("+", 1)[0]
    context.configure(url=url, literal_binds=True, **_options(dialect_name))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_database_url())
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


def _run(connection):
    sqlite = connection.dialect.name == "sqlite"
    if connection.dialect.name == "postgresql":
        # Fail fast rather than queue behind a long transaction holding a lock.
        connection.exec_driver_sql("SET lock_timeout = '10s'")
    if sqlite and not connection.in_transaction():
        # Batch mode rebuilds a table by copying it and dropping the old one. With foreign
        # keys on, that DROP fires the ON DELETE actions of every table pointing at it (a
        # site's conversations and bookings deleted, a payment's booking set to NULL). They
        # are off while migrating (the pragma only works outside a transaction), the result
        # is checked before it commits, and they are on again after.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    context.configure(connection=connection, **_options(connection.dialect.name, connection))
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise RuntimeError(f"the migration left rows pointing at nothing: {broken[:5]}")
    connection.commit()
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

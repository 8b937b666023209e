"""Migration 0017 (knowledge sources) adds columns to a table that has articles in it: it must not copy the table
(on SQLite that drops it, and the drop cascade-deletes every chunk)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command

from asthron.cli.db import alembic_config
from asthron.db import make_engine
from asthron.settings import AppSettings

ROOT = Path(__file__).parents[2]


def test_upgrading_and_downgrading_keeps_the_articles_and_their_chunks(tmp_path):
    url = f"sqlite:///{tmp_path / 'upgrade.sqlite'}"
    config = alembic_config(
        AppSettings(
            database_url=url,
            huey_url="sqlite:///unused",
            secrets_file=Path("unused"),
            migrations_dir=ROOT / "migrations",
        )
    )
    command.upgrade(config, "0010")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO articles (id, title, body, tags, published, created_at, "
                    "updated_at) VALUES (1, 'Delivery', 'Tuesdays', '[]', 1, "
                    "'2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')"
                )
            )
            connection.execute(
                sa.text(
                    "INSERT INTO article_chunks (id, article_id, position, heading, text) "
                    "VALUES (1, 1, 0, '', 'Tuesdays')"
                )
            )

        def state():
            with engine.connect() as connection:
                return (
                    connection.execute(sa.text("SELECT count(*) FROM article_chunks")).scalar(),
                    connection.execute(sa.text("SELECT title FROM articles")).scalars().all(),
                )

        command.upgrade(config, "head")
        assert state() == (1, ["Delivery"])
        with engine.connect() as connection:
            kinds = connection.execute(sa.text("SELECT source_kind FROM articles")).scalars()
            assert kinds.all() == ["manual"]

        command.downgrade(config, "0010")
        assert state() == (1, ["Delivery"])
    finally:
        engine.dispose()

"""Alembic environment: our metadata, our column types, SQLite batch mode, caller-given URL.

Programmatic callers (`oms_api.db.migrate`) pass `database_url` and usually an open
`connection` in `config.attributes`. From the alembic command line the URL is
`-x database_url=...`, else DATABASE_URL from the environment / .env via the OMS settings.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from oms_api.db.metadata import load_all_tables
from oms_api.db.migrate import compare_type, migration_engine, render_item

config = context.config
if config.config_file_name is not None:  # the alembic CLI; in-process callers keep their logging
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = load_all_tables()


def _database_url() -> str:
    url = config.attributes.get("database_url") or context.get_x_argument(as_dictionary=True).get(
        "database_url"
    )
    if url:
        return str(url)
    from oms_api.config import get_settings  # only when nobody said which database

    return get_settings().database_url


def _configure(**options: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=compare_type,
        render_item=render_item,
        **options,
    )


def run_migrations_offline() -> None:
    url = _database_url()
    _configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    _configure(
        connection=connection,
        # SQLite cannot ALTER most things: batch mode recreates the table instead.
        render_as_batch=sqlite,
        # migration_engine makes SQLite DDL transactional; all-or-nothing on both databases.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = migration_engine(_database_url())
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

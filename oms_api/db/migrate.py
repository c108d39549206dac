"""Schema migrations, run in-process (`oms migrate`, start-up checks, tests).

Deployment runs from the repository checkout (as Render does): the `alembic/` folder is found
next to the `oms_api` package or next to the `pyproject.toml` of the current directory.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import create_engine
from sqlmodel.sql.sqltypes import AutoString

import oms_api

# Key of the PostgreSQL advisory lock that serialises migrations across processes.
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"oms_api:migrate").digest()[:8], "big", signed=True
)


class MigrationError(Exception):
    """Migrations could not be located or left the database inconsistent."""


def find_alembic_dir() -> Path:
    """The `alembic/` folder of the checkout this code runs from."""
    candidates = [Path(oms_api.__file__).resolve().parents[1] / "alembic"]
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / "pyproject.toml").is_file():
            candidates.append(folder / "alembic")
            break
    for candidate in candidates:
        if (candidate / "env.py").is_file():
            return candidate
    searched = ", ".join(str(c) for c in candidates)
    raise MigrationError(f"no alembic/env.py found (looked in {searched}); run from the checkout")


def migration_engine(database_url: str) -> Engine:
    """An engine for running migrations (not for the application).

    SQLite: foreign keys stay OFF, because batch mode rebuilds tables by dropping and recreating
    them, and with them ON a DROP TABLE would cascade-delete child rows. The driver's own
    transaction handling is switched off so that DDL runs inside our BEGIN/COMMIT: a failed
    migration then rolls back entirely instead of leaving half a schema behind.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(database_url, poolclass=NullPool)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(database_url, poolclass=NullPool, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_config(database_url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic Config pointing at our scripts; env.py reads the URL/connection from it."""
    config = Config()
    config.set_main_option("script_location", str(find_alembic_dir()))
    config.set_main_option("path_separator", "os")
    if database_url is not None:
        config.attributes["database_url"] = database_url
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextlib.contextmanager
def _migrating(database_url: str) -> Iterator[Connection]:
    """A connection to migrate through; on PostgreSQL it holds the migration advisory lock."""
    engine = migration_engine(database_url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name != "postgresql":
                yield connection
                return
            # Blocks until any other process's migration is done; that process's work is
            # then visible and ours finds nothing left to do. Session-level: survives commits.
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            connection.commit()
            try:
                yield connection
            finally:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
                connection.commit()
    finally:
        engine.dispose()


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    # Foreign keys are off while migrating (see migration_engine), so verify afterwards.
    problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if problems:
        table, rowid, parent, _ = problems[0]
        raise MigrationError(
            f"{len(problems)} rows break foreign keys after migrating, e.g. {table} "
            f"rowid {rowid} -> {parent}"
        )


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema up to `revision`; safe to run from several processes at once."""
    with _migrating(database_url) as connection:
        command.upgrade(make_config(database_url, connection), revision)
        if connection.dialect.name == "sqlite":
            _check_sqlite_foreign_keys(connection)


def downgrade(database_url: str, revision: str = "base") -> None:
    """Take the schema down to `revision` (`base` drops every table)."""
    with _migrating(database_url) as connection:
        command.downgrade(make_config(database_url, connection), revision)


def _sqlite_file_missing(database_url: str) -> bool:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return False
    return not Path(url.database).exists()


def _database_heads(database_url: str) -> tuple[str, ...]:
    if _sqlite_file_missing(database_url):  # don't create an empty file just by looking
        return ()
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return tuple(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()


def current(database_url: str) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    heads = _database_heads(database_url)
    return ",".join(sorted(heads)) if heads else None


def head_revision() -> str:
    """The newest revision among the migration scripts."""
    heads = ScriptDirectory.from_config(make_config()).get_heads()
    return ",".join(sorted(heads))


def check_up_to_date(database_url: str) -> bool:
    """Whether the database is at the newest revision (the API refuses to start otherwise)."""
    script_heads = ScriptDirectory.from_config(make_config()).get_heads()
    return set(_database_heads(database_url)) == set(script_heads)


# ------------------------------------------------------------------ used by alembic/env.py
def compare_type(
    context: MigrationContext,
    inspected_column: Column[Any],
    metadata_column: Column[Any],
    inspected_type: TypeEngine[Any],
    metadata_type: TypeEngine[Any],
) -> bool | None:
    """Compare our TypeDecorators by what they become on this dialect.

    ExactDecimal is VARCHAR on SQLite and NUMERIC(p, s) on PostgreSQL; the database reports
    that underlying type, so compare against it. None defers to Alembic's own comparison.
    """
    if not isinstance(metadata_type, TypeDecorator):
        return None
    underlying = metadata_type.load_dialect_impl(context.dialect)
    if isinstance(underlying, TypeDecorator):
        underlying = underlying.impl_instance
    stand_in = Column(metadata_column.name, underlying, nullable=metadata_column.nullable)
    return context.impl.compare_type(inspected_column, stand_in)


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """How autogenerate writes our column types into a migration script.

    SQLModel's AutoString is written as plain `sa.String(n)` (what it is), so migrations do not
    depend on sqlmodel internals; our own types render as `oms_api.db.types.ExactDecimal(18, 6)`
    and the module is imported (the template already imports `oms_api.db.types`).
    """
    if type_ != "type" or not isinstance(obj, TypeDecorator):
        return False
    if isinstance(obj, AutoString):
        length = f"length={obj.length}" if obj.length is not None else ""
        return f"{autogen_context.opts['sqlalchemy_module_prefix']}String({length})"
    module = type(obj).__module__
    if module.startswith("oms_api.") and module != "oms_api.db.types":
        autogen_context.imports.add(f"import {module}")
    return False  # the default rendering: the module path plus repr()

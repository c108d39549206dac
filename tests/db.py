"""Test databases: SQLite files by default, PostgreSQL when OMS_TEST_DATABASE_URL is set.

The fixtures that use these live in the "database fixtures" section of tests/conftest.py.
On PostgreSQL every test session (and every test asking for a fresh database) gets its own
database `oms_test_<random>` on the server, so parallel runs on one server never collide.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from oms_api.db.metadata import load_all_tables

TEST_DATABASE_ENV = "OMS_TEST_DATABASE_URL"
REQUIRE_POSTGRES_ENV = "OMS_REQUIRE_POSTGRES"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def configured_postgres_url() -> str | None:
    """The PostgreSQL server the whole suite should run on, if one is configured."""
    return os.environ.get(TEST_DATABASE_ENV) or None


def postgres_required() -> bool:
    return os.environ.get(REQUIRE_POSTGRES_ENV, "").strip() in {"1", "true", "yes"}


def postgres_problem(url: str) -> str | None:
    """Why `url` cannot be used right now, or None when it answers."""
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        return str(error.orig or error).strip().splitlines()[0]
    finally:
        engine.dispose()
    return None


def reachable_postgres_url() -> str:
    """A PostgreSQL server URL for tests marked `postgres`; skips (or fails) without one."""
    url = configured_postgres_url() or DEFAULT_POSTGRES_URL
    problem = postgres_problem(url)
    if problem is None:
        return url
    shown = make_url(url).render_as_string(hide_password=True)
    message = f"PostgreSQL not reachable at {shown} ({problem}); set {TEST_DATABASE_ENV}"
    if postgres_required():
        pytest.fail(f"{message} ({REQUIRE_POSTGRES_ENV}=1 demands it)", pytrace=False)
    pytest.skip(message)


@contextlib.contextmanager
def temporary_postgres_database(server_url: str) -> Iterator[str]:
    """Create an empty database next to `server_url`'s, yield its URL, drop it afterwards."""
    name = f"oms_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(server_url).set(database=name)
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                # FORCE: a test that leaked a connection must not leave the database behind.
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextlib.contextmanager
def temporary_database(folder: Path) -> Iterator[str]:
    """An empty, unmigrated database of the kind this run tests on."""
    server_url = configured_postgres_url()
    if server_url is not None:
        problem = postgres_problem(server_url)
        if problem is not None:
            pytest.fail(f"{TEST_DATABASE_ENV} is set but unusable: {problem}", pytrace=False)
        with temporary_postgres_database(server_url) as url:
            yield url
        return
    yield f"sqlite:///{folder / f'oms-{uuid.uuid4().hex[:8]}.db'}"


def table_names_in_delete_order(engine: Engine) -> list[str]:
    """Every application table in the database, children before parents."""
    present = set(inspect(engine).get_table_names()) - {"alembic_version"}
    known = [t.name for t in reversed(load_all_tables().sorted_tables) if t.name in present]
    return sorted(present - set(known)) + known


def empty_tables(engine: Engine, tables: list[str]) -> None:
    """Remove every row and restart id sequences, much faster than re-creating the schema."""
    if not tables:
        return
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # DELETE and a sequence restart, in one round trip: TRUNCATE's file work makes it
            # several times slower on tables this small, and it runs before every test.
            sequences = connection.execute(
                text(
                    "SELECT pg_get_serial_sequence(quote_ident(table_name), column_name) "
                    "FROM information_schema.columns WHERE table_schema = current_schema() "
                    "AND column_default LIKE 'nextval%' AND table_name = ANY(:tables)"
                ),
                {"tables": tables},
            ).scalars()
            statements = [f'DELETE FROM "{name}"' for name in tables]
            statements += [f"ALTER SEQUENCE {name} RESTART" for name in sequences if name]
            connection.exec_driver_sql("; ".join(statements))
            return
        for name in tables:
            connection.execute(text(f'DELETE FROM "{name}"'))
        has_sequences = connection.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'")
        ).first()
        if has_sequences:
            connection.execute(text("DELETE FROM sqlite_sequence"))

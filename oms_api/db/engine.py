"""Engine and session creation, and the cross-process lock for background singletons."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import event, exc, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlmodel import Session, create_engine


def make_engine(database_url: str, pool_size: int = 10) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            database_url, connect_args={"check_same_thread": False, "timeout": 30}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL survives process crashes (what record-before-send needs); only
            # a power loss can drop the last commits. Production runs on PostgreSQL.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            # 32 MB of page cache a connection (SQLite's default is 2 MB): the history mirror's
            # indexes stay in memory while a long history is synced.
            cursor.execute("PRAGMA cache_size=-32768")
            cursor.close()

        return engine
    engine = create_engine(database_url, pool_size=pool_size, max_overflow=pool_size)
    _ping_when_idle(engine)
    return engine


IDLE_PING_SECONDS = 10.0


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only when it sat idle for a while.

    A connection that worked a moment ago is not worth a round trip on every checkout (the
    hot path checks out several); one that idled may have been dropped by the server or a
    proxy. A dead one is discarded and the pool hands out a fresh connection instead."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_connection.rollback()
        except Exception as error:
            raise exc.DisconnectionError(str(error)) from error


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def new_session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


_local_locks: dict[str, threading.Lock] = {}
_local_locks_guard = threading.Lock()


def _lock_key(name: str) -> int:
    # pg advisory locks take a signed 64-bit key.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def singleton_lock(engine: Engine, name: str, blocking: bool = False) -> Iterator[bool]:
    """Become the one holder of `name` across every worker process.

    PostgreSQL: a session advisory lock held on a dedicated connection for as long as the
    block runs. SQLite deployments are one process, so a process-local lock is enough.
    Yields whether the lock was obtained (always True when blocking).
    """
    if is_postgres(engine):
        connection: Connection = engine.connect()
        try:
            key = _lock_key(name)
            if blocking:
                connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
                got = True
            else:
                got = bool(
                    connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
                )
            connection.commit()
            try:
                yield got
            finally:
                if got:
                    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    connection.commit()
        finally:
            connection.close()
        return
    with _local_locks_guard:
        lock = _local_locks.setdefault(f"{engine.url}:{name}", threading.Lock())
    got = lock.acquire(blocking=blocking)
    try:
        yield got
    finally:
        if got:
            lock.release()

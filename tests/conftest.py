"""Shared fixtures: one Alpaca simulator per test session on a manual clock, reset per test."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from alpaca.trading.stream import TradingStream

from oms_api.simulator import SimulatorControl, SimulatorOptions, SimulatorServer
from tests.waiting import wait_until

# A Wednesday, 10:00 in New York: the regular session is open.
T0 = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)

SPECS_DIR = Path(__file__).resolve().parents[2] / "shared" / "specs"


@pytest.fixture(scope="session")
def sim_server() -> Iterator[SimulatorServer]:
    server = SimulatorServer(SimulatorOptions(manual_clock_start=T0)).start()
    yield server
    server.stop()


@dataclass
class Sim:
    """A freshly reset simulator and alpaca-py clients pointed at it."""

    server: SimulatorServer
    control: SimulatorControl
    trading: TradingClient
    data: StockHistoricalDataClient

    @property
    def url(self) -> str:
        return self.server.base_url

    @property
    def stream_url(self) -> str:
        return self.server.stream_url

    @property
    def key_id(self) -> str:
        return self.server.options.api_key_id

    @property
    def secret_key(self) -> str:
        return self.server.options.api_secret_key

    @property
    def headers(self) -> dict[str, str]:
        return {"APCA-API-KEY-ID": self.key_id, "APCA-API-SECRET-KEY": self.secret_key}

    def trading_client(self) -> TradingClient:
        client = TradingClient(self.key_id, self.secret_key, url_override=self.url)
        # alpaca-py would retry 429/504 three times with 3 s sleeps; tests look at single calls.
        client._retry = 0
        return client


@pytest.fixture
def sim(sim_server: SimulatorServer) -> Iterator[Sim]:
    control = SimulatorControl(sim_server.base_url)
    control.reset()
    options = sim_server.options
    sim = Sim(
        server=sim_server,
        control=control,
        trading=TradingClient(options.api_key_id, options.api_secret_key, url_override=""),
        data=StockHistoricalDataClient(
            options.api_key_id, options.api_secret_key, url_override=sim_server.base_url
        ),
    )
    sim.trading = sim.trading_client()
    yield sim
    control.close()


class EventLog:
    """Trade updates received by a real alpaca-py TradingStream, with a bounded wait."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._cond = threading.Condition()

    async def handler(self, update: Any) -> None:
        with self._cond:
            self.events.append(update)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout: float = 5.0) -> list[Any]:
        """Block until predicate(events) holds; fail the test after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.events):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    names = [(e.event, e.order.symbol) for e in self.events]
                    raise AssertionError(f"trade updates never matched; received {names}")
                self._cond.wait(remaining)
            return list(self.events)

    def of(self, order_id: Any) -> list[str]:
        with self._cond:
            return [
                getattr(e.event, "value", e.event)
                for e in self.events
                if str(e.order.id) == str(order_id)
            ]


@pytest.fixture
def trade_updates(sim: Sim) -> Iterator[EventLog]:
    """A real alpaca-py TradingStream subscribed to the simulator."""
    log = EventLog()
    stream = TradingStream(sim.key_id, sim.secret_key, url_override=sim.stream_url)
    stream.subscribe_trade_updates(log.handler)
    before = sim.control.state()["stream_listeners"]
    thread = threading.Thread(target=stream.run, daemon=True)
    thread.start()
    wait_until(
        lambda: sim.control.state()["stream_listeners"] > before, what="the stream to listen"
    )
    yield log
    if stream._loop is not None and stream._loop.is_running():
        asyncio.run_coroutine_threadsafe(stream.stop_ws(), stream._loop).result(timeout=5)
    # alpaca-py notices a stop only between 5-second reads; closing the socket ends it at once.
    sim.control.stream_disconnect()
    thread.join(timeout=10)
    wait_until(lambda: sim.control.state()["stream_listeners"] == 0, what="the stream to close")


@pytest.fixture
def specs_dir() -> Path:
    if not SPECS_DIR.is_dir():
        pytest.skip(f"the shared specs folder is absent ({SPECS_DIR}); schema checks skipped")
    return SPECS_DIR


# --- database fixtures ------------------------------------------------------------------
# Owned by the migrations work (helpers in tests/db.py). SQLite by default; PostgreSQL when
# OMS_TEST_DATABASE_URL is set (a fresh database per session). Marker `postgres` + fixture
# `postgres_url` for tests that only make sense on PostgreSQL.
from sqlalchemy.engine import Engine  # noqa: E402

from oms_api.db.engine import make_engine  # noqa: E402
from oms_api.db.migrate import upgrade  # noqa: E402
from tests import db as test_db  # noqa: E402


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The session's database, migrated to head once."""
    with test_db.temporary_database(tmp_path_factory.mktemp("db")) as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def _session_engine(database_url: str) -> Iterator[tuple[Engine, list[str]]]:
    engine = make_engine(database_url, pool_size=5)
    yield engine, test_db.table_names_in_delete_order(engine)
    engine.dispose()


@pytest.fixture
def db_engine(_session_engine: tuple[Engine, list[str]]) -> Engine:
    """The session database's engine, every table emptied (ids restarted) for this test."""
    engine, tables = _session_engine
    test_db.empty_tables(engine, tables)
    return engine


@pytest.fixture
def fresh_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty, unmigrated database of this run's kind, for tests that migrate themselves."""
    with test_db.temporary_database(tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A reachable PostgreSQL server URL (skips, or fails under OMS_REQUIRE_POSTGRES=1)."""
    return test_db.reachable_postgres_url()


# --- OMS fixtures -----------------------------------------------------------------------
# The real OMS app against the session simulator and the session database (tests/oms.py).
from tests.oms import OMS, running_oms  # noqa: E402


@pytest.fixture
def oms_factory(sim: Sim, db_engine: Engine, database_url: str):
    """Start the OMS with setting overrides: `with oms_factory(fill_wait_polls=0) as oms:`."""

    def factory(**overrides: Any):
        return running_oms(sim, db_engine, database_url, **overrides)

    return factory


@pytest.fixture
def oms(oms_factory) -> Iterator[OMS]:
    """The OMS with its trade stream connected and a portfolio named "main"."""
    with oms_factory() as running:
        running.create_portfolio("main")
        yield running


# --- which tests the PostgreSQL pass runs --------------------------------------------------
# Fixtures through which a test reaches the suite's database.
DATABASE_FIXTURES = frozenset(
    {"database_url", "_session_engine", "db_engine", "fresh_database_url", "postgres_url"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL (OMS_TEST_DATABASE_URL), run only the tests that reach the database.
    The others (the simulator on its own, Block Kit builders, the bot against respx, `oms up`
    on its own SQLite file) do the same on any database: the SQLite pass runs them, and
    running them twice would only cost CI time."""
    if not test_db.configured_postgres_url():
        return
    keep: list[pytest.Item] = []
    elsewhere: list[pytest.Item] = []
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        (keep if names & DATABASE_FIXTURES else elsewhere).append(item)
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = keep

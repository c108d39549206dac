"""The broker request budget: one smooth, prioritised budget shared by every worker and instance
that uses the same API key and database.

Alpaca allows 200 requests a minute per API key, counted at the broker across every process
that uses the key. The budget is a token bucket: it refills at `per_minute / 60` tokens a second
up to `burst` tokens, so any 60 s window sees at most `per_minute + burst` requests (kept at or
under the broker's limit by the settings), without the old "all at once, then a wall" pattern.

Priorities share the bucket through reserves: a request of priority p may take a token only
while `floor(p)` tokens would remain, so when the bucket runs low, cancels and emergency stops
still go first, then submits, then order polls, then reads, then the health probe. A caller
whose turn is further away than it may wait is refused at once: nothing is sent.

Where the bucket lives: on PostgreSQL in a row of the `broker_budget` table (UNLOGGED: the
level is worthless after a crash, and a missing row starts full), updated by one statement per
request on the database's own clock, so every worker and instance draws from the same budget.
On SQLite (one process) in memory.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from sqlalchemy import Column, Float, String, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Field, SQLModel

from oms_api.db import types as _db_types  # noqa: F401  (naming convention before the table)

log = logging.getLogger(__name__)

BUDGET_NAME = "alpaca"
# Levels are floats: a caller that slept exactly until its token must find it there.
EPSILON = 1e-6


class Priority(IntEnum):
    """Who goes first when the budget runs low (lower goes first)."""

    CRITICAL = 0  # cancels, emergency stops
    SUBMIT = 1  # new orders and their re-sends
    POLL = 2  # order look-ups, settling, sweeps
    READ = 3  # account, positions, quotes, clock, assets
    HEALTH = 4  # the health probe


# The share of the bucket each priority must leave for the ones above it.
RESERVE_SHARE: dict[Priority, float] = {
    Priority.CRITICAL: 0.0,
    Priority.SUBMIT: 0.1,
    Priority.POLL: 0.3,
    Priority.READ: 0.5,
    Priority.HEALTH: 0.7,
}


class BudgetExhausted(Exception):
    """No request slot within the caller's bound: the request was not sent."""

    def __init__(self, wait_needed: float, max_wait: float, priority: Priority) -> None:
        super().__init__(
            f"the OMS's broker request budget is spent for now: the next {priority.name.lower()} "
            f"slot is {wait_needed:.1f} s away, more than the {max_wait:.1f} s this call may wait"
        )
        self.wait_needed = wait_needed
        self.max_wait = max_wait
        self.priority = priority


class BudgetTable(SQLModel, table=True):
    """The shared bucket's level (PostgreSQL; unused on SQLite)."""

    __tablename__ = "broker_budget"

    name: str = Field(sa_column=Column(String(64), primary_key=True))
    tokens: float = Field(sa_column=Column(Float, nullable=False))
    # Seconds since the epoch, on the database's clock (one clock for every worker).
    updated_at: float = Field(sa_column=Column(Float, nullable=False))


@dataclass(frozen=True)
class BudgetPolicy:
    per_minute: int
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute < 1 or self.burst < 1:
            raise ValueError("the broker budget needs per_minute >= 1 and burst >= 1")

    @property
    def rate(self) -> float:
        """Tokens per second."""
        return self.per_minute / 60.0

    def floor(self, priority: Priority) -> float:
        return math.floor(self.burst * RESERVE_SHARE[priority])


class BucketStore(Protocol):
    def take(self, policy: BudgetPolicy, floor: float) -> float:
        """Take one token if `floor` tokens remain afterwards: 0.0. Otherwise take nothing and
        return the seconds until that would be possible."""
        ...


class MemoryBucket:
    """The bucket in this process (SQLite deployments are one process)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._tokens: float | None = None
        self._updated = 0.0

    def _level(self, policy: BudgetPolicy, now: float) -> float:
        if self._tokens is None:
            return float(policy.burst)
        return min(float(policy.burst), self._tokens + max(0.0, now - self._updated) * policy.rate)

    def take(self, policy: BudgetPolicy, floor: float) -> float:
        with self._lock:
            now = self._monotonic()
            level = self._level(policy, now)
            if level - 1 >= floor - EPSILON:
                self._tokens, self._updated = level - 1, now
                return 0.0
            return max(EPSILON, (floor + 1 - level) / policy.rate)


# One statement per request: read the level on the database's clock, take a token when the
# reserve allows, and return the level either way (so a refused caller knows how long to wait).
_TAKE = text(
    """
    WITH current AS (
        SELECT LEAST(CAST(:burst AS float8),
                     tokens + GREATEST(0, now_s - updated_at) * CAST(:rate AS float8)) AS level,
               now_s
        FROM broker_budget,
             LATERAL (SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS float8) AS now_s) t
        WHERE name = :name
        FOR UPDATE OF broker_budget
    ), taken AS (
        UPDATE broker_budget SET tokens = current.level - 1, updated_at = current.now_s
        FROM current
        WHERE broker_budget.name = :name
          AND current.level - 1 >= CAST(:floor AS float8) - CAST(:epsilon AS float8)
        RETURNING 1
    )
    SELECT current.level, EXISTS (SELECT 1 FROM taken) AS taken FROM current
    """
)
_CREATE_ROW = text(
    """
    INSERT INTO broker_budget (name, tokens, updated_at)
    VALUES (:name, :burst, CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS float8))
    ON CONFLICT (name) DO NOTHING
    """
)


class PostgresBucket:
    """The bucket in a row every worker shares. If the database cannot be reached, this
    process falls back to a bucket of its own (trading needs the database anyway; reads and
    cancels keep a budget)."""

    def __init__(self, engine: Engine, name: str = BUDGET_NAME) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._name = name
        self._fallback = MemoryBucket()
        self._failing = False

    def take(self, policy: BudgetPolicy, floor: float) -> float:
        params = {
            "name": self._name,
            "burst": float(policy.burst),
            "rate": policy.rate,
            "floor": floor,
            "epsilon": EPSILON,
        }
        try:
            with self._engine.connect() as connection:
                row = connection.execute(_TAKE, params).first()
                if row is None:  # a new database, or the unlogged table lost its row
                    connection.execute(_CREATE_ROW, params)
                    row = connection.execute(_TAKE, params).first()
        except SQLAlchemyError as error:
            self._fall_back(error)
            return self._fallback.take(policy, floor)
        self._recovered()
        assert row is not None
        level, taken = float(row[0]), bool(row[1])
        return 0.0 if taken else max(EPSILON, (floor + 1 - level) / policy.rate)

    def _fall_back(self, error: Exception) -> None:
        if not self._failing:
            log.warning(
                "broker budget: the shared bucket is unreachable (%s); using this process's own",
                type(error).__name__,
            )
        self._failing = True

    def _recovered(self) -> None:
        if self._failing:
            log.info("broker budget: back on the shared bucket")
        self._failing = False


class BrokerBudget:
    """Take a slot before each broker request, waiting (through the injected sleep) when the
    wait fits the caller's bound."""

    def __init__(
        self,
        policy: BudgetPolicy,
        store: BucketStore,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy
        self.store = store
        self._sleep = sleep

    def acquire(self, priority: Priority, max_wait: float) -> float:
        """Take one slot; returns the seconds waited. Raises BudgetExhausted (nothing taken)
        when the slot is further away than `max_wait` seconds."""
        floor = self.policy.floor(priority)
        waited = 0.0
        while True:
            wait = self.store.take(self.policy, floor)
            if wait <= 0:
                return waited
            if waited + wait > max_wait + 1e-9:
                raise BudgetExhausted(waited + wait, max_wait, priority)
            # Others may take the refilled tokens first (higher priorities, other workers):
            # then the loop waits again, within the same bound.
            self._sleep(wait)
            waited += wait


def make_budget(
    engine: Engine | None,
    per_minute: int,
    burst: int,
    *,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> BrokerBudget:
    """The shared bucket on PostgreSQL, this process's own otherwise."""
    policy = BudgetPolicy(per_minute, burst)
    store: BucketStore
    if engine is not None and engine.dialect.name == "postgresql":
        store = PostgresBucket(engine)
    else:
        store = MemoryBucket(monotonic)
    return BrokerBudget(policy, store, sleep=sleep)

"""Simulator time: an injectable clock and a US-equities trading calendar.

Tests drive a ManualClock so nothing waits for real time; `oms sim` uses the wall clock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")

# Full-day NYSE closures the simulator knows about (enough for realistic next_open values).
HOLIDAYS: frozenset[date] = frozenset(
    date.fromisoformat(d)
    for d in (
        "2025-01-01",
        "2025-01-20",
        "2025-02-17",
        "2025-04-18",
        "2025-05-26",
        "2025-06-19",
        "2025-07-04",
        "2025-09-01",
        "2025-11-27",
        "2025-12-25",
        "2026-01-01",
        "2026-01-19",
        "2026-02-16",
        "2026-04-03",
        "2026-05-25",
        "2026-06-19",
        "2026-07-03",
        "2026-09-07",
        "2026-11-26",
        "2026-12-25",
        "2027-01-01",
        "2027-01-18",
        "2027-02-15",
        "2027-03-26",
        "2027-05-31",
        "2027-06-18",
        "2027-07-05",
        "2027-09-06",
        "2027-11-25",
        "2027-12-24",
    )
)

REGULAR_OPEN = time(9, 30)
REGULAR_CLOSE = time(16, 0)
EXTENDED_OPEN = time(4, 0)
EXTENDED_CLOSE = time(20, 0)


class Clock(Protocol):
    def now(self) -> datetime: ...


class WallClock:
    """Real UTC time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; thread-safe."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def rewind(self, when: datetime) -> None:
        """Only for a simulator reset: a new account starts at the original time."""
        with self._lock:
            self._now = when.astimezone(UTC)

    def set(self, when: datetime) -> datetime:
        if when.tzinfo is None:
            raise ValueError("set() needs a timezone-aware time")
        with self._lock:
            when = when.astimezone(UTC)
            if when < self._now:
                raise ValueError("a clock cannot go backwards")
            self._now = when
            return self._now


class MarketMode(StrEnum):
    """How the simulator decides whether the market is open."""

    CALENDAR = "calendar"  # NYSE regular hours, weekdays, known holidays
    OPEN = "open"  # always open (handy for demos outside market hours)
    CLOSED = "closed"  # always closed


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5 and day not in HOLIDAYS


@dataclass(frozen=True)
class Session:
    open: datetime
    close: datetime


def _session_on(day: date) -> Session:
    return Session(
        open=datetime.combine(day, REGULAR_OPEN, NEW_YORK).astimezone(UTC),
        close=datetime.combine(day, REGULAR_CLOSE, NEW_YORK).astimezone(UTC),
    )


def next_sessions(now: datetime, count: int = 2) -> list[Session]:
    """Regular sessions that have not closed yet at `now`, earliest first."""
    day = now.astimezone(NEW_YORK).date()
    sessions: list[Session] = []
    while len(sessions) < count:
        if is_trading_day(day):
            session = _session_on(day)
            if session.close > now:
                sessions.append(session)
        day += timedelta(days=1)
    return sessions


def calendar_is_open(now: datetime) -> bool:
    current = next_sessions(now, 1)[0]
    return current.open <= now < current.close


def calendar_in_extended_hours(now: datetime) -> bool:
    local = now.astimezone(NEW_YORK)
    if not is_trading_day(local.date()):
        return False
    return EXTENDED_OPEN <= local.time() < EXTENDED_CLOSE


def clock_times(now: datetime) -> tuple[datetime, datetime]:
    """(next_open, next_close) as Alpaca reports them: during a session next_open is tomorrow's."""
    first, second = next_sessions(now, 2)
    if first.open <= now:
        return second.open, first.close
    return first.open, first.close

"""Simulator time: an injectable clock and the NYSE trading calendar.

Tests drive a ManualClock so nothing waits for real time; `oms sim` uses the wall clock. NYSE
closures and early closes come from the `holidays` package, so any year is known.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

import holidays
from holidays.constants import HALF_DAY, PUBLIC

NEW_YORK = ZoneInfo("America/New_York")

REGULAR_OPEN = time(9, 30)
REGULAR_CLOSE = time(16, 0)
EARLY_CLOSE = time(13, 0)  # every modern NYSE early close
EXTENDED_OPEN = time(4, 0)
EXTENDED_CLOSE = time(20, 0)
EARLY_EXTENDED_CLOSE = time(17, 0)  # after-hours trading ends at 17:00 on early-close days


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

    CALENDAR = "calendar"  # NYSE hours: weekdays, holidays and early closes
    OPEN = "open"  # always open (handy for demos outside market hours)
    CLOSED = "closed"  # always closed


@dataclass(frozen=True)
class _YearDays:
    closed: frozenset[date]  # NYSE full-day closures
    early_close: frozenset[date]  # NYSE closes at 13:00
    bank_holidays: frozenset[date]  # Federal Reserve holidays: nothing settles


@functools.cache
def _days_of(year: int) -> _YearDays:
    """The special days falling in `year`. Cached: asked on every request and clock step.
    Neighbouring years are computed too: an observed holiday can fall in the year before."""
    years = (year - 1, year, year + 1)

    def in_year(days: holidays.HolidayBase) -> frozenset[date]:
        return frozenset(day for day in days if day.year == year)

    return _YearDays(
        closed=in_year(holidays.financial_holidays("NYSE", categories=(PUBLIC,), years=years)),
        early_close=in_year(
            holidays.financial_holidays("NYSE", categories=(HALF_DAY,), years=years)
        ),
        bank_holidays=in_year(holidays.financial_holidays("FED", years=years)),
    )


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _days_of(day.year).closed


def is_early_close(day: date) -> bool:
    return day in _days_of(day.year).early_close


def is_settlement_day(day: date) -> bool:
    """Trades settle on days both the exchange and the banks (the Fed) are open."""
    return is_trading_day(day) and day not in _days_of(day.year).bank_holidays


# (first trade date, business days to settle): T+1 since 28 May 2024, T+2 from September 2017,
# T+3 from June 1995, T+5 before.
_SETTLEMENT_CYCLES = (
    (date(2024, 5, 28), 1),
    (date(2017, 9, 5), 2),
    (date(1995, 6, 7), 3),
    (date.min, 5),
)


def settlement_date(trade_day: date) -> date:
    cycle = next(days for since, days in _SETTLEMENT_CYCLES if trade_day >= since)
    day = trade_day
    while cycle > 0:
        day += timedelta(days=1)
        if is_settlement_day(day):
            cycle -= 1
    return day


@dataclass(frozen=True)
class Session:
    """One trading day's hours, in UTC."""

    day: date
    open: datetime
    close: datetime
    extended_open: datetime
    extended_close: datetime


def session_on(day: date) -> Session:
    """The hours of `day`, which must be a trading day."""
    early = is_early_close(day)

    def at(clock_time: time) -> datetime:
        return datetime.combine(day, clock_time, NEW_YORK).astimezone(UTC)

    return Session(
        day=day,
        open=at(REGULAR_OPEN),
        close=at(EARLY_CLOSE if early else REGULAR_CLOSE),
        extended_open=at(EXTENDED_OPEN),
        extended_close=at(EARLY_EXTENDED_CLOSE if early else EXTENDED_CLOSE),
    )


def sessions_between(first: date, last: date) -> list[Session]:
    """Every trading day from `first` to `last`, both included."""
    sessions = []
    day = first
    while day <= last:
        if is_trading_day(day):
            sessions.append(session_on(day))
        day += timedelta(days=1)
    return sessions


def next_sessions(now: datetime, count: int = 2) -> list[Session]:
    """Regular sessions that have not closed yet at `now`, earliest first."""
    day = now.astimezone(NEW_YORK).date()
    sessions: list[Session] = []
    while len(sessions) < count:
        if is_trading_day(day):
            session = session_on(day)
            if session.close > now:
                sessions.append(session)
        day += timedelta(days=1)
    return sessions


def calendar_is_open(now: datetime) -> bool:
    current = next_sessions(now, 1)[0]
    return current.open <= now < current.close


def calendar_in_extended_hours(now: datetime) -> bool:
    day = now.astimezone(NEW_YORK).date()
    if not is_trading_day(day):
        return False
    session = session_on(day)
    return session.extended_open <= now < session.extended_close


def clock_times(
    now: datetime, mode: MarketMode = MarketMode.CALENDAR
) -> tuple[bool, datetime, datetime]:
    """(is_open, next_open, next_close) as Alpaca's /v2/clock reports them.

    Open: next_close ends the session under way and next_open starts the one after it, so
    now < next_close < next_open. Closed: now < next_open < next_close. A market forced open
    outside the calendar's hours counts as in the session that closes next; one forced closed
    mid-session waits for the next session."""
    current, following = next_sessions(now, 2)
    is_open = current.open <= now if mode is MarketMode.CALENDAR else mode is MarketMode.OPEN
    if is_open:
        return True, following.open, current.close
    if current.open > now:
        return False, current.open, current.close
    return False, following.open, following.close

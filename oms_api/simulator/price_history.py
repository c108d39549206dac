"""What the price paths did, minute by minute, and the market's sessions over time: what the
bars route and the portfolio history route are built from.

`PriceHistory` keeps, per symbol, one record for each minute in which the price changed (a step
of the seeded path, a `set_price`, the starting price): the minute's first, highest, lowest and
last price. Between records the price stayed where it was, so any interval's open, high, low
and close follow from the records: an interval opens at the price the previous one closed at.
Prices are kept as whole ten-thousandths of a dollar in compact arrays (Alpaca's ticks are
cents, or hundredths of a cent under $1), about 40 bytes a symbol a minute: a simulator on the
wall clock keeps roughly 2 MB a day for the built-in universe. There is no history before the
simulator started (or was reset): the account and its prices begin there.

The sessions depend on the market mode: on the NYSE calendar (`calendar`, and `closed`, whose
past was the calendar's), regular hours 09:30-16:00 (13:00 on early closes), or 04:00-20:00 with
the extended hours; forced open around the clock (`open`, the default), every day from midnight
to midnight in New York, since the simulated market trades then. The mode asked about is the
current one: a run that switched modes is read as if it had always been in the current one.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum

from oms_api.simulator.clock import NEW_YORK, MarketMode, is_trading_day, session_on

PRICE_SCALE = 10_000  # prices are kept as whole ten-thousandths of a dollar


def minute_of(moment: datetime) -> int:
    """Minutes since the Unix epoch, rounded down."""
    return int(moment.timestamp()) // 60


def _ticks(price: Decimal) -> int:
    return int(price * PRICE_SCALE)


def _price(ticks: int) -> Decimal:
    return Decimal(ticks) / PRICE_SCALE


@dataclass(frozen=True)
class Summary:
    """An interval's prices, and how much the price moved inside its minutes."""

    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    minutes: int  # minutes of the interval the history covers
    movement: Decimal  # the sum of each recorded minute's high - low


class _Minutes:
    """One symbol's records: parallel arrays, one entry per minute with a price change."""

    __slots__ = ("close", "high", "low", "minute", "open")

    def __init__(self) -> None:
        self.minute = array("q")
        self.open = array("q")
        self.high = array("q")
        self.low = array("q")
        self.close = array("q")


class PriceHistory:
    def __init__(self, started_at: datetime) -> None:
        self.started_at = started_at
        self._symbols: dict[str, _Minutes] = {}

    def record(self, symbol: str, moment: datetime, price: Decimal) -> None:
        self.record_minute(symbol, minute_of(moment), price)

    def record_minute(self, symbol: str, minute: int, price: Decimal) -> None:
        ticks = _ticks(price)
        records = self._symbols.get(symbol)
        if records is None:
            records = self._symbols[symbol] = _Minutes()
        if records.minute and minute <= records.minute[-1]:
            # The same minute (or, on a wall clock, a step dated a moment before a set_price
            # already recorded): it extends the latest record.
            records.high[-1] = max(records.high[-1], ticks)
            records.low[-1] = min(records.low[-1], ticks)
            records.close[-1] = ticks
            return
        records.minute.append(minute)
        records.open.append(ticks)
        records.high.append(ticks)
        records.low.append(ticks)
        records.close.append(ticks)

    def first_minute(self, symbol: str) -> int | None:
        records = self._symbols.get(symbol)
        return records.minute[0] if records is not None and records.minute else None

    def price_before(self, symbol: str, moment: datetime) -> Decimal | None:
        """The price just before `moment` (a whole minute): the last close of the minutes that
        began earlier; before the first record, the first price known; None without records."""
        records = self._symbols.get(symbol)
        if records is None or not records.minute:
            return None
        index = bisect_left(records.minute, minute_of(moment)) - 1
        return _price(records.close[index] if index >= 0 else records.open[0])

    def summary(self, symbol: str, first_minute: int, end_minute: int) -> Summary | None:
        """Open, high, low and close over the minutes [first_minute, end_minute); None when the
        history has no price for any of them (all before the first record)."""
        records = self._symbols.get(symbol)
        if records is None or not records.minute or end_minute <= first_minute:
            return None
        minutes = records.minute
        lo = bisect_left(minutes, first_minute)
        hi = bisect_left(minutes, end_minute)
        carried = records.close[lo - 1] if lo > 0 else None
        if carried is None and lo == hi:
            return None
        highs, lows = records.high[lo:hi], records.low[lo:hi]
        opening = carried if carried is not None else records.open[lo]
        high = max(opening, max(highs)) if highs else opening
        low = min(opening, min(lows)) if lows else opening
        closing = records.close[hi - 1] if hi > lo else opening
        covered = end_minute - max(first_minute, minutes[0])
        return Summary(
            open=_price(opening),
            high=_price(high),
            low=_price(low),
            close=_price(closing),
            minutes=covered,
            movement=_price(sum(highs) - sum(lows)),
        )


# ---------------------------------------------------------------------------- sessions
class Hours(StrEnum):
    REGULAR = "regular"  # 09:30-16:00 on trading days
    EXTENDED = "extended"  # 04:00-20:00 on trading days
    CONTINUOUS = "continuous"  # around the clock, every day


@dataclass(frozen=True)
class MarketDay:
    day: date
    start: datetime  # UTC
    end: datetime  # UTC

    @property
    def midnight(self) -> datetime:
        """The day's start in New York: what daily bars and daily points are labelled with."""
        return datetime.combine(self.day, time(0), NEW_YORK)


def _whole_day(day: date) -> MarketDay:
    start = datetime.combine(day, time(0), NEW_YORK)
    end = datetime.combine(day + timedelta(days=1), time(0), NEW_YORK)
    return MarketDay(day, start, end)


def market_day(mode: MarketMode, day: date, hours: Hours = Hours.REGULAR) -> MarketDay | None:
    """The market's session on `day`; None when the market does not trade that day."""
    if mode is MarketMode.OPEN or hours is Hours.CONTINUOUS:
        return _whole_day(day)
    if not is_trading_day(day):
        return None
    session = session_on(day)
    if hours is Hours.EXTENDED:
        return MarketDay(day, session.extended_open, session.extended_close)
    return MarketDay(day, session.open, session.close)


def market_days(
    mode: MarketMode, first: date, last: date, hours: Hours = Hours.REGULAR
) -> list[MarketDay]:
    """The market's sessions from `first` to `last` (New York dates, both included)."""
    days = []
    day = first
    while day <= last:
        found = market_day(mode, day, hours)
        if found is not None:
            days.append(found)
        day += timedelta(days=1)
    return days


def previous_market_day(mode: MarketMode, day: date, hours: Hours = Hours.REGULAR) -> MarketDay:
    """The last session before `day`."""
    earlier = day - timedelta(days=1)
    while (found := market_day(mode, earlier, hours)) is None:
        earlier -= timedelta(days=1)
    return found


def ny_date(moment: datetime) -> date:
    return moment.astimezone(NEW_YORK).date()


def slices(day: MarketDay, minutes: int) -> list[tuple[datetime, datetime, datetime]]:
    """(label, start, end) of the timeframe's intervals over a session: whole multiples of the
    timeframe since the epoch, cut to the session."""
    step = minutes * 60
    stamp = int(day.start.timestamp()) // step * step
    end_stamp = int(day.end.timestamp())
    found = []
    while stamp < end_stamp:
        label = datetime.fromtimestamp(stamp, UTC)
        found.append((label, max(label, day.start), min(label + timedelta(seconds=step), day.end)))
        stamp += step
    return found

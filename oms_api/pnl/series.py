"""P&L over time, for one portfolio or the whole desk (every portfolio's book, summed).

At each point: realized P&L from the fills up to it (the `AverageCostBook` replay), and total
P&L = realized + unrealized, the quantities held then valued at that point's close price from
the broker's bars. The last point is now, at the broker's current prices.

Points (oldest first, at most MAX_POINTS): `since` first (the window's starting level), then
- day: every hour of today (New York's date), from hourly bars;
- week / month: the close (16:00 New York) of each weekday of the last 7 / 30 days, from daily
  bars;
- all: the same from the day of the first fill, thinned to stay within MAX_POINTS;
then now. A price is the close of the symbol's last bar finished by the point; before its first
bar, that bar's open; without any bar, the current price (or, failing that, the average cost:
no unrealized P&L for it rather than no point).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from oms_api.broker.models import Position
from oms_api.pnl.service import NEW_YORK, PnlService, trading_day_start
from oms_api.portfolios.ledger import LedgerFill, portfolio_fills
from oms_api.portfolios.service import CENT, AverageCostBook

MAX_POINTS = 400
HOUR = timedelta(hours=1)
MARKET_CLOSE = time(16, 0)
# Bars from a little before `since`, so the first points have a close to read.
HOURLY_LOOKBACK = timedelta(days=4)
DAILY_LOOKBACK = timedelta(days=7)
ZERO = Decimal(0)


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    ALL = "all"


class Timeframe(StrEnum):
    HOUR = "1Hour"
    DAY = "1Day"


PERIOD_DAYS = {Period.WEEK: 7, Period.MONTH: 30}


class BarLike(Protocol):
    at: datetime
    open: Decimal
    close: Decimal


@dataclass(frozen=True)
class PnlPoint:
    at: datetime
    realized_pnl: Decimal
    total_pnl: Decimal


@dataclass(frozen=True)
class PnlSeries:
    portfolio: str | None
    period: str
    since: datetime
    points: list[PnlPoint]
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    total_pnl: Decimal


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=NEW_YORK)


def _closes(first: date, last: date) -> list[datetime]:
    """16:00 New York on each weekday from `first` to `last`, both included."""
    days = (last - first).days + 1
    return [
        datetime.combine(first + timedelta(days=n), MARKET_CLOSE, NEW_YORK)
        for n in range(max(days, 0))
        if (first + timedelta(days=n)).weekday() < 5
    ]


def _thinned(times: list[datetime], most: int) -> list[datetime]:
    """At most `most` of `times`, evenly spaced, the latest always kept."""
    if len(times) <= most:
        return times
    step = math.ceil(len(times) / most)
    return times[::-1][::step][::-1]


def timeline(
    period: Period, now: datetime, first_fill_at: datetime | None
) -> tuple[datetime, list[datetime], Timeframe]:
    """The window's start, its points before now (oldest first), and the bars to price them."""
    today = trading_day_start(now)
    if period is Period.DAY:
        hours = []
        at = today.astimezone(UTC) + HOUR  # in UTC: a day that changes the clocks has 23 or 25
        while at < now:
            hours.append(at)
            at += HOUR
        return today, [today, *hours], Timeframe.HOUR
    if period is Period.ALL:
        since = trading_day_start(first_fill_at) if first_fill_at is not None else today
    else:
        since = _midnight(today.date() - timedelta(days=PERIOD_DAYS[period]))
    closes = [t for t in _closes(since.date(), today.date() - timedelta(days=1)) if t < now]
    return since, [since, *_thinned(closes, MAX_POINTS - 2)], Timeframe.DAY


def _finished_at(bar: BarLike, timeframe: Timeframe) -> datetime:
    """When a bar's close was the price: an hourly bar an hour after it starts; a daily bar
    (stamped at midnight New York) at that day's 16:00."""
    if timeframe is Timeframe.HOUR:
        return bar.at + HOUR
    return datetime.combine(bar.at.astimezone(NEW_YORK).date(), MARKET_CLOSE, NEW_YORK)


class _Prices:
    """A symbol's price at a moment, from its bars (then the current price)."""

    def __init__(
        self,
        bars: dict[str, Sequence[BarLike]],
        timeframe: Timeframe,
        current: dict[str, Decimal],
    ) -> None:
        self.bars: dict[str, tuple[list[datetime], list[BarLike]]] = {}
        for symbol, rows in bars.items():
            ordered = sorted(rows, key=lambda bar: bar.at)
            if ordered:
                finished = [_finished_at(bar, timeframe) for bar in ordered]
                self.bars[symbol] = (finished, ordered)
        self.current = current

    def at(self, symbol: str, when: datetime) -> Decimal | None:
        if symbol not in self.bars:
            return self.current.get(symbol)
        finished, ordered = self.bars[symbol]
        index = bisect_right(finished, when)
        return ordered[index - 1].close if index else ordered[0].open

    def now(self, symbol: str, when: datetime) -> Decimal | None:
        return self.current.get(symbol) or self.at(symbol, when)


class _Books:
    """Every (portfolio, symbol) book replayed up to a moment."""

    def __init__(self, fills: list[LedgerFill]) -> None:
        self.fills = fills
        self.applied = 0
        self.books: dict[tuple[int, str], AverageCostBook] = {}

    def until(self, when: datetime) -> None:
        while self.applied < len(self.fills) and self.fills[self.applied].at <= when:
            fill = self.fills[self.applied]
            key = (fill.portfolio_id, fill.symbol)
            self.books.setdefault(key, AverageCostBook()).apply(fill.delta, fill.price)
            self.applied += 1

    def realized(self) -> Decimal:
        return sum((book.realized for book in self.books.values()), ZERO)

    def held(self) -> list[tuple[str, Decimal, Decimal]]:
        """(symbol, signed qty, signed cost) of each book not flat."""
        return [(key[1], b.qty, b.cost) for key, b in self.books.items() if b.qty != 0]


def pnl_series(service: PnlService, portfolio: str | None, period: Period) -> PnlSeries:
    """P&L over `period` for the portfolio named (404 when unknown) or the whole desk."""
    portfolio_id = None
    name = None
    if portfolio is not None:
        found = service.portfolios.get(portfolio)
        portfolio_id, name = found.id, found.name
    now = service.now()
    fills = [f for f in portfolio_fills(service.engine, portfolio_id) if f.at <= now]
    since, times, timeframe = timeline(period, now, fills[0].at if fills else None)
    times = [at for at in times if at < now]
    books = _Books(fills)
    sampled: list[tuple[datetime, Decimal, list[tuple[str, Decimal, Decimal]]]] = []
    for at in [*times, now]:
        books.until(at)
        sampled.append((at, books.realized(), books.held()))
    symbols = sorted({symbol for _, _, held in sampled for symbol, _, _ in held})
    current: dict[str, Decimal] = {}
    bars: dict[str, Sequence[Any]] = {}
    if symbols:
        current = _current_prices(service.market.positions(), symbols)
        lookback = HOURLY_LOOKBACK if timeframe is Timeframe.HOUR else DAILY_LOOKBACK
        bars = service.market.bars(symbols, timeframe.value, since - lookback, now)
    prices = _Prices(bars, timeframe, current)
    points = []
    for index, (at, realized, held) in enumerate(sampled):
        last = index == len(sampled) - 1
        unrealized = ZERO
        for symbol, qty, cost in held:
            price = prices.now(symbol, at) if last else prices.at(symbol, at)
            if price is not None:  # unknown: valued at cost (no unrealized P&L for it)
                unrealized += qty * price - cost
        points.append(
            PnlPoint(
                at.astimezone(UTC), realized.quantize(CENT), (realized + unrealized).quantize(CENT)
            )
        )
    final = points[-1]
    return PnlSeries(
        portfolio=name,
        period=period.value,
        since=since.astimezone(UTC),
        points=points,
        realized_pnl=final.realized_pnl,
        unrealized_pnl=final.total_pnl - final.realized_pnl,
        total_pnl=final.total_pnl,
    )


def _current_prices(positions: list[Position], symbols: list[str]) -> dict[str, Decimal]:
    wanted = set(symbols)
    return {
        p.symbol: p.current_price
        for p in positions
        if p.symbol in wanted and p.current_price is not None
    }

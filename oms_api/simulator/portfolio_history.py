"""Alpaca's `GET /v2/account/portfolio/history`, rebuilt from the account's own past.

The equity at any moment is what the account held then, valued at that moment's prices: the
starting cash, moved by every fill (`state.fills`) and every control-API change of cash or
shares (`state.balance_changes`) made before it, with each position priced from the recorded
price path (`price_history`). At the moment under way it is exactly `/v2/account`'s equity.

Parameters, as alpaca-py's `GetPortfolioHistoryRequest` sends them:
- `period` `<n>D|W|M|A` (default 1M), or `all` (since the account opened); at most two of
  `period`, `start` and `end` (RFC 3339); `date_end` (YYYY-MM-DD) ends the period with that
  date. A period of days counts market days back from the current market date (the last one
  whose session has begun, so before the open it is the previous one); weeks, months and years
  are calendar spans ending with that date.
- `timeframe` 1Min, 5Min, 15Min, 1H or 1D; by default 1Min under 7 days, 15Min under 30, else
  1D. Timeframes under 1D only for 30 days or less.
- `intraday_reporting` market_hours (default), extended_hours (also the old
  `extended_hours=true`) or continuous; `pnl_reset` per_day (default) or no_reset.
  `cashflow_types` is accepted: the simulator has no cash flows, so `cashflow` is `{}`.

The reply: `timestamp` (Unix seconds, left-labelled: the window's start; windows are whole
multiples of the timeframe, cut to the session, and 1D points are labelled midnight in New York),
`equity` as of each window's end (or now, for the window under way), `profit_loss` and
`profit_loss_pct` from the base value, `base_value`, `base_value_asof`, `timeframe`, `cashflow`.
Under 1D the base is the closing equity of the market day before, per day with `per_day` (the
reply's `base_value` is the first day's) or the first day's throughout with `no_reset`; with 1D
it is the first point's equity and `base_value_asof` is left out, as Alpaca does. Money is
rounded to cents, percentages (fractions: 0.01 is 1%) to six places.

Simplifications: nothing exists before the simulator started (or was reset): no points before
it. What the control API set up before the clock first moved (`set_cash`, seeded positions) is
what the account brought in: its equity at any earlier close is that cash plus those positions
at each symbol's previous close (the `lastday_price` positions report). Later, a `set_cash` or
a seeded position counts as a change at the moment it was made, not as a cash flow. Sessions
follow the current market mode (see `price_history`): forced open (the default), every minute
of every day is market hours. Prices between two recorded minutes are the earlier minute's
close.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from oms_api.simulator.clock import NEW_YORK, MarketMode
from oms_api.simulator.errors import invalid
from oms_api.simulator.matching import Matching
from oms_api.simulator.params import query_bool, query_time
from oms_api.simulator.price_history import (
    Hours,
    market_day,
    market_days,
    ny_date,
    previous_market_day,
    slices,
)

TIMEFRAMES: dict[str, int | None] = {"1Min": 1, "5Min": 5, "15Min": 15, "1H": 60, "1D": None}
REPORTING = {
    "market_hours": Hours.REGULAR,
    "extended_hours": Hours.EXTENDED,
    "continuous": Hours.CONTINUOUS,
}
PNL_RESETS = ("per_day", "no_reset")
UNIT_DAYS = {"D": 1, "W": 7, "M": 30, "A": 365}  # for the timeframe rules only
INTRADAY_MAX_DAYS = 30
CENT = Decimal("0.01")
RATIO_PLACES = Decimal("0.000001")

_PERIOD = re.compile(r"^([1-9]\d{0,4})([DWMA])$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Period:
    count: int | None  # None: "all"
    unit: str = ""


DEFAULT_PERIOD = Period(1, "M")


@dataclass(frozen=True)
class HistoryQuery:
    period: Period | None
    timeframe: str | None
    hours: Hours
    pnl_reset: str
    start: datetime | None
    end: datetime | None
    date_end: date | None


@dataclass(frozen=True)
class _Point:
    label: datetime  # the window's start
    as_of: datetime  # the window's end, or the range's end (now) when that comes first
    day: date  # the market day it belongs to
    under_way: bool  # its window has not ended: valued as the account is now


def _choice(params: dict[str, str], key: str, allowed: tuple[str, ...]) -> str | None:
    raw = params.get(key)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise invalid(f"invalid {key}: {raw!r} (allowed: {', '.join(allowed)})")
    return raw


def parse_history_query(params: dict[str, str]) -> HistoryQuery:
    period: Period | None = None
    raw_period = params.get("period")
    if raw_period:
        if raw_period.lower() == "all":
            period = Period(None)
        else:
            match = _PERIOD.match(raw_period)
            if match is None:
                raise invalid(
                    f"invalid period: {raw_period!r} (a number and D, W, M or A, e.g. 1M; or all)"
                )
            period = Period(int(match.group(1)), match.group(2))
    timeframe = _choice(params, "timeframe", tuple(TIMEFRAMES))
    reporting = _choice(params, "intraday_reporting", tuple(REPORTING))
    if reporting is None:
        reporting = "extended_hours" if query_bool(params, "extended_hours") else "market_hours"
    pnl_reset = _choice(params, "pnl_reset", PNL_RESETS) or "per_day"
    raw_date_end = params.get("date_end")
    date_end = None
    if raw_date_end:
        if not _DATE.match(raw_date_end):
            raise invalid(f"invalid date_end: {raw_date_end!r} (YYYY-MM-DD)")
        try:
            date_end = date.fromisoformat(raw_date_end)
        except ValueError:
            raise invalid(f"invalid date_end: {raw_date_end!r} (YYYY-MM-DD)") from None
    query = HistoryQuery(
        period=period,
        timeframe=timeframe,
        hours=REPORTING[reporting],
        pnl_reset=pnl_reset,
        start=query_time(params, "start"),
        end=query_time(params, "end"),
        date_end=date_end,
    )
    if query.start is not None and query.end is not None and period is not None:
        raise invalid("only two of start, end and period may be given")
    if query.end is not None and date_end is not None:
        raise invalid("end and date_end cannot both be given")
    return query


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _shift(moment: datetime, period: Period, sign: int) -> datetime:
    assert period.count is not None
    if period.unit in ("D", "W"):
        return moment + sign * timedelta(days=period.count * UNIT_DAYS[period.unit])
    months = period.count * (12 if period.unit == "A" else 1)
    return _add_months(moment, sign * months)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), NEW_YORK)


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class PortfolioHistoryBook(Matching):
    """The account's equity and P/L over time."""

    def _opened_at(self) -> datetime:
        """When this account (and its price history) began: the simulator's start or reset."""
        return self.market.history.started_at

    def portfolio_history_json(self, params: dict[str, str]) -> dict[str, Any]:
        query = parse_history_query(params)
        with self._lock:
            self._done()
            now = self.clock.now()
            mode = self.config.market_mode
            start, end, span_days = self._range(query, now, mode)
            timeframe = query.timeframe or (
                "1Min" if span_days < 7 else "15Min" if span_days < 30 else "1D"
            )
            minutes = TIMEFRAMES[timeframe]
            if minutes is not None and span_days > INTRADAY_MAX_DAYS:
                raise invalid(
                    f"timeframe {timeframe} is for {INTRADAY_MAX_DAYS} days or less; use 1D"
                )
            if minutes is None:
                points = self._daily_points(mode, start, end, now)
            else:
                points = self._intraday_points(mode, query.hours, minutes, start, end, now)
            return self._reply(points, timeframe, minutes is None, query.pnl_reset, mode)

    # ------------------------------------------------------------------ the range asked for
    def _range(
        self, query: HistoryQuery, now: datetime, mode: MarketMode
    ) -> tuple[datetime, datetime, float]:
        """(start, end, span in days for the timeframe rules)."""
        period = query.period
        if query.end is not None:
            end = query.end
        elif query.start is not None and period is not None and period.count is not None:
            end = _shift(query.start, period, +1)
        elif query.date_end is not None:
            end = _midnight(query.date_end + timedelta(days=1))
        else:
            end = now
        end = min(end, now)
        if query.start is not None:
            start = query.start
        else:
            period = period or DEFAULT_PERIOD
            if period.count is None:
                start = self._opened_at()
            elif period.unit == "D":
                hours = query.hours if query.timeframe != "1D" else Hours.REGULAR
                start = _midnight(_market_days_back(mode, hours, end, period.count))
            else:
                start = _midnight(ny_date(_shift(end, period, -1)) + timedelta(days=1))
        if end < start:
            raise invalid("end must not be before start")
        if period is not None and period.count is not None:
            span = float(period.count * UNIT_DAYS[period.unit])
        else:
            span = (end - start).total_seconds() / 86400
        return start, end, span

    # ------------------------------------------------------------------ the points
    def _intraday_points(
        self,
        mode: MarketMode,
        hours: Hours,
        minutes: int,
        start: datetime,
        end: datetime,
        now: datetime,
    ) -> list[_Point]:
        opened = self._opened_at()
        first = max(start, opened)
        points = []
        for day in market_days(mode, ny_date(first), ny_date(end), hours):
            if day.start > now:
                break
            for label, begins, ends in slices(day, minutes):
                if label > end or begins > now:
                    break
                if ends <= first:
                    continue  # over before the range, or before the account opened
                points.append(_Point(label, min(ends, end), day.day, _under_way(ends, end, now)))
        return points

    def _daily_points(
        self, mode: MarketMode, start: datetime, end: datetime, now: datetime
    ) -> list[_Point]:
        opened = self._opened_at()
        points = []
        for day in market_days(mode, ny_date(max(start, opened)), ny_date(end)):
            if day.start > now:
                break
            if day.end <= opened:
                continue
            under_way = _under_way(day.end, end, now)
            points.append(_Point(day.midnight, min(day.end, end), day.day, under_way))
        return points

    # ------------------------------------------------------------------ equity and P/L
    def _reply(
        self,
        points: list[_Point],
        timeframe: str,
        daily: bool,
        pnl_reset: str,
        mode: MarketMode,
    ) -> dict[str, Any]:
        # Each intraday day's base: the equity at the close of the market day before it.
        prior: dict[date, tuple[datetime, date]] = {}
        if not daily:
            for point in points:
                if point.day not in prior:
                    before = previous_market_day(mode, point.day)
                    prior[point.day] = (before.end, before.day)
        moments = [(p.as_of, p.under_way) for p in points]
        moments += [(close, False) for close, _ in prior.values()]
        equity_at = self._equities(moments)
        equities = [equity_at[p.as_of, p.under_way] for p in points]

        base: Decimal | None = None
        base_asof: date | None = None
        if daily:
            # 1D: the first point is the base, as Alpaca has it.
            base = equities[0] if points else None
            references = [base] * len(points)
        else:
            closing = {day: equity_at[close, False] for day, (close, _) in prior.items()}
            day_base: dict[date, Decimal] = {}
            for point, equity in zip(points, equities, strict=True):
                # No earlier closing balance (an unfunded account): the day's first point.
                day_base.setdefault(point.day, closing[point.day] or equity)
            if points:
                first_day = points[0].day
                base = day_base[first_day]
                base_asof = prior[first_day][1] if closing[first_day] else None
            per_day = pnl_reset == "per_day"
            references = [day_base[p.day] if per_day else base for p in points]

        profit_loss, profit_loss_pct = [], []
        for equity, reference in zip(equities, references, strict=True):
            assert reference is not None
            gained = _money(equity) - _money(reference)
            profit_loss.append(gained)
            profit_loss_pct.append(
                (gained / _money(reference)).quantize(RATIO_PLACES, rounding=ROUND_HALF_UP)
                if reference
                else None
            )
        body: dict[str, Any] = {
            "timestamp": [int(p.label.timestamp()) for p in points],
            "equity": [_money(e) for e in equities],
            "profit_loss": profit_loss,
            "profit_loss_pct": profit_loss_pct,
            "base_value": _money(base) if base is not None else None,
            "timeframe": timeframe,
            "cashflow": {},
        }
        if base_asof is not None:
            body["base_value_asof"] = base_asof.isoformat()
        return body

    def _equities(
        self, moments: list[tuple[datetime, bool]]
    ) -> dict[tuple[datetime, bool], Decimal]:
        """The account's equity just before each moment: what it held then, at the last prices
        before it; for a moment flagged under way, as it is now (what /v2/account says)."""
        opened = self._opened_at()
        cash = self.config.starting_cash
        held: dict[str, Decimal] = defaultdict(Decimal)
        events: list[tuple[datetime, Decimal, str | None, Decimal]] = []
        for fill in self.state.fills:
            shares = fill.qty if fill.side == "buy" else -fill.qty
            events.append((fill.at, -shares * fill.price, fill.symbol, shares))
        for change in self.state.balance_changes:
            if change.at <= opened:
                # Set up before the clock first moved: what the account held coming in.
                cash += change.cash
                if change.symbol is not None:
                    held[change.symbol] += change.qty
            else:
                events.append((change.at, change.cash, change.symbol, change.qty))
        events.sort(key=lambda event: event[0])
        applied = 0
        found: dict[tuple[datetime, bool], Decimal] = {}
        for moment, current in sorted(set(moments)):
            while applied < len(events) and (current or events[applied][0] < moment):
                _, cash_change, symbol, shares = events[applied]
                cash += cash_change
                if symbol is not None:
                    held[symbol] += shares
                applied += 1
            value = cash
            for symbol, shares in held.items():
                if shares != 0:
                    value += shares * self._price_at(symbol, moment, current, opened)
            found[moment, current] = value
        return found

    def _price_at(self, symbol: str, moment: datetime, current: bool, opened: datetime) -> Decimal:
        if current:
            return self.market.price(symbol)
        if moment <= opened:
            # Before the simulator started: the previous close it reports (`lastday_price`).
            return self.market.path(symbol).prev_close
        price = self.market.history.price_before(symbol, moment)
        return price if price is not None else self.market.price(symbol)


def _under_way(ends: datetime, end: datetime, now: datetime) -> bool:
    """Whether a window ending at `ends`, in a range ending at `end`, is the one under way."""
    return ends > now and end >= now


def _market_days_back(mode: MarketMode, hours: Hours, moment: datetime, count: int) -> date:
    """The first of the `count` market days that end with the one under way at `moment` (the
    latest whose session has begun)."""
    day = ny_date(moment)
    found = market_day(mode, day, hours)
    while found is None or found.start > moment:
        day -= timedelta(days=1)
        found = market_day(mode, day, hours)
    for _ in range(count - 1):
        found = previous_market_day(mode, found.day, hours)
    return found.day

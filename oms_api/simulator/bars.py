"""Market Data bars: `GET /v2/stocks/bars?symbols=` (what alpaca-py's `get_stock_bars` calls)
and the single-symbol `GET /v2/stocks/{symbol}/bars`, from the recorded price paths.

- Timeframes `<n>Min` / `<n>T` (1-59), `<n>Hour` / `<n>H` (1-23) and `1Day` / `1D`; weeks and
  months are not simulated (400). Intraday bars start on whole multiples of the timeframe, as
  Alpaca's do (a 1Hour bar labelled 09:00 holds 09:30-10:00), and hold only the market's hours
  (`price_history`: the NYSE regular session on the calendar, around the clock when forced open);
  daily bars are one per trading day, labelled midnight in New York, over its regular session.
- Every interval of the market's hours since the simulator started has a bar, moves or not (the
  simulated market trades at its price all the time): a bar opens where the previous one
  closed, and the bar under way closes at the current price. Before the start there is only
  the previous close the simulator reports (a snapshot's `prevDailyBar`, positions'
  `lastday_price`): one flat daily bar, with no volume, for the market day before.
- `start` (default: today's midnight in New York) and `end` (default: now) bound the bars'
  timestamps; `limit` 1-10000 (default 1000) bars a page across symbols, sorted by symbol, then
  time (`sort=asc|desc`); `next_page_token` names the last bar sent, so a page never repeats or
  skips one. `feed`, `adjustment` and `asof` are checked and change nothing (no corporate
  actions here).
- Volume is synthetic and deterministic: 1,000 shares a minute plus one share for each cent the
  price moved within it; `n` is volume / 100, `vw` the typical price (h + l + c) / 3. The
  account's own fills are not in it.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

from oms_api.simulator.clock import NEW_YORK
from oms_api.simulator.errors import SimAPIError, malformed
from oms_api.simulator.market import round_price
from oms_api.simulator.marketdata import MarketData
from oms_api.simulator.params import query_time
from oms_api.simulator.price_history import (
    market_day,
    market_days,
    minute_of,
    ny_date,
    previous_market_day,
    slices,
)

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
FEEDS = ("iex", "sip", "otc", "delayed_sip", "boats", "overnight")
ADJUSTMENTS = ("raw", "split", "dividend", "all")
SORTS = ("asc", "desc")
SHARES_PER_MINUTE = 1000

_TIMEFRAME = re.compile(r"^([1-9]\d*)(Min|T|Hour|H|Day|D|Week|W|Month|M)$")


@dataclass(frozen=True)
class Timeframe:
    minutes: int | None  # None: daily


@dataclass(frozen=True)
class BarsQuery:
    timeframe: Timeframe
    start: datetime | None
    end: datetime | None
    limit: int
    after: tuple[str, int] | None  # (symbol, timestamp) of the last bar already sent
    descending: bool


def parse_timeframe(raw: str | None) -> Timeframe:
    if not raw:
        raise malformed("timeframe is required")
    match = _TIMEFRAME.match(raw.strip())
    if match is None:
        raise malformed(f"invalid timeframe: {raw!r}")
    amount, unit = int(match.group(1)), match.group(2)
    if unit in ("Min", "T"):
        if amount > 59:
            raise malformed(f"invalid timeframe: {raw!r} (minutes must be 1-59)")
        return Timeframe(amount)
    if unit in ("Hour", "H"):
        if amount > 23:
            raise malformed(f"invalid timeframe: {raw!r} (hours must be 1-23)")
        return Timeframe(amount * 60)
    if unit in ("Day", "D"):
        if amount != 1:
            raise malformed(f"invalid timeframe: {raw!r} (days must be 1)")
        return Timeframe(None)
    raise malformed(f"timeframe {raw!r} is not simulated (minutes, hours and 1Day are)")


def _choice(params: dict[str, str], key: str, allowed: tuple[str, ...]) -> str | None:
    raw = params.get(key)
    if raw is None or raw == "":
        return None
    if raw.lower() not in allowed:
        raise malformed(f"invalid {key}: {raw!r} (allowed: {', '.join(allowed)})")
    return raw.lower()


def _time(params: dict[str, str], key: str) -> datetime | None:
    try:
        return query_time(params, key)
    except SimAPIError:
        raise malformed(f"invalid {key}: {params.get(key)!r} (RFC 3339 or YYYY-MM-DD)") from None


def encode_token(symbol: str, at: datetime) -> str:
    return base64.urlsafe_b64encode(f"{symbol}|{int(at.timestamp())}".encode()).decode()


def decode_token(token: str) -> tuple[str, int]:
    try:
        symbol, stamp = base64.urlsafe_b64decode(token.encode()).decode().split("|")
        return symbol, int(stamp)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise malformed("invalid page_token") from None


def parse_bars_query(params: dict[str, str]) -> BarsQuery:
    timeframe = parse_timeframe(params.get("timeframe"))
    start, end = _time(params, "start"), _time(params, "end")
    if start is not None and end is not None and end < start:
        raise malformed("end should not be before start")
    raw_limit = params.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit not in (None, ""):
        try:
            limit = int(raw_limit)
        except ValueError:
            raise malformed(f"invalid limit: {raw_limit!r}") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise malformed(f"invalid limit: {raw_limit!r} (1-{MAX_LIMIT})")
    _choice(params, "feed", FEEDS)
    _choice(params, "adjustment", ADJUSTMENTS)
    sort = _choice(params, "sort", SORTS) or "asc"
    token = params.get("page_token")
    return BarsQuery(
        timeframe=timeframe,
        start=start,
        end=end,
        limit=limit,
        after=decode_token(token) if token else None,
        descending=sort == "desc",
    )


def symbols_param(params: dict[str, str]) -> list[str]:
    symbols = sorted({s.strip().upper() for s in params.get("symbols", "").split(",") if s.strip()})
    if not symbols:
        raise malformed("symbols is required")
    return symbols


def _rfc3339_seconds(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class BarsData(MarketData):
    """Alpaca's historical bars, from the price history."""

    def bars_json(self, params: dict[str, str], symbol: str | None = None) -> dict[str, Any]:
        """The multi-symbol reply (`symbol` None), or the single-symbol one."""
        query = parse_bars_query(params)
        symbols = [symbol.upper()] if symbol is not None else symbols_param(params)
        with self._lock:
            self._done()
            for name in symbols:
                self._data_symbol(name)  # 422 for a symbol the simulator does not list
            page: dict[str, list[dict[str, Any]]] = {}
            taken = 0
            last: tuple[str, datetime] | None = None
            more = False
            for name in symbols:
                if query.after is not None and name < query.after[0]:
                    continue  # sent on earlier pages
                for at, bar in self._bars_of(name, query):
                    if not _comes_after(name, at, query):
                        continue
                    if taken == query.limit:
                        more = True
                        break
                    page.setdefault(name, []).append(bar)
                    taken += 1
                    last = (name, at)
                if more:
                    break
        token = encode_token(*last) if more and last is not None else None
        if symbol is not None:
            bars = page.get(symbols[0], [])
            return {"bars": bars, "symbol": symbols[0], "next_page_token": token}
        return {"bars": page, "next_page_token": token}

    def _bars_of(self, symbol: str, query: BarsQuery) -> list[tuple[datetime, dict[str, Any]]]:
        """Every bar of `symbol` the query's range holds, in the query's order."""
        now = self.clock.now()
        start = query.start or datetime.combine(ny_date(now), time(0), NEW_YORK)
        end = min(query.end or now, now)
        opened = self.market.history.started_at
        bars: list[tuple[datetime, dict[str, Any]]] = []
        tf = query.timeframe.minutes
        if tf is None:
            # The day before the simulator started is known only by its close: one flat bar.
            mode = self.config.market_mode
            before = market_day(mode, ny_date(opened))  # the start's day, if it had closed
            if before is None or before.end > opened:
                before = previous_market_day(mode, ny_date(opened))
            if start <= before.midnight <= end:
                close = self.market.path(symbol).prev_close
                bars.append((before.midnight, _flat_bar(before.midnight, close)))
        first = max(start, opened)
        days = market_days(self.config.market_mode, ny_date(first), ny_date(end))
        for day in days:
            if day.start > now:
                break
            intervals = [(day.midnight, day.start, day.end)] if tf is None else slices(day, tf)
            for label, begins, ends in intervals:
                if not start <= label <= end or begins > now:
                    continue
                bar = self._bar(symbol, begins, ends, now)
                if bar is not None:
                    bars.append((label, {"t": _rfc3339_seconds(label), **bar}))
        if query.descending:
            bars.reverse()
        return bars

    def _bar(
        self, symbol: str, begins: datetime, ends: datetime, now: datetime
    ) -> dict[str, Any] | None:
        # Up to and including the minute under way, whose last price is the current one.
        end_minute = minute_of(ends) if ends <= now else minute_of(now) + 1
        summary = self.market.history.summary(symbol, minute_of(begins), end_minute)
        if summary is None:
            return None
        high, low, close = summary.high, summary.low, summary.close
        if ends > now:
            close = self.market.price(symbol)
            high, low = max(high, close), min(low, close)
        volume = SHARES_PER_MINUTE * summary.minutes + int(summary.movement * 100)
        return {
            "o": summary.open,
            "h": high,
            "l": low,
            "c": close,
            "v": volume,
            "n": max(1, volume // 100),
            "vw": round_price((high + low + close) / 3),
        }


def _flat_bar(label: datetime, price: Decimal) -> dict[str, Any]:
    return {
        "t": _rfc3339_seconds(label),
        "o": price,
        "h": price,
        "l": price,
        "c": price,
        "v": 0,
        "n": 0,
        "vw": price,
    }


def _comes_after(symbol: str, at: datetime, query: BarsQuery) -> bool:
    """Whether the bar goes after the page token's bar (in the query's order)."""
    if query.after is None or symbol != query.after[0]:
        return True
    stamp = int(at.timestamp())
    return stamp < query.after[1] if query.descending else stamp > query.after[1]

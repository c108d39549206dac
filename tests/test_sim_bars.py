"""The simulator's Market Data bars (`GET /v2/stocks/bars`, `GET /v2/stocks/{symbol}/bars`),
through the real alpaca-py StockHistoricalDataClient (raw httpx for exact JSON, pages and error
bodies): bars follow the seeded price path, cover the market's hours, page without gaps."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from alpaca.common.exceptions import APIError
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.models import Bar
from alpaca.data.requests import StockBarsRequest, StockLatestTradeRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.conftest import T0, Sim

NY = ZoneInfo("America/New_York")
MINUTE, FIVE, FIFTEEN = (TimeFrame(n, TimeFrameUnit.Minute) for n in (1, 5, 15))
HOUR, DAY = TimeFrame(1, TimeFrameUnit.Hour), TimeFrame(1, TimeFrameUnit.Day)


def D(value: Any) -> Decimal:
    """alpaca-py hands prices over as float: compare them exactly as Decimal."""
    return Decimal(str(value))


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    """A New York wall-clock time in November 2026 (T0 is Wednesday the 18th, 10:00)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=NY)


def advance_to(sim: Sim, when: datetime) -> None:
    now = datetime.fromisoformat(sim.control.state()["now"])
    sim.control.advance((when - now).total_seconds())


def get_bars(
    sim: Sim, symbols: list[str], timeframe: TimeFrame, start: datetime, **extra: Any
) -> dict[str, list[Bar]]:
    request = StockBarsRequest(symbol_or_symbols=symbols, timeframe=timeframe, start=start, **extra)
    return sim.data.get_stock_bars(request).data


def last_trade(sim: Sim, symbol: str) -> Decimal:
    trades = sim.data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols=symbol))
    return D(trades[symbol].price)


def local(bar: Bar) -> datetime:
    return bar.timestamp.astimezone(NY)


@pytest.fixture
def http(sim: Sim) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, headers=sim.headers, timeout=10) as client:
        yield client


# ------------------------------------------------------------------------ the price path
@pytest.mark.parametrize("timeframe", [MINUTE, FIVE, FIFTEEN, HOUR, DAY], ids=str)
def test_the_bar_under_way_closes_at_the_current_price(sim, timeframe):
    sim.control.advance(7 * 60 + 30)  # prices step every second

    found = get_bars(sim, ["AAPL", "MSFT"], timeframe, ny(18, 0))

    assert sorted(found) == ["AAPL", "MSFT"]
    for symbol, bars in found.items():
        assert D(bars[-1].close) == last_trade(sim, symbol)
        for bar in bars:
            assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
            assert bar.volume > 0 and bar.trade_count and bar.low <= bar.vwap <= bar.high
        for before, after in itertools.pairwise(bars):
            assert after.open == before.close  # the market trades all the time


def test_a_set_price_is_the_close_and_frozen_minutes_carry_it_on(sim):
    sim.control.configure(max_step_bps=0)
    sim.control.set_price("AAPL", "200")
    sim.control.advance(3 * 60)
    sim.control.set_price("AAPL", "203.55")

    bars = get_bars(sim, ["AAPL"], MINUTE, ny(18, 0))["AAPL"]

    assert [local(b) for b in bars] == [ny(18, 10, m) for m in range(4)]
    first = bars[0]
    assert (D(first.open), D(first.low), D(first.high), D(first.close)) == (
        Decimal("189.5"),  # where AAPL's path starts
        Decimal("189.5"),
        Decimal("200"),
        Decimal("200"),
    )
    assert [D(b.close) for b in bars] == [Decimal("200")] * 3 + [Decimal("203.55")]
    assert D(bars[-1].high) == Decimal("203.55") and D(bars[-1].low) == Decimal("200")


def test_longer_bars_are_made_of_the_minute_bars(sim):
    sim.control.advance(23 * 60 + 10)
    minutes = get_bars(sim, ["NVDA"], MINUTE, ny(18, 0))["NVDA"]

    for timeframe, width in ((FIVE, 5), (FIFTEEN, 15)):
        for bar in get_bars(sim, ["NVDA"], timeframe, ny(18, 0))["NVDA"]:
            inside = [m for m in minutes if bar.timestamp <= m.timestamp]
            inside = [m for m in inside if m.timestamp < bar.timestamp + timedelta(minutes=width)]
            assert bar.open == inside[0].open and bar.close == inside[-1].close
            assert bar.high == max(m.high for m in inside)
            assert bar.low == min(m.low for m in inside)
            assert bar.volume == sum(m.volume for m in inside)


def test_bars_repeat_for_a_seed_and_differ_for_another(sim):
    def run(seed: int) -> list[tuple[float, float, float, float]]:
        sim.control.reset(seed=seed)
        sim.control.advance(15 * 60)
        bars = get_bars(sim, ["TSLA"], MINUTE, ny(18, 0))["TSLA"]
        return [(b.open, b.high, b.low, b.close) for b in bars]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_before_the_simulator_started_there_is_only_the_previous_close(sim, http):
    sim.control.advance(90)

    minutes = get_bars(sim, ["AAPL"], MINUTE, T0 - timedelta(days=3))["AAPL"]
    days = get_bars(sim, ["AAPL"], DAY, T0 - timedelta(days=3))["AAPL"]

    assert [b.timestamp for b in minutes] == [T0, T0 + timedelta(minutes=1)]
    assert [local(b) for b in days] == [ny(17, 0), ny(18, 0)]
    previous = http.get("/v2/stocks/AAPL/snapshot").json()["prevDailyBar"]["c"]
    assert days[0].open == days[0].high == days[0].low == days[0].close == previous
    assert days[0].volume == 0


def test_start_and_end_bound_the_bars_timestamps(sim):
    sim.control.advance(30 * 60)

    bars = get_bars(sim, ["AAPL"], MINUTE, ny(18, 10, 5), end=ny(18, 10, 9))["AAPL"]

    assert [local(b) for b in bars] == [ny(18, 10, m) for m in range(5, 10)]


# ------------------------------------------------------------------------ market hours
def test_calendar_bars_cover_sessions_and_trading_days_only(sim):
    sim.control.set_market("calendar")
    # Through a weekend, Thanksgiving (Thursday 26th) and its 13:00 early close.
    for day in (19, 20, 23, 24, 25, 27):
        advance_to(sim, ny(day, 10))
    advance_to(sim, ny(27, 14))

    daily = get_bars(sim, ["SPY"], DAY, ny(18, 0))["SPY"]
    quarter_hours = get_bars(sim, ["SPY"], FIFTEEN, ny(18, 0))["SPY"]
    hours = get_bars(sim, ["SPY"], HOUR, ny(18, 0))["SPY"]

    trading_days = [date(2026, 11, d) for d in (18, 19, 20, 23, 24, 25, 27)]
    assert [local(b) for b in daily] == [ny(d.day, 0) for d in trading_days]
    assert sorted({local(b).date() for b in quarter_hours}) == trading_days
    for bar in quarter_hours:
        when = local(bar)
        close = 13 if when.day == 27 else 16
        assert ny(when.day, 9, 30) <= when < ny(when.day, close), when
    assert local(quarter_hours[-1]) == ny(27, 12, 45)
    # Hourly bars start on the hour, as Alpaca's: the 09:00 bar holds 09:30-10:00.
    assert ny(19, 9) in [local(b) for b in hours]
    assert all(local(b).minute == 0 for b in hours)
    # A day's bar is its session: opens at the open, closes at the close.
    friday = [b for b in quarter_hours if local(b).day == 27]
    assert daily[-1].open == friday[0].open and daily[-1].close == friday[-1].close


def test_forced_open_the_market_has_bars_around_the_clock(sim):
    # The default mode trades every hour of every day, weekends too.
    advance_to(sim, ny(21, 12))

    daily = get_bars(sim, ["SPY"], DAY, ny(18, 0))["SPY"]
    hours = get_bars(sim, ["SPY"], HOUR, ny(18, 0))["SPY"]

    assert [local(b).day for b in daily] == [18, 19, 20, 21]
    assert ny(18, 23) in [local(b) for b in hours] and ny(21, 3) in [local(b) for b in hours]
    assert D(daily[-1].close) == last_trade(sim, "SPY")


# ------------------------------------------------------------------------ pages
def _pages(http: httpx.Client, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    pages, token = [], None
    while True:
        page = http.get(path, params={**params, **({"page_token": token} if token else {})})
        assert page.status_code == 200, page.text
        pages.append(page.json())
        token = page.json()["next_page_token"]
        if token is None:
            return pages


@pytest.mark.parametrize("sort", ["asc", "desc"])
def test_pages_follow_next_page_token_without_gaps_or_repeats(sim, http, sort):
    sim.control.advance(10 * 60)
    params = {"symbols": "MSFT,AAPL", "timeframe": "1Min", "start": "2026-11-18", "sort": sort}

    whole = http.get("/v2/stocks/bars", params={**params, "limit": 1000}).json()
    pages = _pages(http, "/v2/stocks/bars", {**params, "limit": 7})

    assert whole["next_page_token"] is None
    assert [len(b) for b in whole["bars"].values()] == [11, 11]
    assert [sum(len(b) for b in page["bars"].values()) for page in pages] == [7, 7, 7, 1]
    joined: dict[str, list[Any]] = {}
    for page in pages:
        for symbol, bars in page["bars"].items():
            joined.setdefault(symbol, []).extend(bars)
    assert joined == whole["bars"]
    stamps = [bar["t"] for bar in whole["bars"]["AAPL"]]
    assert stamps == sorted(stamps, reverse=sort == "desc")
    assert list(pages[0]["bars"]) == ["AAPL"]  # by symbol first, then time


def test_the_single_symbol_route_pages_too(sim, http):
    sim.control.advance(4 * 60)

    pages = _pages(http, "/v2/stocks/aapl/bars", {"timeframe": "1Min", "limit": 2})

    assert [page["symbol"] for page in pages] == ["AAPL"] * 3
    assert [len(page["bars"]) for page in pages] == [2, 2, 1]
    assert pages[-1]["bars"][-1]["c"] == float(last_trade(sim, "AAPL"))


def test_alpaca_py_follows_the_pages_past_ten_thousand_bars(sim):
    sim.control.configure(max_step_bps=0)
    sim.control.advance(7 * 24 * 3600)  # 10,081 minutes, all of them market hours when open

    bars = get_bars(sim, ["AAPL"], MINUTE, T0)["AAPL"]

    assert len(bars) == 7 * 24 * 60 + 1
    assert bars[0].timestamp == T0 and bars[-1].timestamp == T0 + timedelta(days=7)
    assert sim.control.counters()["GET /v2/stocks/bars"] == 2


def test_feed_and_adjustment_are_accepted(sim):
    bars = get_bars(sim, ["AAPL"], MINUTE, T0, feed=DataFeed.IEX, adjustment=Adjustment.ALL)
    assert len(bars["AAPL"]) == 1


# ------------------------------------------------------------------------ bad parameters
@pytest.mark.parametrize(
    ("params", "wording"),
    [
        ({}, "timeframe is required"),
        ({"timeframe": "bogus"}, "invalid timeframe"),
        ({"timeframe": "60Min"}, "minutes must be 1-59"),
        ({"timeframe": "24Hour"}, "hours must be 1-23"),
        ({"timeframe": "2Day"}, "days must be 1"),
        ({"timeframe": "1Week"}, "not simulated"),
        ({"timeframe": "1Min", "limit": "0"}, "invalid limit"),
        ({"timeframe": "1Min", "limit": "10001"}, "invalid limit"),
        ({"timeframe": "1Min", "limit": "ten"}, "invalid limit"),
        ({"timeframe": "1Min", "start": "yesterday"}, "invalid start"),
        ({"timeframe": "1Min", "end": "2026-11-18T25:00:00Z"}, "invalid end"),
        (
            {"timeframe": "1Min", "start": "2026-11-18T16:00:00Z", "end": "2026-11-18T15:00:00Z"},
            "end should not be before start",
        ),
        ({"timeframe": "1Min", "feed": "nasdaq"}, "invalid feed"),
        ({"timeframe": "1Min", "adjustment": "none"}, "invalid adjustment"),
        ({"timeframe": "1Min", "sort": "up"}, "invalid sort"),
        ({"timeframe": "1Min", "page_token": "%%%"}, "invalid page_token"),
    ],
)
def test_bad_parameters_are_refused_with_400(http, params, wording):
    for path, extra in (("/v2/stocks/bars", {"symbols": "AAPL"}), ("/v2/stocks/AAPL/bars", {})):
        reply = http.get(path, params={**params, **extra})

        assert reply.status_code == 400, path
        assert reply.json()["code"] == 40010000
        assert wording in reply.json()["message"]


def test_symbols_are_required_and_must_be_known(sim, http):
    missing = http.get("/v2/stocks/bars", params={"timeframe": "1Min"})
    assert missing.status_code == 400 and "symbols is required" in missing.json()["message"]

    unknown = http.get("/v2/stocks/bars", params={"timeframe": "1Min", "symbols": "AAPL,ZZZZ"})
    assert unknown.status_code == 422 and "ZZZZ" in unknown.json()["message"]
    with pytest.raises(APIError) as refused:
        get_bars(sim, ["ZZZZ"], MINUTE, T0)
    assert refused.value.status_code == 422


def test_the_routes_need_the_keys(sim):
    reply = httpx.get(f"{sim.url}/v2/stocks/bars", params={"symbols": "AAPL", "timeframe": "1D"})
    assert reply.status_code == 401


# ------------------------------------------------------------------------ published schema
@functools.cache
def _spec(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _errors(path: Path, schema: str, instance: Any) -> list[str]:
    spec = _spec(path)
    if schema not in spec["components"]["schemas"]:
        pytest.skip(f"{path.name} has no components/schemas/{schema}")
    uri = f"urn:spec:{path.name}"
    resource = Resource.from_contents(spec, default_specification=DRAFT4)
    validator = OAS30Validator(
        {"$ref": f"{uri}#/components/schemas/{schema}"},
        registry=Registry().with_resource(uri, resource),
        format_checker=oas30_format_checker,
    )
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def test_replies_match_the_published_schemas(sim, http, specs_dir):
    data = specs_dir / "alpaca-market-data-openapi.yaml"
    assert _errors(data, "Bar", {"t": "now", "o": "1"})  # the check itself bites
    sim.control.advance(20 * 60)

    multi = http.get("/v2/stocks/bars", params={"symbols": "AAPL,SIRI", "timeframe": "5Min"})
    single = http.get("/v2/stocks/SIRI/bars", params={"timeframe": "1Day", "limit": 1})

    assert _errors(data, "MultiBarsResponse", multi.json()) == []
    assert _errors(data, "BarsResponse", single.json()) == []
    assert multi.json()["bars"]["AAPL"][0]["t"] == "2026-11-18T15:00:00Z"  # RFC 3339, seconds
    assert single.json()["bars"][0]["t"] == "2026-11-18T05:00:00Z"  # midnight in New York
    assert isinstance(single.json()["bars"][0]["c"], float)
    assert datetime.fromisoformat(multi.json()["bars"]["SIRI"][-1]["t"]).tzinfo == UTC

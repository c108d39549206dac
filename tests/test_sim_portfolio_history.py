"""The simulator's `GET /v2/account/portfolio/history`, through the real alpaca-py TradingClient
(raw httpx only for the exact JSON and error bodies): the account's equity rebuilt from its fills
and the price path, Alpaca's base values and P/L, sessions, and refusals of bad parameters."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderSide
from alpaca.trading.enums import TimeInForce as TIF
from alpaca.trading.models import PortfolioHistory
from alpaca.trading.requests import GetPortfolioHistoryRequest, MarketOrderRequest
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.conftest import T0, Sim

NY = ZoneInfo("America/New_York")
START_CASH = Decimal("100000")


def D(value: Any) -> Decimal:
    """alpaca-py hands numbers over as float: compare them exactly as Decimal."""
    return Decimal(str(value))


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    """A New York wall-clock time in November 2026 (T0 is Wednesday the 18th, 10:00)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=NY)


def advance_to(sim: Sim, when: datetime) -> None:
    now = datetime.fromisoformat(sim.control.state()["now"])
    sim.control.advance((when - now).total_seconds())


def history(sim: Sim, **params: Any) -> PortfolioHistory:
    return sim.trading.get_portfolio_history(GetPortfolioHistoryRequest(**params))


def times(reply: PortfolioHistory) -> list[datetime]:
    return [datetime.fromtimestamp(stamp, NY) for stamp in reply.timestamp]


def buy(sim: Sim, symbol: str, qty: int, price: str) -> None:
    sim.control.set_price(symbol, price)
    sim.trading.submit_order(
        MarketOrderRequest(symbol=symbol, qty=qty, side=OrderSide.BUY, time_in_force=TIF.DAY)
    )


@pytest.fixture
def frozen(sim: Sim) -> Sim:
    """Prices only move on set_price, so every expected amount is exact."""
    sim.control.configure(max_step_bps=0)
    return sim


@pytest.fixture
def http(sim: Sim) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, headers=sim.headers, timeout=10) as client:
        yield client


# ------------------------------------------------------------------------ equity over time
def test_equity_follows_a_buy_and_a_price_move_and_ends_at_the_accounts_equity(frozen):
    sim = frozen
    buy(sim, "AAPL", 10, "200")  # at 10:00: cash 98,000 + 2,000 of AAPL
    sim.control.advance(5 * 60)
    sim.control.set_price("AAPL", "210")  # at 10:05
    sim.control.advance(5 * 60)
    sim.control.set_price("AAPL", "190")  # at 10:10, now

    reply = history(sim, period="1D", timeframe="1Min")

    assert times(reply) == [ny(18, 10, m) for m in range(11)]
    # Each minute is valued at its end; the one under way as the account is now.
    expected = [START_CASH] * 5 + [Decimal("100100")] * 5 + [Decimal("99900")]
    assert [D(e) for e in reply.equity] == expected
    assert D(reply.equity[-1]) == D(sim.trading.get_account().equity)
    assert D(reply.base_value) == START_CASH  # Tuesday's close, before the first trade
    assert [D(p) for p in reply.profit_loss] == [e - START_CASH for e in expected]
    assert D(reply.profit_loss_pct[5]) == Decimal("0.001")
    assert reply.timeframe == "1Min"


def test_the_reply_has_alpacas_exact_shape(frozen, http):
    buy(frozen, "MSFT", 2, "400")
    frozen.control.advance(15 * 60)

    body = http.get("/v2/account/portfolio/history", params={"period": "1D"}).json()

    assert set(body) == {
        "timestamp",
        "equity",
        "profit_loss",
        "profit_loss_pct",
        "base_value",
        "base_value_asof",
        "timeframe",
        "cashflow",
    }
    assert body["timeframe"] == "1Min"  # the default under 7 days
    assert body["base_value_asof"] == "2026-11-17"
    assert body["cashflow"] == {}
    assert len(body["timestamp"]) == 16
    assert all(isinstance(stamp, int) for stamp in body["timestamp"])
    # Numbers, not strings, as Alpaca sends them.
    assert all(isinstance(value, float | int) for value in body["equity"] + body["profit_loss"])


def test_a_seeded_account_starts_from_what_it_was_given(frozen):
    sim = frozen
    sim.control.set_cash("50000")
    sim.control.seed_positions([{"symbol": "MSFT", "qty": "4", "avg_entry_price": "380"}])
    sim.control.advance(30 * 60)
    sim.control.set_price("MSFT", "431.15")

    reply = history(sim, period="1D", timeframe="15Min")
    position = sim.trading.get_open_position("MSFT")

    # What was set up before the clock moved is what the account held at yesterday's close,
    # valued at yesterday's closing price: today's P/L is the position's intraday P/L.
    assert D(reply.base_value) == Decimal("50000") + 4 * D(position.lastday_price)
    assert D(reply.profit_loss[-1]) == D(position.unrealized_intraday_pl)
    assert D(reply.equity[-1]) == D(sim.trading.get_account().equity)


def test_history_moves_with_the_seeded_price_path_and_repeats_for_a_seed(sim):
    def run() -> PortfolioHistory:
        sim.control.reset(seed=11)
        sim.trading.submit_order(
            MarketOrderRequest(symbol="NVDA", qty=50, side=OrderSide.BUY, time_in_force=TIF.DAY)
        )
        sim.control.advance(20 * 60)
        return history(sim, period="1D", timeframe="1Min")

    first = run()
    again = run()

    assert len(set(first.equity)) > 5  # the prices moved, and the equity with them
    assert (first.timestamp, first.equity, first.profit_loss) == (
        again.timestamp,
        again.equity,
        again.profit_loss,
    )
    assert D(again.equity[-1]) == D(sim.trading.get_account().equity)


def test_a_sale_turns_the_position_back_into_cash_in_the_history(frozen):
    sim = frozen
    buy(sim, "AAPL", 10, "200")
    sim.control.advance(60)
    sim.control.set_price("AAPL", "205")
    sim.trading.submit_order(
        MarketOrderRequest(symbol="AAPL", qty=10, side=OrderSide.SELL, time_in_force=TIF.DAY)
    )
    sim.control.advance(60)
    sim.control.set_price("AAPL", "150")  # no longer held: the equity stays

    reply = history(sim, period="1D", timeframe="1Min")

    assert [D(e) for e in reply.equity] == [START_CASH, Decimal("100050"), Decimal("100050")]
    assert D(sim.trading.get_account().cash) == Decimal("100050")


def test_an_unfunded_account_has_no_base_and_no_percentages(sim, http):
    sim.control.reset(cash=Decimal(0))
    sim.control.advance(2 * 60)
    sim.control.set_cash("1000")  # funded at 10:02

    reply = history(sim, period="1D", timeframe="1Min")
    raw = http.get("/v2/account/portfolio/history", params={"period": "1D"}).json()

    assert [D(e) for e in reply.equity] == [Decimal(0), Decimal(0), Decimal(1000)]
    assert reply.profit_loss_pct == [None, None, None]
    assert D(reply.base_value) == 0
    assert "base_value_asof" not in raw  # no earlier closing balance


# ------------------------------------------------------------------------ base value and P/L
@pytest.fixture
def two_days(frozen: Sim) -> Sim:
    """Calendar hours; 10 AAPL bought at 200 on Wednesday 10:00, 220 at Wednesday's close,
    230 on Thursday at 10:00 (now)."""
    frozen.control.set_market("calendar")
    buy(frozen, "AAPL", 10, "200")
    advance_to(frozen, ny(18, 15))
    frozen.control.set_price("AAPL", "220")
    advance_to(frozen, ny(19, 10))
    frozen.control.set_price("AAPL", "230")
    return frozen


def test_intraday_pnl_resets_each_day_to_the_previous_close(two_days):
    reply = history(two_days, period="2D", timeframe="1H")

    assert times(reply) == [ny(18, h) for h in range(10, 16)] + [ny(19, 9), ny(19, 10)]
    assert [D(e) for e in reply.equity] == [START_CASH] * 5 + [Decimal("100200")] * 2 + [
        Decimal("100300")
    ]
    # Wednesday from Tuesday's close (100,000); Thursday from Wednesday's (100,200).
    assert [D(p) for p in reply.profit_loss] == [Decimal(0)] * 5 + [
        Decimal(200),
        Decimal(0),
        Decimal(100),
    ]
    assert D(reply.profit_loss_pct[-1]) == (Decimal(100) / Decimal(100200)).quantize(
        Decimal("0.000001")
    )
    assert D(reply.base_value) == START_CASH
    raw = two_days.trading.get("/account/portfolio/history", {"period": "2D", "timeframe": "1H"})
    assert raw["base_value_asof"] == "2026-11-17"


def test_no_reset_measures_every_point_from_the_first_days_base(two_days):
    reply = history(two_days, period="2D", timeframe="1H", pnl_reset="no_reset")

    assert [D(p) for p in reply.profit_loss][-3:] == [Decimal(200), Decimal(200), Decimal(300)]
    assert D(reply.profit_loss_pct[-1]) == Decimal("0.003")


def test_daily_points_are_each_trading_days_close_from_the_first_point(two_days):
    reply = history(two_days, period="1W", timeframe="1D")

    assert times(reply) == [ny(18, 0), ny(19, 0)]  # labelled midnight, one per trading day
    assert [D(e) for e in reply.equity] == [Decimal("100200"), Decimal("100300")]
    assert D(reply.base_value) == Decimal("100200")
    assert [D(p) for p in reply.profit_loss] == [Decimal(0), Decimal(100)]
    raw = two_days.trading.get("/account/portfolio/history", {"period": "1W", "timeframe": "1D"})
    assert "base_value_asof" not in raw  # with 1D the first point is the base, as on Alpaca


def test_date_end_and_end_bound_the_history(two_days):
    wednesday = history(two_days, period="1D", timeframe="1H", date_end=date(2026, 11, 18))
    assert [t.date() for t in times(wednesday)] == [date(2026, 11, 18)] * 6

    until_noon = history(two_days, period="1D", timeframe="1H", end=ny(18, 12).astimezone(UTC))
    assert times(until_noon) == [ny(18, 10), ny(18, 11), ny(18, 12)]


# ------------------------------------------------------------------------ sessions
def test_market_hours_are_the_default_and_extended_and_continuous_widen_them(frozen):
    sim = frozen
    sim.control.set_market("calendar")
    advance_to(sim, ny(19, 12))

    regular = times(history(sim, period="2D", timeframe="15Min"))
    extended = times(
        history(sim, period="2D", timeframe="15Min", intraday_reporting="extended_hours")
    )
    continuous = times(history(sim, period="2D", timeframe="1H", intraday_reporting="continuous"))

    assert regular[0] == ny(18, 10) and regular[-1] == ny(19, 12)
    assert all(ny(t.day, 9, 30) <= t < ny(t.day, 16) for t in regular), "only the regular session"
    assert ny(18, 16) not in regular and ny(19, 9, 15) not in regular
    assert ny(18, 19, 45) in extended and ny(19, 4) in extended and ny(18, 20) not in extended
    assert ny(18, 23) in continuous and ny(19, 3) in continuous


def test_before_the_open_the_day_shown_is_the_previous_one(frozen):
    frozen.control.set_market("calendar")
    advance_to(frozen, ny(19, 8))

    reply = history(frozen, period="1D", timeframe="1H")

    assert {t.date() for t in times(reply)} == {date(2026, 11, 18)}
    assert times(reply)[-1] == ny(18, 15)


def test_forced_open_the_market_hours_are_the_whole_day(frozen):
    # The default mode trades around the clock: the history shows every hour of it.
    advance_to(frozen, ny(19, 2))
    reply = history(frozen, period="2D", timeframe="1H")
    assert times(reply) == [ny(18, h) for h in range(10, 24)] + [ny(19, 0), ny(19, 1), ny(19, 2)]


@pytest.mark.parametrize(
    ("period", "timeframe"), [("1D", "1Min"), ("1W", "15Min"), ("1M", "1D"), ("1A", "1D")]
)
def test_the_timeframe_defaults_by_period_as_on_alpaca(frozen, period, timeframe):
    assert history(frozen, period=period).timeframe == timeframe


def test_all_covers_the_account_since_it_opened(frozen):
    advance_to(frozen, ny(20, 12))
    reply = history(frozen, period="all", timeframe="1D")
    assert times(reply) == [ny(18, 0), ny(19, 0), ny(20, 0)]


# ------------------------------------------------------------------------ bad parameters
@pytest.mark.parametrize(
    ("params", "wording"),
    [
        ({"period": "1X"}, "invalid period"),
        ({"period": "0D"}, "invalid period"),
        ({"period": "D"}, "invalid period"),
        ({"timeframe": "2H"}, "invalid timeframe"),
        ({"timeframe": "1Hour"}, "invalid timeframe"),
        ({"intraday_reporting": "sometimes"}, "invalid intraday_reporting"),
        ({"pnl_reset": "weekly"}, "invalid pnl_reset"),
        ({"date_end": "18-11-2026"}, "invalid date_end"),
        ({"date_end": "2026-02-30"}, "invalid date_end"),
        ({"start": "yesterday"}, "invalid start"),
        ({"end": "2026-13-01T00:00:00Z"}, "invalid end"),
        ({"extended_hours": "maybe"}, "invalid extended_hours"),
        ({"period": "3M", "timeframe": "5Min"}, "30 days or less"),
        (
            {"period": "1D", "start": "2026-11-18T15:00:00Z", "end": "2026-11-18T16:00:00Z"},
            "only two of start, end and period",
        ),
        ({"end": "2026-11-18T15:00:00Z", "date_end": "2026-11-18"}, "date_end"),
        ({"start": "2026-11-20T15:00:00Z"}, "end must not be before start"),
    ],
)
def test_bad_parameters_are_refused_with_alpacas_422(sim, http, params, wording):
    reply = http.get("/v2/account/portfolio/history", params=params)

    assert reply.status_code == 422
    assert reply.json()["code"] == 42210000
    assert wording in reply.json()["message"]


def test_alpaca_py_sees_a_bad_parameter_as_an_api_error(sim):
    with pytest.raises(APIError) as refused:
        history(sim, period="1D", timeframe="7Min")
    assert refused.value.status_code == 422
    assert "timeframe" in refused.value.message


def test_the_route_needs_the_keys(sim):
    reply = httpx.get(f"{sim.url}/v2/account/portfolio/history")
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
    registry = Registry().with_resource(
        uri, Resource.from_contents(spec, default_specification=DRAFT4)
    )
    validator = OAS30Validator(
        {"$ref": f"{uri}#/components/schemas/{schema}"},
        registry=registry,
        format_checker=oas30_format_checker,
    )
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def test_replies_match_the_published_schema(frozen, http, specs_dir):
    trading = specs_dir / "alpaca-trading-openapi.yaml"
    assert _errors(trading, "PortfolioHistory", {"timestamp": ["x"]})  # the check itself bites
    buy(frozen, "AAPL", 5, "201.37")
    frozen.control.advance(3600)

    for params in ({"period": "1D", "timeframe": "5Min"}, {"period": "1M"}, {}):
        body = http.get("/v2/account/portfolio/history", params=params).json()
        assert body["timestamp"], params
        assert _errors(trading, "PortfolioHistory", body) == []


def test_the_clock_start_is_the_first_point(frozen):
    # Nothing before the simulator started: the first window is the one it started in.
    reply = history(frozen, period="1W", timeframe="5Min")
    assert times(reply) == [T0.astimezone(NY)]
    assert reply.timestamp == [int(T0.timestamp())]

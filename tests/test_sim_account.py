"""The simulator's account, positions, clock, assets, seeding, auth, schemas, rate limit and
counters, seen through the real alpaca-py TradingClient (raw httpx only where alpaca-py cannot
show the exact status, body or query string)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from alpaca.common.exceptions import APIError
from alpaca.data.requests import StockLatestTradeRequest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import AssetStatus, OrderClass, OrderSide, OrderStatus, QueryOrderStatus
from alpaca.trading.enums import TimeInForce as TIF
from alpaca.trading.models import FailedClosePositionDetails, Order
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
)
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.conftest import T0, Sim

NY = ZoneInfo("America/New_York")
START_CASH = Decimal("100000")


def D(value: Any) -> Decimal:
    """alpaca-py hands decimals over as str (or float): compare them exactly as Decimal."""
    return Decimal(str(value))


def ny(day: int, hour: int, minute: int = 0, month: int = 11, year: int = 2026) -> datetime:
    """A New York wall-clock time, by default in November 2026 (T0 is Wed 18th, 10:00)."""
    return datetime(year, month, day, hour, minute, tzinfo=NY)


@pytest.fixture(autouse=True)
def frozen_prices(sim: Sim) -> None:
    """Prices only move on set_price, so every expected amount below is exact."""
    sim.control.configure(max_step_bps=0)


@pytest.fixture
def http(sim: Sim) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, headers=sim.headers, timeout=10) as client:
        yield client


def buy(sim: Sim, symbol: str, qty: int | str, price: str | None = None) -> Order:
    """A market buy; with `price` the market is first set there, so it fills at that price."""
    if price is not None:
        sim.control.set_price(symbol, price)
    return sim.trading.submit_order(
        MarketOrderRequest(symbol=symbol, qty=float(qty), side=OrderSide.BUY, time_in_force=TIF.DAY)
    )


def sell(sim: Sim, symbol: str, qty: int | str, price: str | None = None) -> Order:
    if price is not None:
        sim.control.set_price(symbol, price)
    return sim.trading.submit_order(
        MarketOrderRequest(
            symbol=symbol, qty=float(qty), side=OrderSide.SELL, time_in_force=TIF.DAY
        )
    )


def resting_limit(sim: Sim, symbol: str, qty: int, side: OrderSide, limit: float) -> Order:
    order = sim.trading.submit_order(
        LimitOrderRequest(
            symbol=symbol, qty=qty, side=side, time_in_force=TIF.GTC, limit_price=limit
        )
    )
    assert sim.trading.get_order_by_id(order.id).status == OrderStatus.NEW
    return order


# ------------------------------------------------------------------------------ account
def test_buy_fill_takes_exact_cost_from_cash_and_equity_is_cash_plus_market_value(sim):
    order = buy(sim, "AAPL", 10, price="187.33")

    account = sim.trading.get_account()
    position = sim.trading.get_open_position("AAPL")
    assert sim.trading.get_order_by_id(order.id).status == OrderStatus.FILLED
    assert D(account.cash) == START_CASH - 10 * Decimal("187.33")
    assert D(position.market_value) == Decimal("1873.30")
    assert D(account.long_market_value) == D(position.market_value)
    assert D(account.equity) == D(account.cash) + D(position.market_value) == START_CASH
    assert D(account.portfolio_value) == D(account.equity)
    assert D(account.buying_power) == D(account.cash)


def test_resting_limit_buy_reserves_buying_power_but_not_cash(sim):
    sim.control.set_price("MSFT", "415.20")
    order = resting_limit(sim, "MSFT", 3, OrderSide.BUY, 400.25)

    account = sim.trading.get_account()
    assert D(account.cash) == START_CASH
    assert D(account.buying_power) == START_CASH - 3 * Decimal("400.25")
    assert D(account.equity) == START_CASH  # nothing owned yet

    sim.trading.cancel_order_by_id(order.id)
    assert D(sim.trading.get_account().buying_power) == START_CASH


def test_buying_power_reserved_by_an_open_buy_refuses_a_second_buy(sim):
    sim.control.set_cash("10000")
    resting_limit(sim, "MSFT", 20, OrderSide.BUY, 400)  # reserves 8,000
    with pytest.raises(APIError) as refused:
        buy(sim, "AAPL", 11, price="190")  # 2,090 > the 2,000 left
    assert refused.value.status_code == 403
    assert "insufficient buying power" in refused.value.message
    buy(sim, "AAPL", 10)  # 1,900 fits
    assert D(sim.trading.get_account().cash) == Decimal("8100")


def test_price_move_changes_equity_and_unrealized_pl(sim):
    buy(sim, "AAPL", 10, price="200")
    cash = D(sim.trading.get_account().cash)

    sim.control.set_price("AAPL", "212.37")
    position = sim.trading.get_open_position("AAPL")
    account = sim.trading.get_account()
    assert D(position.current_price) == Decimal("212.37")
    assert D(position.unrealized_pl) == 10 * (Decimal("212.37") - Decimal("200"))
    assert D(position.unrealized_plpc) == Decimal("123.7") / Decimal("2000")
    assert D(position.cost_basis) == Decimal("2000")
    assert D(account.cash) == cash
    assert D(account.equity) == cash + Decimal("2123.70")

    sim.control.set_price("AAPL", "190")
    assert D(sim.trading.get_open_position("AAPL").unrealized_pl) == Decimal("-100")
    assert D(sim.trading.get_account().equity) == cash + Decimal("1900")


def test_avg_entry_price_is_the_weighted_average_of_two_buys(sim):
    buy(sim, "AAPL", 10, price="200")
    buy(sim, "AAPL", 30, price="210.10")

    position = sim.trading.get_open_position("AAPL")
    assert D(position.qty) == 40
    assert D(position.avg_entry_price) == (Decimal("2000") + Decimal("6303")) / 40  # 207.575
    assert D(position.cost_basis) == Decimal("8303")
    assert D(sim.trading.get_account().cash) == START_CASH - Decimal("8303")


def test_selling_part_of_a_position_credits_cash_and_keeps_avg_entry(sim):
    buy(sim, "AAPL", 10, price="200")
    buy(sim, "AAPL", 10, price="220")
    cash = D(sim.trading.get_account().cash)

    sell(sim, "AAPL", 5, price="230.45")

    position = sim.trading.get_open_position("AAPL")
    account = sim.trading.get_account()
    assert D(position.qty) == 15
    assert D(position.avg_entry_price) == Decimal("210")
    assert D(position.unrealized_pl) == 15 * (Decimal("230.45") - Decimal("210"))
    assert D(account.cash) == cash + 5 * Decimal("230.45")
    assert D(account.equity) == D(account.cash) + 15 * Decimal("230.45")


def test_closing_the_whole_position_removes_it(sim, http):
    buy(sim, "AAPL", 10, price="200")
    sell(sim, "AAPL", 10, price="205")

    assert sim.trading.get_all_positions() == []
    assert D(sim.trading.get_account().cash) == START_CASH + 10 * Decimal("5")
    reply = http.get("/v2/positions/AAPL")
    assert reply.status_code == 404
    assert reply.json() == {"code": 40410000, "message": "position does not exist"}
    with pytest.raises(APIError) as missing:
        sim.trading.get_open_position("AAPL")
    assert missing.value.status_code == 404


# ------------------------------------------------------------------------------ partial fills
def test_partial_fills_sum_to_the_order_and_keep_cash_consistent(sim):
    sim.control.configure(fill_parts=4, fill_interval_seconds=1)
    order = buy(sim, "AAPL", 10, price="100")

    # The first part fills at once, the rest one simulated second apart, each at a new price.
    seen = [D(sim.trading.get_open_position("AAPL").qty)]
    working = sim.trading.get_order_by_id(order.id)
    assert working.status == OrderStatus.PARTIALLY_FILLED
    assert D(working.filled_qty) == seen[0]
    for price in ("101", "102", "103"):
        sim.control.set_price("AAPL", price)
        sim.control.advance(1)
        seen.append(D(sim.trading.get_open_position("AAPL").qty))

    fills = [f for f in sim.control.fills() if f["order_id"] == str(order.id)]
    assert len(fills) == 4
    assert sum(D(f["qty"]) for f in fills) == 10
    assert seen == [
        sum((D(f["qty"]) for f in fills[: i + 1]), Decimal(0)) for i in range(4)
    ]  # the position grew fill by fill
    cost = sum((D(f["qty"]) * D(f["price"]) for f in fills), Decimal(0))
    assert [D(f["price"]) for f in fills] == [100, 101, 102, 103]

    done = sim.trading.get_order_by_id(order.id)
    position = sim.trading.get_open_position("AAPL")
    assert done.status == OrderStatus.FILLED
    assert D(done.filled_qty) == 10
    assert D(done.filled_avg_price) == cost / 10
    assert D(position.qty) == 10
    assert D(position.avg_entry_price) == cost / 10
    assert D(sim.trading.get_account().cash) == START_CASH - cost


# ------------------------------------------------------------------------------ positions
def test_positions_list_parses_and_qty_available_drops_while_a_sell_works(sim):
    buy(sim, "MSFT", 5, price="400")
    buy(sim, "AAPL", 10, price="200")

    positions = sim.trading.get_all_positions()
    assert [(p.symbol, D(p.qty), D(p.qty_available)) for p in positions] == [
        ("AAPL", 10, 10),
        ("MSFT", 5, 5),
    ]

    order = resting_limit(sim, "AAPL", 4, OrderSide.SELL, 999)
    aapl = sim.trading.get_open_position("AAPL")
    assert (D(aapl.qty), D(aapl.qty_available)) == (10, 6)

    sim.trading.cancel_order_by_id(order.id)
    assert D(sim.trading.get_open_position("AAPL").qty_available) == 10


@pytest.mark.parametrize(
    ("symbol", "held", "options", "sold"),
    [
        ("AAPL", "10", {"qty": "3"}, "3"),
        ("AAPL", "10", {"qty": "2.5"}, "2.5"),
        ("AAPL", "10", {"percentage": "50"}, "5"),
        # "Would only sell fractional if position is originally fractional."
        ("AAPL", "10", {"percentage": "25"}, "2"),
        ("AAPL", "10.5", {"percentage": "50"}, "5.25"),
        ("GME", "10", {"percentage": "25"}, "2"),
        ("AAPL", "10", {"percentage": "100"}, "10"),
    ],
)
def test_close_position_places_a_market_sell_for_the_asked_amount(sim, symbol, held, options, sold):
    sim.control.seed_positions([{"symbol": symbol, "qty": held, "avg_entry_price": "20"}])
    sim.control.set_price(symbol, "25")

    order = sim.trading.close_position(symbol, ClosePositionRequest(**options))

    assert (order.symbol, order.side, order.type) == (symbol, OrderSide.SELL, "market")
    assert D(order.qty) == D(sold)
    assert D(sim.trading.get_account().cash) == START_CASH + D(sold) * 25
    left = D(held) - D(sold)
    remaining = {p.symbol: D(p.qty) for p in sim.trading.get_all_positions()}
    assert remaining == ({symbol: left} if left else {})


def test_a_position_is_found_and_closed_by_its_asset_id_too(sim):
    buy(sim, "AAPL", 10, price="200")
    asset_id = sim.trading.get_asset("AAPL").id

    assert sim.trading.get_open_position(asset_id).symbol == "AAPL"
    order = sim.trading.close_position(asset_id, ClosePositionRequest(qty="4"))
    assert (order.symbol, D(order.qty)) == ("AAPL", 4)
    assert D(sim.trading.get_open_position("AAPL").qty) == 6


@pytest.mark.parametrize(
    ("path", "status", "code", "message"),
    [
        ("/v2/positions/AAPL?qty=1&percentage=50", 422, 42210000, "only one of qty"),
        ("/v2/positions/AAPL?qty=11", 403, 40310000, "insufficient qty available"),
        ("/v2/positions/AAPL?percentage=150", 422, 42210000, "percentage"),
        ("/v2/positions/MSFT", 404, 40410000, "position does not exist"),
    ],
)
def test_close_position_refuses_bad_amounts(sim, http, path, status, code, message):
    buy(sim, "AAPL", 10, price="200")

    reply = http.delete(path)

    assert reply.status_code == status
    assert reply.json()["code"] == code
    assert message in reply.json()["message"]
    assert D(sim.trading.get_open_position("AAPL").qty) == 10  # nothing was sold
    assert sim.trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN)) == []


def _close_all_raw(sim: Sim, http: httpx.Client) -> list[dict[str, Any]]:
    reply = http.delete("/v2/positions", params={"cancel_orders": "true"})
    assert reply.status_code == 207
    return reply.json()


def _close_all_alpaca_py(sim: Sim, http: httpx.Client) -> list[dict[str, Any]]:
    # alpaca-py sends cancel_orders=True (capitalised) and parses the 207 body.
    return [
        {"symbol": r.symbol, "status": r.status, "order_id": str(r.order_id), "body": r.body}
        for r in sim.trading.close_all_positions(cancel_orders=True)
    ]


@pytest.mark.parametrize("close_all", [_close_all_raw, _close_all_alpaca_py], ids=["raw", "alpaca"])
def test_close_all_positions_cancels_open_orders_first_then_flattens(sim, http, close_all):
    buy(sim, "AAPL", 10, price="200")
    buy(sim, "MSFT", 5, price="400")
    held_sell = resting_limit(sim, "AAPL", 10, OrderSide.SELL, 999)  # holds all of AAPL
    other_buy = resting_limit(sim, "GME", 2, OrderSide.BUY, 1)

    results = close_all(sim, http)

    assert [(r["symbol"], r["status"]) for r in results] == [("AAPL", 200), ("MSFT", 200)]
    for result, qty in zip(results, (10, 5), strict=True):
        body = result["body"]
        body = body if isinstance(body, dict) else body.model_dump(mode="json")
        assert (body["symbol"], body["side"], body["type"]) == (result["symbol"], "sell", "market")
        assert D(body["qty"]) == qty
        assert str(body["id"]) == result["order_id"]
    for order in (held_sell, other_buy):
        assert sim.trading.get_order_by_id(order.id).status == OrderStatus.CANCELED
    assert sim.trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN)) == []
    assert sim.trading.get_all_positions() == []
    assert D(sim.trading.get_account().cash) == START_CASH


def test_close_all_without_cancel_orders_reports_a_held_position_as_403(sim, http):
    buy(sim, "AAPL", 10, price="200")
    buy(sim, "MSFT", 5, price="400")
    resting_limit(sim, "AAPL", 4, OrderSide.SELL, 999)

    reply = http.delete("/v2/positions")

    assert reply.status_code == 207
    aapl, msft = reply.json()
    assert (aapl["symbol"], aapl["status"]) == ("AAPL", 403)
    body = aapl["body"]
    assert set(body) >= {"code", "message", "available", "existing_qty", "held_for_orders"}
    assert body["code"] == 40310000
    assert "insufficient qty available" in body["message"]
    assert (D(body["available"]), D(body["existing_qty"]), D(body["held_for_orders"])) == (6, 10, 4)
    assert body["symbol"] == "AAPL"
    assert (msft["symbol"], msft["status"], msft["body"]["side"]) == ("MSFT", 200, "sell")
    # AAPL is untouched (its working sell too); MSFT is flat.
    assert [p.symbol for p in sim.trading.get_all_positions()] == ["AAPL"]
    assert len(sim.trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))) == 1


def test_alpaca_py_parses_a_failed_close_as_failed_close_position_details(sim):
    buy(sim, "AAPL", 10, price="200")
    resting_limit(sim, "AAPL", 10, OrderSide.SELL, 999)

    (result,) = sim.trading.close_all_positions()

    assert (result.symbol, result.status) == ("AAPL", 403)
    assert isinstance(result.body, FailedClosePositionDetails)
    assert (result.body.available, result.body.existing_qty, result.body.held_for_orders) == (
        0,
        10,
        10,
    )


# ------------------------------------------------------------------------------ clock
def test_clock_in_calendar_mode_mid_session(sim):
    sim.control.set_market("calendar")

    clock = sim.trading.get_clock()

    assert clock.timestamp == T0
    assert clock.is_open is True
    assert clock.next_close == ny(18, 16)
    assert clock.next_open == ny(19, 9, 30)


@pytest.mark.parametrize(
    ("when", "is_open", "next_open", "next_close"),
    [
        (ny(18, 16, 0), False, ny(19, 9, 30), ny(19, 16)),  # the close itself
        (ny(19, 8, 0), False, ny(19, 9, 30), ny(19, 16)),  # early next morning
        (ny(19, 9, 30), True, ny(20, 9, 30), ny(19, 16)),  # the open itself
        (ny(20, 18, 0), False, ny(23, 9, 30), ny(23, 16)),  # Friday evening -> Monday
        (ny(21, 12, 0), False, ny(23, 9, 30), ny(23, 16)),  # Saturday
        (ny(23, 10, 0), True, ny(24, 9, 30), ny(23, 16)),  # Monday in session
        (ny(25, 16, 30), False, ny(27, 9, 30), None),  # Thanksgiving eve: Thursday skipped
        (ny(26, 11, 0), False, ny(27, 9, 30), None),  # on Thanksgiving
        (ny(31, 16, 1, month=12), False, ny(4, 9, 30, month=1, year=2027), None),
    ],
    ids=[
        "at-close",
        "pre-open",
        "at-open",
        "friday-evening",
        "saturday",
        "monday",
        "thanksgiving-eve",
        "thanksgiving",
        "new-year",
    ],
)
def test_clock_follows_the_calendar_as_time_passes(sim, when, is_open, next_open, next_close):
    sim.control.set_market("calendar")
    sim.control.advance((when - T0).total_seconds())

    clock = sim.trading.get_clock()

    assert clock.timestamp == when
    assert clock.is_open is is_open
    assert clock.next_open == next_open
    if next_close is not None:
        assert clock.next_close == next_close


@pytest.mark.parametrize(
    ("mode", "when", "is_open"),
    [
        ("open", ny(21, 12), True),  # a Saturday, yet open
        ("open", T0, True),
        ("closed", T0, False),  # mid-session, yet closed
        ("calendar", ny(21, 12), False),
    ],
)
def test_market_mode_overrides_the_calendar(sim, mode, when, is_open):
    sim.control.advance((when - T0).total_seconds())
    sim.control.set_market(mode)

    assert sim.trading.get_clock().is_open is is_open


# ------------------------------------------------------------------------------ assets
@pytest.mark.parametrize(
    ("symbol", "tradable", "fractionable", "status"),
    [
        ("AAPL", True, True, AssetStatus.ACTIVE),
        ("GME", True, False, AssetStatus.ACTIVE),
        ("TWTR", False, False, AssetStatus.INACTIVE),
    ],
)
def test_asset_reports_tradable_and_fractionable(sim, symbol, tradable, fractionable, status):
    asset = sim.trading.get_asset(symbol)

    assert (asset.symbol, asset.tradable, asset.fractionable) == (symbol, tradable, fractionable)
    assert asset.status == status
    assert sim.trading.get_asset(asset.id).symbol == symbol  # by asset id too


def test_unknown_asset_is_404(sim, http):
    with pytest.raises(APIError) as missing:
        sim.trading.get_asset("ZZZZ")
    assert missing.value.status_code == 404
    assert http.get(f"/v2/assets/{uuid.uuid4()}").status_code == 404


def test_an_asset_added_at_runtime_trades_at_its_price(sim):
    with pytest.raises(APIError) as unknown:
        buy(sim, "NEWCO", 100)
    assert unknown.value.status_code == 422

    sim.control.add_assets([{"symbol": "NEWCO", "price": "12.34", "fractionable": False}])

    asset = sim.trading.get_asset("NEWCO")
    assert (asset.tradable, asset.fractionable) == (True, False)
    latest = sim.data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="NEWCO"))
    assert D(latest["NEWCO"].price) == Decimal("12.34")
    order = buy(sim, "NEWCO", 100)
    assert sim.trading.get_order_by_id(order.id).status == OrderStatus.FILLED
    position = sim.trading.get_open_position("NEWCO")
    assert (D(position.qty), D(position.avg_entry_price)) == (100, Decimal("12.34"))
    assert D(sim.trading.get_account().cash) == START_CASH - Decimal("1234")


# ------------------------------------------------------------------------------ seeding
def test_seeded_position_is_listed_and_sellable(sim):
    sim.control.seed_positions([{"symbol": "MSFT", "qty": "7", "avg_entry_price": "400"}])

    (position,) = sim.trading.get_all_positions()
    assert (position.symbol, D(position.qty), D(position.avg_entry_price)) == ("MSFT", 7, 400)
    assert D(sim.trading.get_account().cash) == START_CASH  # a seed moves no cash

    sell(sim, "MSFT", 7, price="420")
    assert sim.trading.get_all_positions() == []
    assert D(sim.trading.get_account().cash) == START_CASH + 7 * 420


MLEG = {
    "client_order_id": "hist-call-spread-1",
    "order_class": "mleg",
    "type": "limit",
    "qty": "2",
    "limit_price": "1.25",
    "filled_avg_price": "1.20",
    "status": "filled",
    "time_in_force": "day",
    "submitted_at": "2025-01-10T15:00:00.000000Z",
    "legs": [
        {
            "symbol": "SPY250117C00500000",
            "side": "buy",
            "ratio_qty": "1",
            "position_intent": "buy_to_open",
        },
        {
            "symbol": "SPY250117C00510000",
            "side": "sell",
            "ratio_qty": "1",
            "position_intent": "sell_to_open",
        },
    ],
}
HISTORICAL_EQUITY = {
    "client_order_id": "hist-aapl-1",
    "symbol": "AAPL",
    "side": "buy",
    "type": "market",
    "qty": "3",
    "filled_avg_price": "180.10",
    "status": "filled",
    "time_in_force": "day",
    "submitted_at": "2025-01-09T15:00:00.000000Z",
}


def test_seeded_orders_include_a_multileg_option_order_alpaca_py_parses(sim):
    mleg_json, _equity_json = sim.control.seed_orders([MLEG, HISTORICAL_EQUITY])

    orders = sim.trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, nested=True))
    by_client_id = {o.client_order_id: o for o in orders}
    assert set(by_client_id) == {"hist-call-spread-1", "hist-aapl-1"}
    spread = by_client_id["hist-call-spread-1"]
    assert spread.order_class == OrderClass.MLEG
    assert spread.status == OrderStatus.FILLED
    assert [(leg.symbol, leg.side) for leg in spread.legs] == [
        ("SPY250117C00500000", OrderSide.BUY),
        ("SPY250117C00510000", OrderSide.SELL),
    ]
    assert by_client_id["hist-aapl-1"].symbol == "AAPL"

    fetched = sim.trading.get_order_by_id(mleg_json["id"])
    assert str(fetched.id) == mleg_json["id"]
    assert [leg.symbol for leg in fetched.legs] == ["SPY250117C00500000", "SPY250117C00510000"]
    assert [D(leg.ratio_qty) for leg in fetched.legs] == [1, 1]
    # History has no effect on the account.
    assert sim.trading.get_all_positions() == []
    assert D(sim.trading.get_account().cash) == START_CASH
    # The seeded client_order_ids are taken.
    with pytest.raises(APIError) as duplicate:
        sim.trading.submit_order(
            MarketOrderRequest(
                symbol="AAPL",
                qty=1,
                side=OrderSide.BUY,
                time_in_force=TIF.DAY,
                client_order_id="hist-aapl-1",
            )
        )
    assert duplicate.value.status_code == 422


# ------------------------------------------------------------------------------ auth
def _client(sim: Sim, key_id: str, secret: str) -> TradingClient:
    client = TradingClient(key_id, secret, url_override=sim.url)
    client._retry = 0
    return client


@pytest.mark.parametrize("wrong", ["secret", "key_id"])
def test_wrong_keys_are_forbidden(sim, wrong):
    key_id = "NOT-THE-KEY" if wrong == "key_id" else sim.key_id
    secret = "not-the-secret" if wrong == "secret" else sim.secret_key

    with pytest.raises(APIError) as refused:
        _client(sim, key_id, secret).get_account()
    assert refused.value.status_code == 403

    headers = {"APCA-API-KEY-ID": key_id, "APCA-API-SECRET-KEY": secret}
    reply = httpx.get(f"{sim.url}/v2/account", headers=headers)
    assert (reply.status_code, reply.json()) == (403, {"message": "forbidden."})


@pytest.mark.parametrize("drop", ["APCA-API-KEY-ID", "APCA-API-SECRET-KEY", "both"])
def test_missing_auth_headers_are_401(sim, drop):
    headers = {k: v for k, v in sim.headers.items() if drop not in (k, "both")}

    for path in ("/v2/account", "/v2/orders", "/v2/stocks/AAPL/trades/latest"):
        reply = httpx.get(f"{sim.url}{path}", headers=headers)
        assert reply.status_code == 401, path


def test_control_api_needs_no_auth(sim):
    assert httpx.get(f"{sim.url}/_sim/state").status_code == 200
    assert httpx.get(f"{sim.url}/_sim/counters").status_code == 200


# ------------------------------------------------------------------------------ schemas
# Where the 2022 spec disagrees with today's Alpaca (and alpaca-py 0.44), the test relaxes the
# spec, not the simulator:
#  - Order.trail_percent / trail_price / hwm are typed as non-nullable strings, yet the spec's own
#    Order example, like every live order that is not a trailing stop, carries them as null.
#  - OrderStatus lacks "held", the status Alpaca gives a bracket's waiting exit leg
#    (alpaca-py OrderStatus.HELD).
#  - PositionClosedReponse.status is typed as a string, yet the spec's own example, like
#    alpaca-py's ClosePositionResponse (Optional[int]), has the HTTP status as an integer.
NULL_IN_PRACTICE = ("trail_percent", "trail_price", "hwm")


@functools.cache
def _spec(path: Path) -> dict[str, Any]:
    spec = yaml.safe_load(path.read_text())
    schemas = spec["components"]["schemas"]
    if path.name == "alpaca-trading-openapi.yaml":
        order = schemas["Order"]
        example = order["x-examples"]["example-1"]
        assert all(example[field] is None for field in NULL_IN_PRACTICE)
        for field in NULL_IN_PRACTICE:
            order["properties"][field]["nullable"] = True
        schemas["OrderStatus"]["enum"].append("held")
        closed = schemas["PositionClosedReponse"]
        assert isinstance(closed["x-examples"]["example-1"]["status"], int)
        closed["properties"]["status"] = {"type": "integer"}
    return spec


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


def test_the_schema_check_itself_catches_a_bad_order(specs_dir):
    """Guards the checks below: nullable and $ref must really be honoured."""
    trading = specs_dir / "alpaca-trading-openapi.yaml"
    good = {"symbol": "AAPL", "notional": None, "qty": "1", "type": "market", "side": "buy"}
    good["time_in_force"] = "day"
    assert _errors(trading, "Order", good) == []
    assert _errors(trading, "Order", {**good, "qty": 1})  # not a string
    assert _errors(trading, "Order", {**good, "filled_avg_price": None}) == []  # nullable
    assert _errors(trading, "Order", {**good, "filled_qty": None})  # not nullable
    assert _errors(trading, "Order", {**good, "status": "bogus"})  # $ref'd enum
    assert _errors(trading, "Order", {**good, "legs": [{**good, "side": "hold"}]})  # nested $ref
    assert _errors(trading, "Clock", {"timestamp": "yesterday"})  # date-time format


def test_account_position_and_clock_match_the_published_schemas(sim, http, specs_dir):
    trading = specs_dir / "alpaca-trading-openapi.yaml"
    sim.control.set_market("calendar")
    buy(sim, "AAPL", 10, price="200")
    buy(sim, "GME", 3, price="20.5")
    resting_limit(sim, "AAPL", 4, OrderSide.SELL, 999)
    sim.control.set_price("AAPL", "201.37")

    assert _errors(trading, "Account", http.get("/v2/account").json()) == []
    positions = http.get("/v2/positions").json()
    assert len(positions) == 2
    for position in positions:
        assert _errors(trading, "Position", position) == []
    assert _errors(trading, "Position", http.get("/v2/positions/AAPL").json()) == []
    assert _errors(trading, "Clock", http.get("/v2/clock").json()) == []
    sim.control.advance(7 * 3600)  # after the close
    assert _errors(trading, "Clock", http.get("/v2/clock").json()) == []


def test_shorts_and_the_emergency_stop_replies_match_the_published_schemas(sim, http, specs_dir):
    trading = specs_dir / "alpaca-trading-openapi.yaml"
    sim.control.seed_positions(
        [
            {"symbol": "TSLA", "qty": "-5", "avg_entry_price": "250"},
            {"symbol": "AAPL", "qty": "0.5", "avg_entry_price": "180"},
        ]
    )
    resting_limit(sim, "GME", 2, OrderSide.BUY, 1)
    resting_limit(sim, "TSLA", 2, OrderSide.BUY, 1)  # covers part of the short

    assert _errors(trading, "Account", http.get("/v2/account").json()) == []
    positions = http.get("/v2/positions").json()
    assert [p["side"] for p in positions] == ["long", "short"]
    assert [_errors(trading, "Position", p) for p in positions] == [[], []]
    canceled = http.delete("/v2/orders")
    assert canceled.status_code == 207
    assert [_errors(trading, "CanceledOrderResponse", c) for c in canceled.json()] == [[], []]
    closed = http.delete("/v2/positions")
    assert closed.status_code == 207
    assert [(c["symbol"], c["body"]["side"]) for c in closed.json()] == [
        ("AAPL", "sell"),
        ("TSLA", "buy"),
    ]
    assert [_errors(trading, "PositionClosedReponse", c) for c in closed.json()] == [[], []]


def test_calendar_and_assets_match_the_published_schemas(http, specs_dir):
    trading = specs_dir / "alpaca-trading-openapi.yaml"
    days = http.get("/v2/calendar", params={"start": "2026-11-25", "end": "2026-12-01"}).json()
    assets = http.get("/v2/assets").json()

    assert [_errors(trading, "Calendar", day) for day in days] == [[], [], [], []]
    assert len(assets) > 30
    failures = {asset["symbol"]: _errors(trading, "Assets", asset) for asset in assets}
    assert {symbol: errors for symbol, errors in failures.items() if errors} == {}


def _order_replies(sim: Sim, http: httpx.Client) -> dict[str, Any]:
    def post(body: dict[str, Any]) -> dict[str, Any]:
        reply = http.post("/v2/orders", json={"time_in_force": "day", **body})
        assert reply.status_code == 200, reply.text
        return reply.json()

    sim.control.set_price("AAPL", "200")
    market = post({"symbol": "AAPL", "qty": "10", "side": "buy", "type": "market"})
    notional = post({"symbol": "AAPL", "notional": "150.5", "side": "buy", "type": "market"})
    limit = post(
        {"symbol": "AAPL", "qty": "2", "side": "buy", "type": "limit", "limit_price": "150"}
    )
    bracket = post(
        {
            "symbol": "AAPL",
            "qty": "5",
            "side": "buy",
            "type": "limit",
            "limit_price": "199",
            "time_in_force": "gtc",
            "order_class": "bracket",
            "take_profit": {"limit_price": "230"},
            "stop_loss": {"stop_price": "180", "limit_price": "179.5"},
        }
    )
    http.delete(f"/v2/orders/{limit['id']}")
    sim.control.set_price("AAPL", "198")  # the bracket entry fills, its exits go live
    return {
        "market reply": market,
        "notional reply": notional,
        "limit reply": limit,
        "bracket reply with legs": bracket,
        "filled order": http.get(f"/v2/orders/{market['id']}").json(),
        "canceled order": http.get(f"/v2/orders/{limit['id']}").json(),
        "filled bracket, nested": http.get(f"/v2/orders/{bracket['id']}?nested=true").json(),
        "close position reply": http.delete("/v2/positions/AAPL?qty=1").json(),
        **{
            f"listed order {i}": order
            for i, order in enumerate(http.get("/v2/orders?status=all&nested=true").json())
        },
    }


def test_orders_match_the_published_order_schema(sim, http, specs_dir):
    trading = specs_dir / "alpaca-trading-openapi.yaml"
    replies = _order_replies(sim, http)
    assert len(replies["bracket reply with legs"]["legs"]) == 2
    assert replies["filled order"]["status"] == "filled"
    assert replies["canceled order"]["status"] == "canceled"
    assert {leg["status"] for leg in replies["filled bracket, nested"]["legs"]} == {"new"}

    failures = {name: _errors(trading, "Order", body) for name, body in replies.items()}
    assert {name: errors for name, errors in failures.items() if errors} == {}


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        ("/v2/stocks/AAPL/trades/latest", "LatestTradeResponse"),
        ("/v2/stocks/AAPL/quotes/latest", "LatestQuoteResponse"),
        ("/v2/stocks/AAPL/snapshot", "Snapshot"),
        ("/v2/stocks/trades/latest?symbols=AAPL,SIRI", "LatestMultiTradesResponse"),
        ("/v2/stocks/quotes/latest?symbols=AAPL,SIRI", "LatestMultiQuotesResponse"),
        ("/v2/stocks/snapshots?symbols=AAPL,SIRI", "MultiSnapshotResponse"),
    ],
)
def test_market_data_matches_the_published_schemas(sim, http, specs_dir, path, schema):
    data = specs_dir / "alpaca-market-data-openapi.yaml"
    sim.control.set_price("AAPL", "201.37")

    body = http.get(path).json()

    assert _errors(data, schema, body) == []
    if "AAPL/trades" in path:  # prices are JSON numbers, as Alpaca sends them
        assert body["trade"]["p"] == 201.37


# ------------------------------------------------------------------------------ rate limit
def test_rate_limit_answers_429_with_headers_until_the_window_passes(sim, http):
    sim.control.configure(rate_limit_per_minute=5)
    reset_at = str(int((T0 + timedelta(minutes=1)).timestamp()))

    for remaining in (4, 3, 2, 1, 0):
        reply = http.get("/v2/clock")
        assert reply.status_code == 200
        assert reply.headers["X-RateLimit-Limit"] == "5"
        assert reply.headers["X-RateLimit-Remaining"] == str(remaining)
        assert reply.headers["X-RateLimit-Reset"] == reset_at

    limited = http.post("/v2/orders", json={"symbol": "AAPL"})
    assert limited.status_code == 429
    assert limited.json()["code"] == 42910000
    assert "rate limit" in limited.json()["message"]
    assert limited.headers["X-RateLimit-Limit"] == "5"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.headers["X-RateLimit-Reset"] == reset_at
    with pytest.raises(APIError) as through_alpaca_py:
        sim.trading.get_account()
    assert through_alpaca_py.value.status_code == 429

    sim.control.advance(59)
    assert http.get("/v2/clock").status_code == 429  # the window has not passed yet
    sim.control.advance(2)
    assert http.get("/v2/clock").status_code == 200
    assert sim.trading.get_clock().is_open is True


def test_rate_limit_zero_disables_it(sim, http):
    sim.control.configure(rate_limit_per_minute=0)

    statuses = {http.get("/v2/clock").status_code for _ in range(40)}

    assert statuses == {200}


def test_requests_with_bad_keys_do_not_use_up_the_rate_limit(sim, http):
    sim.control.configure(rate_limit_per_minute=3)
    bad = {"APCA-API-KEY-ID": sim.key_id, "APCA-API-SECRET-KEY": "wrong"}

    assert http.get("/v2/clock").status_code == 200
    for _ in range(5):
        assert http.get("/v2/clock", headers=bad).status_code == 403
    assert http.get("/v2/clock").status_code == 200
    assert http.get("/v2/clock").status_code == 200
    assert http.get("/v2/clock").status_code == 429
    assert http.get("/v2/clock", headers=bad).status_code == 403  # still forbidden, not limited


# ------------------------------------------------------------------------------ counters
def test_counters_count_per_route_template_and_skip_control_calls(sim):
    sim.control.set_price("AAPL", "200")
    order = resting_limit(sim, "AAPL", 1, OrderSide.BUY, 100)  # one POST, one GET by id
    sim.trading.get_order_by_id(order.id)
    with pytest.raises(APIError):
        sim.trading.get_order_by_id(uuid.uuid4())  # a 404 still counts under its template
    sim.trading.get_order_by_client_id(order.client_order_id)
    sim.trading.get_orders()
    sim.trading.cancel_order_by_id(order.id)
    sim.trading.get_account()
    sim.control.state()
    sim.control.fills()

    assert sim.control.counters() == {
        "POST /v2/orders": 1,
        "GET /v2/orders/{order_id}": 3,
        "GET /v2/orders:by_client_order_id": 1,
        "GET /v2/orders": 1,
        "DELETE /v2/orders/{order_id}": 1,
        "GET /v2/account": 1,
    }


def test_reset_counters_clears_them(sim):
    sim.trading.get_clock()
    sim.trading.get_all_positions()
    assert sim.control.counters() == {"GET /v2/clock": 1, "GET /v2/positions": 1}

    sim.control.reset_counters()

    assert sim.control.counters() == {}
    sim.trading.get_clock()
    assert sim.control.counters() == {"GET /v2/clock": 1}


def test_requests_refused_by_the_rate_limit_are_counted(sim):
    sim.control.configure(rate_limit_per_minute=2)
    for _ in range(2):
        sim.trading.get_account()
    with pytest.raises(APIError):
        sim.trading.get_account()
    assert sim.control.state()["rate_limited_total"] == 1
    sim.control.reset_counters()
    assert sim.control.state()["rate_limited_total"] == 0

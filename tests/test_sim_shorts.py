"""Short positions and the emergency-stop routes against the Alpaca simulator, through the real
alpaca-py TradingClient (raw httpx only for exact status codes and bodies).

Alpaca's rules exercised here:
- A sell with nothing held opens a short on a shortable, easy-to-borrow asset, in whole shares,
  when the account may short (equity of $2,000 or more) and has the buying power Alpaca checks:
  MAX(limit price, 3% above the ask) x qty. Otherwise: 422 "asset X cannot be sold short",
  422 "fractional orders cannot be sold short", 403 "account is not allowed to short",
  403 "insufficient buying power".
- One order never crosses zero: a buy larger than the short (like a sell larger than the long)
  is refused with 403 "insufficient qty available for order" (alpacahq/Alpaca-API#90,
  alpaca-trade-api-python#129). Long and short orders on one symbol cannot be open together.
- Closing a short (`DELETE /v2/positions[/{symbol}]`) places a market buy for the short quantity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from alpaca.trading.enums import (
    OrderSide,
    OrderStatus,
    PositionIntent,
    PositionSide,
    QueryOrderStatus,
)
from alpaca.trading.enums import TimeInForce as TIF
from alpaca.trading.models import Order
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
)

from tests.conftest import EventLog, Sim

NY = ZoneInfo("America/New_York")
START_CASH = Decimal("100000")
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def D(value: Any) -> Decimal:
    """alpaca-py hands decimals over as str (or float): compare them exactly as Decimal."""
    return Decimal(str(value))


@pytest.fixture(autouse=True)
def frozen_prices(sim: Sim) -> None:
    """Prices only move on set_price, so every expected amount below is exact."""
    sim.control.configure(max_step_bps=0)


@pytest.fixture
def http(sim: Sim) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, headers=sim.headers, timeout=10) as client:
        yield client


def seed(sim: Sim, symbol: str, qty: str, avg_entry_price: str, price: str | None = None) -> None:
    """A position as if it had been built before (no cash moves), and the market at `price`."""
    sim.control.seed_positions([{"symbol": symbol, "qty": qty, "avg_entry_price": avg_entry_price}])
    if price is not None:
        sim.control.set_price(symbol, price)


def market(symbol: str, qty: str | int, side: OrderSide) -> MarketOrderRequest:
    return MarketOrderRequest(symbol=symbol, qty=float(qty), side=side, time_in_force=TIF.DAY)


def resting_limit(sim: Sim, symbol: str, qty: int, side: OrderSide, limit: float) -> Order:
    order = sim.trading.submit_order(
        LimitOrderRequest(
            symbol=symbol, qty=qty, side=side, time_in_force=TIF.GTC, limit_price=limit
        )
    )
    assert sim.trading.get_order_by_id(order.id).status == OrderStatus.NEW
    return order


def positions(sim: Sim) -> dict[str, Decimal]:
    return {p.symbol: D(p.qty) for p in sim.trading.get_all_positions()}


def open_orders(sim: Sim) -> list[Order]:
    return sim.trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))


def cash(sim: Sim) -> Decimal:
    return D(sim.trading.get_account().cash)


def refused(http: httpx.Client, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST a day market order (a None field is left out); it must be refused."""
    order = {"type": "market", "time_in_force": "day", **body}
    reply = http.post("/v2/orders", json={k: v for k, v in order.items() if v is not None})
    assert reply.status_code >= 400, reply.text
    return reply.status_code, reply.json()


# --------------------------------------------------------------------------- seeded shorts
@pytest.mark.parametrize(
    ("price", "market_value", "unrealized_pl", "unrealized_plpc"),
    [
        ("240", "-1200", "50", "0.04"),  # the price fell: the short gains
        ("262.5", "-1312.5", "-62.5", "-0.05"),  # the price rose: the short loses
    ],
)
def test_a_seeded_short_reads_as_alpaca_shows_it(
    sim, price, market_value, unrealized_pl, unrealized_plpc
):
    seed(sim, "TSLA", "-5", "250", price)

    (position,) = sim.trading.get_all_positions()

    assert position.side == PositionSide.SHORT
    assert (D(position.qty), D(position.qty_available)) == (-5, -5)
    assert D(position.avg_entry_price) == 250
    assert D(position.current_price) == D(price)
    assert D(position.market_value) == D(market_value)
    assert D(position.cost_basis) == -1250
    assert D(position.unrealized_pl) == D(unrealized_pl)
    # Alpaca divides by the size of the cost basis: a losing short reads negative.
    assert D(position.unrealized_plpc) == D(unrealized_plpc)
    lastday = D(position.lastday_price)
    intraday = -5 * (D(price) - lastday)
    assert D(position.unrealized_intraday_pl) == intraday
    assert D(position.unrealized_intraday_plpc) == (intraday / (5 * lastday)).quantize(
        Decimal("1e-10")
    )
    assert sim.trading.get_open_position("TSLA") == position


def test_the_account_counts_a_short_in_its_market_values_and_equity(sim):
    seed(sim, "AAPL", "10", "190", "200")
    seed(sim, "TSLA", "-5", "250", "240")

    account = sim.trading.get_account()

    assert D(account.cash) == START_CASH  # seeding moves no cash
    assert D(account.long_market_value) == 2000
    assert D(account.short_market_value) == -1200
    assert D(account.equity) == START_CASH + 2000 - 1200
    assert D(account.portfolio_value) == D(account.equity)
    assert account.shorting_enabled is True
    # A 1x account pays for every position in full, long or short.
    assert D(account.initial_margin) == 2000 + 1200
    assert D(account.buying_power) == D(account.equity) - 3200
    # Maintenance: 30% of longs; shorts at $5 or more, the greater of $5 a share or 30%.
    assert D(account.maintenance_margin) == Decimal("600") + Decimal("360")


# ------------------------------------------------------------------- selling short by order
def test_a_sell_with_nothing_held_opens_a_short(sim):
    sim.control.set_price("AAPL", "200")

    order = sim.trading.submit_order(market("AAPL", 10, SELL))

    assert order.position_intent == PositionIntent.SELL_TO_OPEN
    assert sim.trading.get_order_by_id(order.id).status == OrderStatus.FILLED
    position = sim.trading.get_open_position("AAPL")
    assert (position.side, D(position.qty), D(position.avg_entry_price)) == (
        PositionSide.SHORT,
        -10,
        200,
    )
    account = sim.trading.get_account()
    assert D(account.cash) == START_CASH + 2000  # the sale's proceeds
    assert D(account.short_market_value) == -2000
    assert D(account.equity) == START_CASH
    assert D(account.buying_power) == START_CASH - 2000


def test_selling_more_short_adds_to_the_short_at_a_weighted_average(sim):
    seed(sim, "TSLA", "-10", "250", "200")

    order = sim.trading.submit_order(market("TSLA", 10, SELL))

    assert order.position_intent == PositionIntent.SELL_TO_OPEN
    position = sim.trading.get_open_position("TSLA")
    assert (D(position.qty), D(position.avg_entry_price)) == (-20, 225)
    assert cash(sim) == START_CASH + 2000


def _not_shortable(sim: Sim) -> str:
    sim.control.add_assets([{"symbol": "NOSH", "price": "20", "shortable": False}])
    return "NOSH"


def _hard_to_borrow(sim: Sim) -> str:
    sim.control.add_assets(
        [{"symbol": "HTBX", "price": "20", "shortable": True, "easy_to_borrow": False}]
    )
    return "HTBX"


def _small_account(sim: Sim) -> str:
    sim.control.set_cash("1999")  # Alpaca: no shorting under $2,000 of equity
    return "F"


def _aapl(sim: Sim) -> str:
    return "AAPL"


def _long_buy_open(sim: Sim) -> str:
    resting_limit(sim, "AAPL", 1, BUY, 100)
    return "AAPL"


@pytest.mark.parametrize(
    ("setup", "extra", "status", "code", "message"),
    [
        (_not_shortable, {}, 422, 42210000, "asset NOSH cannot be sold short"),
        (_hard_to_borrow, {}, 422, 42210000, "asset HTBX cannot be sold short"),
        (_aapl, {"qty": "1.5"}, 422, 42210000, "fractional orders cannot be sold short"),
        (_aapl, {"qty": None, "notional": "100"}, 422, 42210000, "fractional orders cannot be"),
        (_small_account, {}, 403, 40310000, "account is not allowed to short"),
        (_long_buy_open, {}, 403, 40310000, "cannot open a short sell while a long buy order"),
    ],
    ids=["not-shortable", "hard-to-borrow", "fractional", "notional", "small-account", "long-buy"],
)
def test_a_short_sale_alpaca_would_refuse_is_refused(
    sim, http, setup: Callable[[Sim], str], extra, status, code, message
):
    symbol = setup(sim)
    orders_before = len(open_orders(sim))
    cash_before = cash(sim)

    got_status, body = refused(http, {"symbol": symbol, "side": "sell", "qty": "1", **extra})

    assert (got_status, body["code"]) == (status, code)
    assert message in body["message"]
    assert positions(sim) == {}
    assert len(open_orders(sim)) == orders_before
    assert cash(sim) == cash_before


@pytest.mark.parametrize(
    ("order", "cash_", "accepted"),
    [
        # market: 10 x (ask 200.01 + 3%) = 2060.103
        ({"type": "market"}, "2060", False),
        ({"type": "market"}, "2061", True),
        # a limit above that is valued at its limit: 10 x 250
        ({"type": "limit", "limit_price": "250"}, "2499", False),
        ({"type": "limit", "limit_price": "250"}, "2500", True),
        # a limit below it is valued at 3% above the ask all the same
        ({"type": "limit", "limit_price": "150"}, "2060", False),
    ],
)
def test_a_short_sale_needs_buying_power_for_the_greater_of_its_limit_and_3_pct_over_the_ask(
    sim, http, order, cash_, accepted
):
    sim.control.set_price("AAPL", "200")
    sim.control.set_cash(cash_)
    body = {"symbol": "AAPL", "side": "sell", "qty": "10", "time_in_force": "day", **order}

    reply = http.post("/v2/orders", json=body)

    if accepted:
        assert reply.status_code == 200, reply.text
        assert reply.json()["position_intent"] == "sell_to_open"
        return
    assert reply.status_code == 403
    assert reply.json()["code"] == 40310000
    assert reply.json()["message"] == "insufficient buying power"
    assert D(reply.json()["buying_power"]) == D(cash_)
    assert positions(sim) == {}


def test_an_open_short_sell_reserves_buying_power_and_blocks_a_long_buy(sim, http):
    sim.control.set_price("AAPL", "200")
    short_sell = resting_limit(sim, "AAPL", 10, SELL, 300)
    assert short_sell.position_intent == PositionIntent.SELL_TO_OPEN

    assert D(sim.trading.get_account().buying_power) == START_CASH - 3000
    status, body = refused(http, {"symbol": "AAPL", "side": "buy", "qty": "1"})
    assert (status, body["code"]) == (403, 40310000)
    assert "cannot open a long buy while a short sell order is open" in body["message"]

    sim.trading.cancel_order_by_id(short_sell.id)
    assert D(sim.trading.get_account().buying_power) == START_CASH


def test_short_fills_report_the_negative_position_qty_on_the_stream(sim, trade_updates: EventLog):
    sim.control.set_price("AAPL", "200")

    short_sale = sim.trading.submit_order(market("AAPL", 3, SELL))
    cover = sim.trading.submit_order(market("AAPL", 3, BUY))

    events = trade_updates.wait_for(
        lambda ev: sum(1 for e in ev if getattr(e.event, "value", e.event) == "fill") == 2
    )
    fills = {str(e.order.id): D(e.position_qty) for e in events if e.event == "fill"}
    assert fills == {str(short_sale.id): -3, str(cover.id): 0}


# ---------------------------------------------------------------------------- covering
def test_buys_cover_a_short_and_remove_it_at_zero(sim):
    seed(sim, "TSLA", "-10", "250", "240")

    first = sim.trading.submit_order(market("TSLA", 4, BUY))

    assert first.position_intent == PositionIntent.BUY_TO_CLOSE
    position = sim.trading.get_open_position("TSLA")
    assert (D(position.qty), D(position.avg_entry_price)) == (-6, 250)
    assert cash(sim) == START_CASH - 4 * 240

    sim.trading.submit_order(market("TSLA", 6, BUY))

    assert sim.trading.get_all_positions() == []
    assert cash(sim) == START_CASH - 10 * 240


def test_a_buy_larger_than_the_short_is_refused_not_flipped(sim, http):
    seed(sim, "TSLA", "-10", "250", "240")

    status, body = refused(http, {"symbol": "TSLA", "side": "buy", "qty": "15"})

    assert (status, body["code"]) == (403, 40310000)
    assert body["message"] == "insufficient qty available for order (requested: 15, available: 10)"
    assert (D(body["available"]), D(body["existing_qty"]), D(body["held_for_orders"])) == (
        10,
        -10,
        0,
    )
    assert positions(sim) == {"TSLA": -10}
    assert open_orders(sim) == []
    assert cash(sim) == START_CASH


def test_a_working_cover_holds_part_of_the_short(sim, http):
    seed(sim, "TSLA", "-10", "250", "240")
    buying_power = D(sim.trading.get_account().buying_power)
    cover = resting_limit(sim, "TSLA", 4, BUY, 1)
    assert cover.position_intent == PositionIntent.BUY_TO_CLOSE

    assert D(sim.trading.get_open_position("TSLA").qty_available) == -6
    status, body = refused(http, {"symbol": "TSLA", "side": "buy", "qty": "7"})
    assert (status, D(body["available"]), D(body["held_for_orders"])) == (403, 6, 4)
    assert body["related_orders"] == [str(cover.id)]
    # A cover opens nothing: it takes no buying power (Alpaca reserves for opening orders only).
    assert D(sim.trading.get_account().buying_power) == buying_power

    sim.trading.cancel_order_by_id(cover.id)
    assert D(sim.trading.get_open_position("TSLA").qty_available) == -10


# ------------------------------------------------------------------- closing positions
@pytest.mark.parametrize(
    ("options", "bought"),
    [
        ({}, "10"),
        ({"qty": "3"}, "3"),
        ({"percentage": "50"}, "5"),
        ({"percentage": "25"}, "2"),  # a whole-share position closes in whole shares
    ],
)
def test_closing_a_short_buys_it_back(sim, options, bought):
    seed(sim, "TSLA", "-10", "250", "240")

    order = sim.trading.close_position("TSLA", ClosePositionRequest(**options) if options else None)

    assert (order.symbol, order.side, order.type) == ("TSLA", BUY, "market")
    assert order.position_intent == PositionIntent.BUY_TO_CLOSE
    assert D(order.qty) == D(bought)
    assert sim.trading.get_order_by_id(order.id).status == OrderStatus.FILLED
    assert cash(sim) == START_CASH - D(bought) * 240
    left = -10 + D(bought)
    assert positions(sim) == ({"TSLA": left} if left else {})


@pytest.mark.parametrize(
    ("held", "side"),
    [("0.5", SELL), ("0.123456789", SELL), ("7.25", SELL), ("-0.5", BUY)],
)
def test_a_fractional_position_closes_fully(sim, held, side):
    seed(sim, "AAPL", held, "180", "200")

    order = sim.trading.close_position("AAPL")

    assert (order.side, D(order.qty)) == (side, abs(D(held)))
    assert sim.trading.get_all_positions() == []
    assert cash(sim) == START_CASH + D(held) * 200


def _long_short_and_fractional(sim: Sim) -> None:
    seed(sim, "AAPL", "10", "190", "200")
    seed(sim, "MSFT", "0.5", "400", "420")
    seed(sim, "TSLA", "-5", "250", "240")


FLAT_CASH = START_CASH + 10 * 200 + Decimal("0.5") * 420 - 5 * 240


def test_close_all_positions_sells_longs_and_fractions_and_buys_back_shorts(sim):
    _long_short_and_fractional(sim)
    held_sell = resting_limit(sim, "AAPL", 10, SELL, 999)  # holds all of AAPL
    held_cover = resting_limit(sim, "TSLA", 5, BUY, 1)  # holds all of the TSLA short

    results = sim.trading.close_all_positions(cancel_orders=True)

    closing = [
        (r.symbol, r.status, r.body.side, D(r.body.qty), r.body.position_intent) for r in results
    ]
    assert closing == [
        ("AAPL", 200, SELL, 10, PositionIntent.SELL_TO_CLOSE),
        ("MSFT", 200, SELL, Decimal("0.5"), PositionIntent.SELL_TO_CLOSE),
        ("TSLA", 200, BUY, 5, PositionIntent.BUY_TO_CLOSE),
    ]
    assert all(str(r.order_id) == str(r.body.id) for r in results)
    for order in (held_sell, held_cover):
        assert sim.trading.get_order_by_id(order.id).status == OrderStatus.CANCELED
    assert open_orders(sim) == []
    assert sim.trading.get_all_positions() == []
    assert cash(sim) == FLAT_CASH


def _closed_market_at_17_00(sim: Sim) -> None:
    """Calendar hours; Wednesday 17:00 in New York, after the close."""
    sim.control.set_market("calendar")
    sim.control.advance(7 * 3600)  # T0 is Wednesday 10:00
    now = datetime.fromisoformat(sim.control.state()["now"])
    assert now.astimezone(NY) == datetime(2026, 11, 18, 17, 0, tzinfo=NY)
    assert sim.trading.get_clock().is_open is False


NEXT_OPEN = datetime(2026, 11, 19, 9, 30, tzinfo=NY)  # Thursday


def _advance_to(sim: Sim, when: datetime) -> None:
    now = datetime.fromisoformat(sim.control.state()["now"])
    sim.control.advance((when - now).total_seconds())


def test_with_the_market_closed_close_all_queues_orders_that_fill_at_the_open(sim, http):
    _closed_market_at_17_00(sim)
    _long_short_and_fractional(sim)

    reply = http.delete("/v2/positions", params={"cancel_orders": "true"})

    assert reply.status_code == 207
    assert [(r["symbol"], r["status"], r["body"]["status"]) for r in reply.json()] == [
        ("AAPL", 200, "accepted"),
        ("MSFT", 200, "accepted"),
        ("TSLA", 200, "accepted"),
    ]
    queued = {o.symbol: (o.side, D(o.qty), o.status) for o in open_orders(sim)}
    assert queued == {
        "AAPL": (SELL, 10, OrderStatus.ACCEPTED),
        "MSFT": (SELL, Decimal("0.5"), OrderStatus.ACCEPTED),
        "TSLA": (BUY, 5, OrderStatus.ACCEPTED),
    }
    assert positions(sim) == {"AAPL": 10, "MSFT": Decimal("0.5"), "TSLA": -5}

    _advance_to(sim, NEXT_OPEN - timedelta(minutes=1))
    assert len(open_orders(sim)) == 3  # still waiting just before the open
    _advance_to(sim, NEXT_OPEN)

    assert open_orders(sim) == []
    for result in reply.json():
        order = sim.trading.get_order_by_id(result["order_id"])
        assert order.status == OrderStatus.FILLED
        assert order.filled_at == NEXT_OPEN.astimezone(UTC)
    assert sim.trading.get_all_positions() == []
    assert cash(sim) == FLAT_CASH


def test_with_the_market_closed_closing_one_short_waits_for_the_open(sim):
    _closed_market_at_17_00(sim)
    seed(sim, "TSLA", "-5", "250", "240")

    order = sim.trading.close_position("TSLA")

    assert (order.side, D(order.qty), order.status) == (BUY, 5, OrderStatus.ACCEPTED)
    _advance_to(sim, NEXT_OPEN)
    assert sim.trading.get_order_by_id(order.id).status == OrderStatus.FILLED
    assert sim.trading.get_all_positions() == []
    assert cash(sim) == START_CASH - 5 * 240


def test_an_emergency_stop_sequence_leaves_the_account_flat(sim):
    """The OMS's stop: cancel all, close all, verify, then close what is left one by one. With
    cancels taking a while, a position still held by a pending_cancel order is refused by the
    close-all and closed once the cancel lands."""
    _long_short_and_fractional(sim)
    held_sell = resting_limit(sim, "AAPL", 4, SELL, 999)
    held_cover = resting_limit(sim, "TSLA", 5, BUY, 1)
    sim.control.configure(cancel_delay_seconds=5)

    canceled = sim.trading.cancel_orders()
    assert sorted((str(c.id), c.status) for c in canceled) == sorted(
        [(str(held_sell.id), 200), (str(held_cover.id), 200)]
    )
    assert {o.status for o in open_orders(sim)} == {OrderStatus.PENDING_CANCEL}

    closes = {r.symbol: r for r in sim.trading.close_all_positions(cancel_orders=True)}
    assert {s: r.status for s, r in closes.items()} == {"AAPL": 403, "MSFT": 200, "TSLA": 403}
    assert (closes["AAPL"].body.available, closes["AAPL"].body.held_for_orders) == (6, 4)
    assert (closes["TSLA"].body.available, closes["TSLA"].body.existing_qty) == (0, -5)
    assert positions(sim) == {"AAPL": 10, "TSLA": -5}

    sim.control.advance(5)
    assert open_orders(sim) == []
    for symbol in ("AAPL", "TSLA"):
        sim.trading.close_position(symbol)

    assert sim.trading.get_all_positions() == []
    assert open_orders(sim) == []
    assert cash(sim) == FLAT_CASH

"""Orders against the Alpaca simulator, seen through the real alpaca-py TradingClient.

Every test talks HTTP to the simulator the way the OMS will: alpaca-py where it can express the
request, raw httpx (with the simulator's auth headers) only for exact status codes, raw bodies and
values alpaca-py refuses to send. Time moves only through the simulator's manual clock.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

import httpx
import pytest
from alpaca.common.enums import Sort
from alpaca.common.exceptions import APIError
from alpaca.data.requests import (
    StockLatestQuoteRequest,
    StockLatestTradeRequest,
    StockSnapshotRequest,
)
from alpaca.trading.enums import (
    OrderClass,
    OrderSide,
    OrderStatus,
    QueryOrderStatus,
    TimeInForce,
)
from alpaca.trading.models import Order
from alpaca.trading.requests import (
    GetOrderByIdRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    OrderRequest,
    ReplaceOrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
)

from tests.conftest import T0, Sim

BUY, SELL = OrderSide.BUY, OrderSide.SELL
DAY, GTC = TimeInForce.DAY, TimeInForce.GTC
CASH = Decimal("100000")
HOUR = 3600


# =============================================================================== helpers
@pytest.fixture(autouse=True)
def frozen_prices(sim: Sim) -> None:
    """Prices move only through set_price, so fills land at known prices even as time moves."""
    sim.control.configure(max_step_bps=0)


@pytest.fixture
def api(sim: Sim) -> Iterator[httpx.Client]:
    """Raw HTTP to the simulator's Alpaca routes, for what alpaca-py cannot express."""
    with httpx.Client(base_url=sim.url, headers=sim.headers, timeout=10) as client:
        yield client


def d(value: Any) -> Decimal:
    """alpaca-py hands quantities and prices back as strings or floats: compare as Decimal."""
    return Decimal(str(value))


def market(symbol: str = "AAPL", qty: Any = 10, side: OrderSide = BUY, **kw: Any):
    kw.setdefault("time_in_force", DAY)
    return MarketOrderRequest(symbol=symbol, qty=qty, side=side, **kw)


def limit(price: Any, symbol: str = "AAPL", qty: Any = 10, side: OrderSide = BUY, **kw: Any):
    kw.setdefault("time_in_force", DAY)
    return LimitOrderRequest(symbol=symbol, qty=qty, side=side, limit_price=price, **kw)


def stop(price: Any, symbol: str = "AAPL", qty: Any = 10, side: OrderSide = SELL, **kw: Any):
    kw.setdefault("time_in_force", DAY)
    return StopOrderRequest(symbol=symbol, qty=qty, side=side, stop_price=price, **kw)


def stop_limit(stop_price: Any, limit_price: Any, qty: Any = 10, side: OrderSide = SELL):
    return StopLimitOrderRequest(
        symbol="AAPL",
        qty=qty,
        side=side,
        time_in_force=DAY,
        stop_price=stop_price,
        limit_price=limit_price,
    )


def bracket(take_profit: Any, stop_loss: Any, qty: Any = 10, **kw: Any) -> MarketOrderRequest:
    return market(
        qty=qty,
        order_class=OrderClass.BRACKET,
        take_profit=TakeProfitRequest(limit_price=take_profit),
        stop_loss=StopLossRequest(stop_price=stop_loss),
        **kw,
    )


def raw_order(**fields: Any) -> dict[str, Any]:
    """An order body as JSON; defaults to a valid 1-share AAPL day market buy."""
    body: dict[str, Any] = {
        "symbol": "AAPL",
        "qty": "1",
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def refresh(sim: Sim, order: Order | str, nested: bool = False) -> Order:
    order_id = order.id if isinstance(order, Order) else order
    return sim.trading.get_order_by_id(order_id, GetOrderByIdRequest(nested=nested))


def status_of(sim: Sim, order: Order) -> OrderStatus:
    return refresh(sim, order).status


def cash(sim: Sim) -> Decimal:
    return d(sim.trading.get_account().cash)


def all_orders(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/v2/orders", params={"status": "all", **params})
    assert response.status_code == 200, response.text
    return response.json()


def ids(orders: list[Any]) -> list[str]:
    return [str(o["id"] if isinstance(o, dict) else o.id) for o in orders]


@dataclass
class Rejection:
    status: int
    code: int | None
    message: str
    body: dict[str, Any]


def submit_rejected(sim: Sim, api: httpx.Client, request: Any) -> Rejection:
    """Send an order that must be refused: an alpaca-py request, a JSON body, or raw bytes."""
    if isinstance(request, OrderRequest):
        with pytest.raises(APIError) as caught:
            sim.trading.submit_order(request)
        error = caught.value
        return Rejection(error.status_code, error.code, error.message, json.loads(str(error)))
    if isinstance(request, bytes):
        response = api.post(
            "/v2/orders", content=request, headers={"content-type": "application/json"}
        )
    else:
        response = api.post("/v2/orders", json=request)
    assert response.status_code >= 400, response.text
    body = response.json()
    return Rejection(response.status_code, body.get("code"), body.get("message", ""), body)


# ====================================================================== 1. rejections
REJECTIONS = [
    # id, request, status, code, message fragment
    ("unknown symbol", market("ZZZZQ"), 422, 42210000, "not found"),
    ("untradable asset", market("TWTR"), 422, 42210000, "not tradable"),
    ("zero qty", raw_order(qty="0"), 422, 42210000, "qty must be > 0"),
    ("negative qty", raw_order(qty="-5"), 422, 42210000, "qty must be > 0"),
    ("qty and notional", raw_order(notional="100"), 422, 42210000, "only one of qty or notional"),
    ("neither qty nor notional", raw_order(qty=None), 422, 42210000, "qty or notional"),
    (
        "limit without limit_price",
        raw_order(type="limit"),
        422,
        42210000,
        "limit_price is required",
    ),
    ("stop without stop_price", raw_order(type="stop"), 422, 42210000, "stop_price is required"),
    (
        "limit_price on a market order",
        raw_order(limit_price="150"),
        422,
        42210000,
        "limit_price must not be set",
    ),
    ("sub-penny limit price", limit("10.001"), 422, 42210000, "sub-penny"),
    ("invalid time_in_force", raw_order(time_in_force="week"), 422, 42210000, "time_in_force"),
    ("invalid side", raw_order(side="hold"), 422, 42210000, "side"),
    ("invalid type", raw_order(type="iceberg"), 422, 42210000, "type"),
    ("fractional GME", market("GME", qty=1.5), 422, 42210000, "not fractionable"),
    ("fractional SIRI", market("SIRI", qty=0.5), 422, 42210000, "not fractionable"),
    ("fractional gtc", market(qty=1.5, time_in_force=GTC), 422, 42210000, "DAY"),
    ("extended hours market", market(extended_hours=True), 422, 42210000, "extended hours"),
    ("malformed JSON", b'{"symbol": "AAPL", "qty": ', 400, 40010000, "invalid"),
]


@pytest.mark.parametrize(
    ("request_", "status", "code", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in REJECTIONS],
)
def test_invalid_order_is_refused_with_alpacas_error_and_leaves_nothing_behind(
    sim, api, request_, status, code, fragment
):
    rejection = submit_rejected(sim, api, request_)

    assert (rejection.status, rejection.code) == (status, code)
    assert fragment.lower() in rejection.message.lower()
    assert all_orders(api) == []
    assert cash(sim) == CASH


def test_buy_beyond_buying_power_is_refused_with_403_and_the_buying_power(sim, api):
    rejection = submit_rejected(sim, api, market(qty=1000))  # 1000 x 189.50 > 100,000

    assert (rejection.status, rejection.code) == (403, 40310000)
    assert rejection.message == "insufficient buying power"
    assert d(rejection.body["buying_power"]) == CASH
    assert all_orders(api) == []
    assert cash(sim) == CASH


def test_buying_power_counts_open_buy_orders(sim, api):
    sim.trading.submit_order(limit(100, qty=900))  # reserves 90,000 of the 100,000

    rejection = submit_rejected(sim, api, limit(100, qty=101))

    assert (rejection.status, rejection.code) == (403, 40310000)
    assert d(rejection.body["buying_power"]) == Decimal("10000")
    assert len(all_orders(api)) == 1


def test_selling_more_than_held_is_refused_with_insufficient_qty_not_flipped_short(sim, api):
    # One order never takes a long through zero into a short (alpacahq/Alpaca-API#90). With
    # nothing held, a sell opens a short instead: tests/test_sim_shorts.py.
    sim.control.seed_positions([{"symbol": "AAPL", "qty": "5"}])

    rejection = submit_rejected(sim, api, market(qty=10, side=SELL))

    assert (rejection.status, rejection.code) == (403, 40310000)
    assert rejection.message == "insufficient qty available for order (requested: 10, available: 5)"
    assert d(rejection.body["available"]) == 5
    assert rejection.body["symbol"] == "AAPL"
    assert all_orders(api) == []
    assert cash(sim) == CASH
    assert [(p.symbol, d(p.qty)) for p in sim.trading.get_all_positions()] == [("AAPL", 5)]


def test_shares_held_by_an_open_sell_are_not_available_to_another(sim, api):
    sim.control.seed_positions([{"symbol": "AAPL", "qty": "10"}])
    sim.trading.submit_order(limit(250, qty=8, side=SELL))

    rejection = submit_rejected(sim, api, market(qty=3, side=SELL))

    assert (rejection.status, rejection.code) == (403, 40310000)
    assert d(rejection.body["available"]) == 2


# =================================================================== 2. client_order_id
def test_client_order_id_is_generated_when_absent(sim):
    first = sim.trading.submit_order(market(qty=1))
    second = sim.trading.submit_order(market(qty=1))

    assert first.client_order_id and second.client_order_id
    assert first.client_order_id != second.client_order_id
    assert sim.trading.get_order_by_client_id(first.client_order_id).id == first.id


def test_client_order_id_is_echoed_when_given(sim):
    order = sim.trading.submit_order(market(qty=1, client_order_id="oms-7f3a-0001"))

    assert order.client_order_id == "oms-7f3a-0001"
    assert refresh(sim, order).client_order_id == "oms-7f3a-0001"


def _resting(sim):
    return sim.trading.submit_order(limit(100, client_order_id="dup-1"))


def _canceled(sim):
    order = _resting(sim)
    sim.trading.cancel_order_by_id(order.id)
    assert status_of(sim, order) == OrderStatus.CANCELED
    return order


def _filled(sim):
    order = sim.trading.submit_order(market(qty=1, client_order_id="dup-1"))
    assert status_of(sim, order) == OrderStatus.FILLED
    return order


@pytest.mark.parametrize(
    "first_order", [_resting, _canceled, _filled], ids=["open", "canceled", "filled"]
)
def test_duplicate_client_order_id_is_refused_whatever_became_of_the_first(sim, api, first_order):
    first = first_order(sim)
    cash_before = cash(sim)

    rejection = submit_rejected(sim, api, market(qty=1, client_order_id="dup-1"))

    assert (rejection.status, rejection.code) == (422, 40010001)
    assert rejection.message == "client_order_id must be unique"
    assert ids(all_orders(api)) == [str(first.id)]
    assert cash(sim) == cash_before


def test_order_is_found_by_client_order_id(sim):
    order = sim.trading.submit_order(limit(100, client_order_id="find-me"))

    found = sim.trading.get_order_by_client_id("find-me")

    assert found.id == order.id
    assert found.status == OrderStatus.NEW
    assert d(found.limit_price) == 100


def test_client_order_id_longer_than_128_characters_is_refused(sim, api):
    rejection = submit_rejected(sim, api, market(qty=1, client_order_id="x" * 129))

    assert (rejection.status, rejection.code) == (422, 42210000)
    assert "client_order_id" in rejection.message
    assert all_orders(api) == []


def test_replace_with_a_used_client_order_id_is_refused(sim):
    sim.trading.submit_order(market(qty=1, client_order_id="taken"))
    resting = sim.trading.submit_order(limit(100, qty=1))

    with pytest.raises(APIError) as caught:
        sim.trading.replace_order_by_id(
            resting.id, ReplaceOrderRequest(limit_price=101, client_order_id="taken")
        )

    assert (caught.value.status_code, caught.value.code) == (422, 40010001)
    assert caught.value.message == "client_order_id must be unique"
    assert status_of(sim, resting) == OrderStatus.NEW


def test_unknown_client_order_id_is_404(sim):
    with pytest.raises(APIError) as caught:
        sim.trading.get_order_by_client_id("never-used")
    assert caught.value.status_code == 404
    assert caught.value.code == 40410000


# ================================================================ 3. types and time in force
def test_market_order_fills_at_the_current_price(sim):
    sim.control.set_price("AAPL", "201.37")

    order = sim.trading.submit_order(market(qty=10))

    assert order.status == OrderStatus.NEW
    filled = refresh(sim, order)
    assert filled.status == OrderStatus.FILLED
    assert d(filled.filled_qty) == 10
    assert d(filled.filled_avg_price) == Decimal("201.37")
    assert cash(sim) == CASH - 10 * Decimal("201.37")
    position = sim.trading.get_open_position("AAPL")
    assert d(position.qty) == 10


def test_resting_limit_buy_fills_only_when_the_price_reaches_the_limit(sim):
    sim.control.set_price("AAPL", "200")
    order = sim.trading.submit_order(limit("195.50", qty=10))
    assert order.status == OrderStatus.NEW

    sim.control.set_price("AAPL", "195.51")
    sim.control.advance(60)
    still = refresh(sim, order)
    assert (still.status, d(still.filled_qty)) == (OrderStatus.NEW, 0)

    sim.control.set_price("AAPL", "195.50")
    filled = refresh(sim, order)
    assert filled.status == OrderStatus.FILLED
    assert d(filled.filled_avg_price) == Decimal("195.50")


def test_limit_sell_fills_at_or_above_its_limit(sim):
    sim.control.seed_positions([{"symbol": "AAPL", "qty": "10"}])
    sim.control.set_price("AAPL", "200")
    order = sim.trading.submit_order(limit(205, side=SELL))

    sim.control.set_price("AAPL", "204.99")
    assert status_of(sim, order) == OrderStatus.NEW
    sim.control.set_price("AAPL", "205")
    assert status_of(sim, order) == OrderStatus.FILLED
    assert cash(sim) == CASH + 2050


def test_stop_sell_triggers_when_the_price_falls_to_the_stop(sim):
    sim.control.seed_positions([{"symbol": "AAPL", "qty": "10"}])
    sim.control.set_price("AAPL", "200")
    order = sim.trading.submit_order(stop(190))

    sim.control.set_price("AAPL", "190.01")
    assert status_of(sim, order) == OrderStatus.NEW

    sim.control.set_price("AAPL", "190")
    filled = refresh(sim, order)
    assert filled.status == OrderStatus.FILLED
    assert d(filled.filled_avg_price) == 190
    with pytest.raises(APIError) as caught:
        sim.trading.get_open_position("AAPL")
    assert caught.value.status_code == 404


def test_stop_limit_triggers_at_the_stop_then_waits_for_its_limit(sim):
    sim.control.seed_positions([{"symbol": "AAPL", "qty": "10"}])
    sim.control.set_price("AAPL", "200")
    order = sim.trading.submit_order(stop_limit(stop_price=190, limit_price=189))

    sim.control.set_price("AAPL", "188")  # stop touched, but below the sell limit
    assert status_of(sim, order) == OrderStatus.NEW
    assert d(refresh(sim, order).filled_qty) == 0

    sim.control.set_price("AAPL", "189.40")  # back above the limit: the triggered order fills
    filled = refresh(sim, order)
    assert filled.status == OrderStatus.FILLED
    assert d(filled.filled_avg_price) == Decimal("189.40")


def test_stop_limit_does_not_fill_above_its_stop_before_triggering(sim):
    sim.control.seed_positions([{"symbol": "AAPL", "qty": "10"}])
    sim.control.set_price("AAPL", "200")
    order = sim.trading.submit_order(stop_limit(stop_price=190, limit_price=189))

    sim.control.set_price("AAPL", "195")  # above the limit, but the stop is untouched
    assert status_of(sim, order) == OrderStatus.NEW
    assert d(refresh(sim, order).filled_qty) == 0


def test_ioc_that_cannot_fill_is_canceled(sim):
    sim.control.set_price("AAPL", "200")

    order = sim.trading.submit_order(limit(190, time_in_force=TimeInForce.IOC))

    done = refresh(sim, order)
    assert done.status == OrderStatus.CANCELED
    assert d(done.filled_qty) == 0
    assert cash(sim) == CASH


def test_ioc_that_can_fill_fills(sim):
    sim.control.set_price("AAPL", "200")

    order = sim.trading.submit_order(limit(201, time_in_force=TimeInForce.IOC))

    done = refresh(sim, order)
    assert (done.status, d(done.filled_qty), d(done.filled_avg_price)) == (
        OrderStatus.FILLED,
        10,
        200,
    )


@pytest.mark.parametrize(
    ("limit_price", "status", "filled"),
    [(201, OrderStatus.FILLED, 10), (199, OrderStatus.CANCELED, 0)],
    ids=["marketable-fills-completely", "unmarketable-is-canceled"],
)
def test_fok_fills_completely_or_not_at_all(sim, limit_price, status, filled):
    sim.control.configure(fill_parts=3, fill_interval_seconds=1)  # no partials for a fok
    sim.control.set_price("AAPL", "200")

    order = sim.trading.submit_order(limit(limit_price, time_in_force=TimeInForce.FOK))

    done = refresh(sim, order)
    assert (done.status, d(done.filled_qty)) == (status, filled)
    assert len(sim.control.fills()) == (1 if filled else 0)


def test_market_order_waits_in_accepted_while_closed_and_fills_at_the_open(sim):
    sim.control.set_market("closed")
    sim.control.set_price("AAPL", "200")

    order = sim.trading.submit_order(market(qty=10))

    assert order.status == OrderStatus.ACCEPTED
    sim.control.advance(3600)
    assert status_of(sim, order) == OrderStatus.ACCEPTED
    assert sim.control.fills() == []

    sim.control.set_price("AAPL", "202")
    sim.control.set_market("open")
    opened = refresh(sim, order)
    assert opened.status == OrderStatus.FILLED
    assert d(opened.filled_avg_price) == 202


def test_opg_order_waits_for_the_open(sim):
    sim.control.set_market("closed")
    order = sim.trading.submit_order(market(qty=5, time_in_force=TimeInForce.OPG))
    assert order.status == OrderStatus.ACCEPTED
    sim.control.advance(600)
    assert status_of(sim, order) == OrderStatus.ACCEPTED

    sim.control.set_price("AAPL", "199")
    sim.control.set_market("open")

    opened = refresh(sim, order)
    assert opened.status == OrderStatus.FILLED
    assert d(opened.filled_avg_price) == 199


@pytest.mark.parametrize(
    ("tif", "after_t0", "outcome"),
    [
        (TimeInForce.OPG, 0, None),  # 10:00 New York: past the 9:28 cut-off
        (TimeInForce.OPG, 9 * HOUR - 60, None),  # 18:59
        (TimeInForce.OPG, 9 * HOUR, OrderStatus.ACCEPTED),  # 19:00: queued for tomorrow
        (TimeInForce.OPG, 22 * HOUR, OrderStatus.ACCEPTED),  # 08:00 next day, pre-open
        (TimeInForce.CLS, 5 * HOUR + 49 * 60, OrderStatus.NEW),  # 15:49
        (TimeInForce.CLS, 5 * HOUR + 50 * 60, None),  # 15:50: past the cut-off
        (TimeInForce.CLS, 9 * HOUR, OrderStatus.ACCEPTED),  # 19:00: for the next close
    ],
    ids=["opg-10:00", "opg-18:59", "opg-19:00", "opg-08:00", "cls-15:49", "cls-15:50", "cls-19:00"],
)
def test_auction_orders_keep_alpacas_submission_cutoffs(sim, api, tif, after_t0, outcome):
    sim.control.set_market("calendar")
    sim.control.advance(after_t0)

    if outcome is None:
        rejection = submit_rejected(sim, api, market(qty=1, time_in_force=tif))
        assert (rejection.status, rejection.code) == (422, 42210000)
        assert all_orders(api) == []
    else:
        assert sim.trading.submit_order(market(qty=1, time_in_force=tif)).status == outcome


def test_opg_order_queued_overnight_fills_at_the_next_open(sim):
    sim.control.set_market("calendar")
    sim.control.advance(9 * HOUR)  # Wednesday 19:00
    order = sim.trading.submit_order(market(qty=5, time_in_force=TimeInForce.OPG))
    sim.control.advance(14 * HOUR + 29 * 60)  # Thursday 09:29
    assert status_of(sim, order) == OrderStatus.ACCEPTED

    sim.control.set_price("AAPL", "198.10")
    sim.control.advance(60)  # 09:30

    opened = refresh(sim, order)
    assert opened.status == OrderStatus.FILLED
    assert d(opened.filled_avg_price) == Decimal("198.10")


def test_limit_on_open_not_reached_at_the_open_is_canceled(sim):
    sim.control.set_market("closed")
    sim.control.set_price("AAPL", "200")
    order = sim.trading.submit_order(limit(190, time_in_force=TimeInForce.OPG))

    sim.control.set_market("open")
    assert status_of(sim, order) == OrderStatus.CANCELED

    sim.control.set_price("AAPL", "185")  # later in the session it must not trade
    assert status_of(sim, order) == OrderStatus.CANCELED
    assert sim.control.fills() == []


def test_cls_order_fills_at_the_close(sim):
    sim.control.set_market("calendar")
    sim.control.set_price("AAPL", "200")
    order = sim.trading.submit_order(market(qty=4, time_in_force=TimeInForce.CLS))

    sim.control.advance(5 * HOUR)  # 15:00 New York
    assert status_of(sim, order) == OrderStatus.NEW
    assert d(refresh(sim, order).filled_qty) == 0

    sim.control.set_price("AAPL", "203.25")
    sim.control.advance(HOUR + 1)  # past 16:00
    closed = refresh(sim, order)
    assert closed.status == OrderStatus.FILLED
    assert d(closed.filled_avg_price) == Decimal("203.25")


def test_limit_on_close_not_reached_at_the_close_is_canceled(sim):
    sim.control.set_market("calendar")
    sim.control.set_price("AAPL", "200")
    order = sim.trading.submit_order(limit(195, time_in_force=TimeInForce.CLS))

    sim.control.set_price("AAPL", "194")  # marketable during the day, but cls waits
    sim.control.advance(5 * HOUR)
    assert status_of(sim, order) == OrderStatus.NEW
    sim.control.set_price("AAPL", "196")
    sim.control.advance(HOUR + 1)  # the close prints above the buy limit

    closed = refresh(sim, order)
    assert closed.status == OrderStatus.CANCELED
    assert d(closed.filled_qty) == 0
    assert cash(sim) == CASH


def test_extended_hours_limit_trades_before_the_open_while_a_regular_one_waits(sim):
    sim.control.set_market("calendar")
    sim.control.advance(22 * HOUR)  # Thursday 08:00 New York, pre-market
    sim.control.set_price("AAPL", "200")

    extended = sim.trading.submit_order(limit(201, qty=1, extended_hours=True))
    regular = sim.trading.submit_order(limit(201, qty=1))

    assert extended.status == OrderStatus.NEW
    assert regular.status == OrderStatus.ACCEPTED
    assert status_of(sim, extended) == OrderStatus.FILLED
    assert status_of(sim, regular) == OrderStatus.ACCEPTED
    sim.control.advance(HOUR + 30 * 60)  # 09:30: the regular session trades the other
    assert status_of(sim, regular) == OrderStatus.FILLED


def test_market_order_placed_after_hours_fills_at_the_next_calendar_open(sim):
    sim.control.set_market("calendar")
    sim.control.advance(7 * HOUR)  # Wednesday 17:00
    order = sim.trading.submit_order(market(qty=2))
    assert order.status == OrderStatus.ACCEPTED

    sim.control.advance(16 * HOUR + 29 * 60)  # Thursday 09:29
    assert status_of(sim, order) == OrderStatus.ACCEPTED
    sim.control.set_price("AAPL", "191")
    sim.control.advance(60)

    opened = refresh(sim, order)
    assert opened.status == OrderStatus.FILLED
    assert d(opened.filled_avg_price) == 191


def test_unfilled_day_order_expires_at_the_close_while_gtc_survives(sim):
    sim.control.set_market("calendar")  # T0 is 10:00 New York, inside the session
    sim.control.set_price("AAPL", "200")
    day_order = sim.trading.submit_order(limit(150, qty=1))
    gtc_order = sim.trading.submit_order(limit(150, qty=1, time_in_force=GTC))

    sim.control.advance(6 * 3600 - 1)  # 15:59:59
    assert status_of(sim, day_order) == OrderStatus.NEW

    sim.control.advance(2)  # 16:00:01
    expired = refresh(sim, day_order)
    assert expired.status == OrderStatus.EXPIRED
    assert expired.expired_at is not None
    assert status_of(sim, gtc_order) == OrderStatus.NEW

    sim.control.set_price("AAPL", "150")  # marketable, but the market is shut overnight
    sim.control.advance(17 * 3600)  # Thursday 09:00:01, before the open
    assert status_of(sim, gtc_order) == OrderStatus.NEW
    sim.control.advance(1800)  # 09:30:01: the next session trades it
    assert status_of(sim, gtc_order) == OrderStatus.FILLED


def test_notional_order_fills_a_fractional_qty(sim):
    sim.control.set_price("AAPL", "189.50")

    order = sim.trading.submit_order(
        MarketOrderRequest(symbol="AAPL", notional=1000, side=BUY, time_in_force=DAY)
    )

    assert order.qty is None
    assert d(order.notional) == 1000
    filled = refresh(sim, order)
    expected = (Decimal(1000) / Decimal("189.50")).quantize(Decimal("1e-9"), rounding=ROUND_DOWN)
    assert filled.status == OrderStatus.FILLED
    assert filled.qty is None
    assert d(filled.filled_qty) == expected == Decimal("5.277044854")
    assert d(filled.filled_avg_price) == Decimal("189.50")
    assert d(sim.trading.get_open_position("AAPL").qty) == expected


def test_fractional_qty_fills_on_a_fractionable_asset(sim):
    sim.control.set_price("AAPL", "200")

    order = sim.trading.submit_order(market(qty=0.25))

    assert d(order.qty) == Decimal("0.25")
    assert d(refresh(sim, order).filled_qty) == Decimal("0.25")
    assert cash(sim) == CASH - 50


# ====================================================================== 4. partial fills
def test_market_order_fills_in_parts_that_sum_to_its_qty(sim, trade_updates):
    sim.control.configure(fill_parts=3, fill_interval_seconds=1)
    prices = [Decimal("200"), Decimal("202"), Decimal("204")]
    sim.control.set_price("AAPL", prices[0])

    order = sim.trading.submit_order(market(qty=10))

    first = refresh(sim, order)
    assert first.status == OrderStatus.PARTIALLY_FILLED
    assert 0 < d(first.filled_qty) < 10
    sim.control.set_price("AAPL", prices[1])
    sim.control.advance(1)
    second = refresh(sim, order)
    assert second.status == OrderStatus.PARTIALLY_FILLED
    assert d(first.filled_qty) < d(second.filled_qty) < 10
    sim.control.set_price("AAPL", prices[2])
    sim.control.advance(1)
    done = refresh(sim, order)
    assert done.status == OrderStatus.FILLED
    assert d(done.filled_qty) == 10

    fills = [f for f in sim.control.fills() if f["order_id"] == str(order.id)]
    assert [Decimal(f["price"]) for f in fills] == prices
    assert sum(Decimal(f["qty"]) for f in fills) == 10
    notional = sum(Decimal(f["qty"]) * Decimal(f["price"]) for f in fills)
    assert d(done.filled_avg_price) == (notional / 10).quantize(Decimal("0.000001"))
    assert cash(sim) == CASH - notional

    events = trade_updates.wait_for(
        lambda ev: any(e.event == "fill" and e.order.id == order.id for e in ev)
    )
    mine = [e for e in events if e.order.id == order.id]
    assert [e.event for e in mine] == ["new", "partial_fill", "partial_fill", "fill"]
    assert sum(d(e.qty) for e in mine if e.qty is not None) == 10
    assert [d(e.position_qty) for e in mine[1:]] == [
        d(first.filled_qty),
        d(second.filled_qty),
        Decimal(10),
    ]


def test_parts_without_an_interval_all_fill_at_once(sim):
    sim.control.configure(fill_parts=3)

    order = sim.trading.submit_order(market(qty=10))

    assert status_of(sim, order) == OrderStatus.FILLED
    fills = [f for f in sim.control.fills() if f["order_id"] == str(order.id)]
    assert len(fills) == 3
    assert sum(Decimal(f["qty"]) for f in fills) == 10


# ============================================================================= 5. cancel
def test_cancel_answers_204_and_the_order_ends_canceled(sim, api):
    order = sim.trading.submit_order(limit(100))

    response = api.delete(f"/v2/orders/{order.id}")

    assert response.status_code == 204
    assert response.content == b""
    canceled = refresh(sim, order)
    assert canceled.status == OrderStatus.CANCELED
    assert canceled.canceled_at is not None
    assert cash(sim) == CASH
    assert d(sim.trading.get_account().buying_power) == CASH


def test_cancel_through_alpaca_py(sim):
    order = sim.trading.submit_order(limit(100))

    assert sim.trading.cancel_order_by_id(order.id) is None

    assert status_of(sim, order) == OrderStatus.CANCELED


def test_cancel_of_a_filled_order_is_422(sim):
    order = sim.trading.submit_order(market(qty=1))
    assert status_of(sim, order) == OrderStatus.FILLED

    with pytest.raises(APIError) as caught:
        sim.trading.cancel_order_by_id(order.id)

    assert (caught.value.status_code, caught.value.code) == (422, 42210000)
    assert "filled" in caught.value.message
    assert status_of(sim, order) == OrderStatus.FILLED


def test_cancel_of_an_unknown_order_is_404(sim):
    with pytest.raises(APIError) as caught:
        sim.trading.cancel_order_by_id(uuid.uuid4())

    assert (caught.value.status_code, caught.value.code) == (404, 40410000)


def test_cancel_sits_in_pending_cancel_until_the_delay_passes(sim, trade_updates):
    sim.control.configure(cancel_delay_seconds=5)
    order = sim.trading.submit_order(limit(100))

    sim.trading.cancel_order_by_id(order.id)

    assert status_of(sim, order) == OrderStatus.PENDING_CANCEL
    sim.control.advance(4)
    assert status_of(sim, order) == OrderStatus.PENDING_CANCEL
    sim.control.advance(1)
    assert status_of(sim, order) == OrderStatus.CANCELED
    events = trade_updates.wait_for(
        lambda ev: any(e.event == "canceled" and e.order.id == order.id for e in ev)
    )
    assert [e.event for e in events if e.order.id == order.id] == [
        "new",
        "pending_cancel",
        "canceled",
    ]


@pytest.mark.parametrize("cancel_delay", [0, 5])
def test_cancel_all_answers_207_with_one_entry_per_open_order(sim, api, cancel_delay):
    sim.control.configure(cancel_delay_seconds=cancel_delay)
    open_orders = [sim.trading.submit_order(limit(100 + i, qty=1)) for i in range(3)]
    filled = sim.trading.submit_order(market(qty=1))

    response = api.delete("/v2/orders")

    assert response.status_code == 207
    body = response.json()
    assert isinstance(body, list)
    assert sorted(entry["id"] for entry in body) == sorted(ids(open_orders))
    for entry in body:
        # The spec's CanceledOrderResponse is {id, status}; a `body` comes only with a failed
        # cancel, as an error (alpaca-py's own tests of cancel_orders, alpaca-py PR #512).
        assert entry == {"id": entry["id"], "status": 200}
    left = {o["status"] for o in all_orders(api) if o["id"] != str(filled.id)}
    if cancel_delay:
        assert left == {"pending_cancel"}
        sim.control.advance(cancel_delay - 1)
        assert {status_of(sim, o) for o in open_orders} == {OrderStatus.PENDING_CANCEL}
        sim.control.advance(1)
    assert {status_of(sim, o) for o in open_orders} == {OrderStatus.CANCELED}
    assert status_of(sim, filled) == OrderStatus.FILLED


def test_cancel_all_parses_in_alpaca_py(sim):
    open_orders = [sim.trading.submit_order(limit(100 + i, qty=1)) for i in range(2)]

    results = sim.trading.cancel_orders()

    assert sorted(str(r.id) for r in results) == sorted(ids(open_orders))
    assert {r.status for r in results} == {200}
    assert {status_of(sim, o) for o in open_orders} == {OrderStatus.CANCELED}
    assert sim.trading.cancel_orders() == []


# ============================================================================ 6. replace
def test_replace_creates_a_new_order_and_marks_the_old_one_replaced(sim, trade_updates):
    sim.control.set_price("AAPL", "200")
    old = sim.trading.submit_order(limit(150, qty=10))

    new = sim.trading.replace_order_by_id(old.id, ReplaceOrderRequest(qty=5, limit_price=160))

    assert new.id != old.id
    assert new.replaces == old.id
    assert (d(new.qty), d(new.limit_price)) == (5, 160)
    assert new.status == OrderStatus.NEW
    assert new.client_order_id != old.client_order_id
    replaced = refresh(sim, old)
    assert replaced.status == OrderStatus.REPLACED
    assert replaced.replaced_by == new.id
    assert replaced.replaced_at is not None
    open_ids = ids(sim.trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN)))
    assert open_ids == [str(new.id)]

    sim.control.set_price("AAPL", "160")  # fills the new order only
    assert status_of(sim, new) == OrderStatus.FILLED
    assert status_of(sim, old) == OrderStatus.REPLACED
    assert d(sim.trading.get_open_position("AAPL").qty) == 5
    trade_updates.wait_for(lambda ev: any(e.event == "replaced" for e in ev))


def test_a_filled_order_cannot_be_replaced(sim):
    sim.control.set_price("AAPL", "200")
    order = sim.trading.submit_order(limit(201, qty=1))
    assert status_of(sim, order) == OrderStatus.FILLED

    with pytest.raises(APIError) as caught:
        sim.trading.replace_order_by_id(order.id, ReplaceOrderRequest(limit_price=202))

    assert (caught.value.status_code, caught.value.code) == (422, 42210000)
    assert status_of(sim, order) == OrderStatus.FILLED
    assert len(sim.trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL))) == 1


# ============================================================================ 7. listing
def _three_orders_a_minute_apart(sim) -> list[Order]:
    placed = []
    for symbol in ("AAPL", "MSFT", "TSLA"):
        placed.append(sim.trading.submit_order(limit(100, symbol=symbol, qty=1)))
        sim.control.advance(60)
    return placed


def test_list_filters_by_open_closed_and_all(sim):
    resting = sim.trading.submit_order(limit(100, qty=1))
    filled = sim.trading.submit_order(market(qty=1))
    canceled = sim.trading.submit_order(limit(101, qty=1))
    sim.trading.cancel_order_by_id(canceled.id)

    def listed(status: QueryOrderStatus | None) -> set[str]:
        query = GetOrdersRequest(status=status) if status else None
        return set(ids(sim.trading.get_orders(query)))

    assert listed(None) == {str(resting.id)}  # open is the default
    assert listed(QueryOrderStatus.OPEN) == {str(resting.id)}
    assert listed(QueryOrderStatus.CLOSED) == {str(filled.id), str(canceled.id)}
    assert listed(QueryOrderStatus.ALL) == {str(resting.id), str(filled.id), str(canceled.id)}


def test_list_limit_defaults_to_50_and_allows_at_most_500(sim, api):
    sim.control.seed_orders(
        [
            {
                "symbol": "AAPL",
                "qty": "1",
                "status": "filled",
                "filled_avg_price": "100",
                "submitted_at": (T0 - timedelta(minutes=i)).isoformat(),
            }
            for i in range(1, 61)
        ]
    )

    assert len(all_orders(api)) == 50
    assert len(all_orders(api, limit=55)) == 55
    assert len(all_orders(api, limit=500)) == 60
    assert len(sim.trading.get_orders(GetOrdersRequest(status="all", limit=7))) == 7
    response = api.get("/v2/orders", params={"status": "all", "limit": 501})
    assert response.status_code == 422
    assert response.json()["code"] == 42210000
    with pytest.raises(APIError) as caught:
        sim.trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=501))
    assert caught.value.status_code == 422


def test_list_direction_orders_by_submission_time(sim):
    placed = ids(_three_orders_a_minute_apart(sim))

    def listed(direction: Sort | None) -> list[str]:
        return ids(sim.trading.get_orders(GetOrdersRequest(direction=direction)))

    assert listed(None) == placed[::-1]  # newest first by default
    assert listed(Sort.DESC) == placed[::-1]
    assert listed(Sort.ASC) == placed


def test_list_after_and_until_bound_the_submission_time(sim):
    first, second, third = ids(_three_orders_a_minute_apart(sim))
    after = T0 + timedelta(seconds=30)
    until = T0 + timedelta(seconds=90)

    def listed(**bounds: Any) -> list[str]:
        query = GetOrdersRequest(status=QueryOrderStatus.ALL, direction=Sort.ASC, **bounds)
        return ids(sim.trading.get_orders(query))

    assert listed(after=after) == [second, third]
    assert listed(until=until) == [first, second]
    assert listed(after=after, until=until) == [second]
    # Both bounds are exclusive: an order submitted exactly at a bound is left out.
    assert listed(after=T0) == [second, third]
    assert listed(until=T0 + timedelta(seconds=60)) == [first]


def test_list_filters_by_symbols(sim):
    aapl, _msft, tsla = _three_orders_a_minute_apart(sim)

    listed = sim.trading.get_orders(GetOrdersRequest(symbols=["AAPL", "TSLA"]))

    assert set(ids(listed)) == {str(aapl.id), str(tsla.id)}
    assert {o.symbol for o in listed} == {"AAPL", "TSLA"}


def test_list_nested_rolls_bracket_legs_under_the_parent(sim, api):
    sim.control.set_price("AAPL", "200")
    parent = sim.trading.submit_order(bracket(take_profit=210, stop_loss=190))
    single = sim.trading.submit_order(limit(100, qty=1))
    leg_ids = set(ids(refresh(sim, parent, nested=True).legs))
    assert len(leg_ids) == 2

    nested = sim.trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, nested=True))
    assert set(ids(nested)) == {str(parent.id), str(single.id)}
    rolled = next(o for o in nested if o.id == parent.id)
    assert set(ids(rolled.legs)) == leg_ids

    flat = sim.trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, nested=False))
    assert set(ids(flat)) == {str(parent.id), str(single.id)} | leg_ids
    assert all(not o.legs for o in flat)

    # Alpaca's query strings carry lowercase booleans; alpaca-py sends them capitalised.
    raw = all_orders(api, nested="true")
    assert set(ids(raw)) == {str(parent.id), str(single.id)}


def test_get_order_nested_includes_the_legs(sim):
    sim.control.set_price("AAPL", "200")
    parent = sim.trading.submit_order(bracket(take_profit=210, stop_loss=190))

    nested = refresh(sim, parent, nested=True)

    assert nested.order_class == OrderClass.BRACKET
    assert len(nested.legs) == 2
    assert {leg.type for leg in nested.legs} == {"limit", "stop"}


def test_get_order_returns_a_brackets_legs_without_nested_too(sim, api):
    """On the single-order route `nested` was never in place (notes/alpaca.md): legs always."""
    sim.control.set_price("AAPL", "200")
    parent = sim.trading.submit_order(bracket(take_profit=210, stop_loss=190))
    leg_ids = set(ids(refresh(sim, parent, nested=True).legs))

    assert set(ids(refresh(sim, parent, nested=False).legs)) == leg_ids
    assert set(ids(sim.trading.get_order_by_id(parent.id).legs)) == leg_ids
    raw = api.get(f"/v2/orders/{parent.id}")
    assert {leg["id"] for leg in raw.json()["legs"]} == leg_ids


# ============================================================================ 8. brackets
def _legs_by_role(order: Order) -> dict[str, Order]:
    return {"take_profit" if leg.type == "limit" else "stop_loss": leg for leg in order.legs}


def test_filled_bracket_entry_releases_both_legs(sim):
    sim.control.set_price("AAPL", "200")

    order = sim.trading.submit_order(bracket(take_profit=210, stop_loss=190))

    assert order.order_class == OrderClass.BRACKET
    assert {leg.status for leg in order.legs} == {OrderStatus.HELD}
    entry = refresh(sim, order, nested=True)
    assert entry.status == OrderStatus.FILLED
    legs = _legs_by_role(entry)
    assert {leg.status for leg in legs.values()} == {OrderStatus.NEW}
    assert {leg.side for leg in legs.values()} == {SELL}
    assert {d(leg.qty) for leg in legs.values()} == {10}
    assert d(legs["take_profit"].limit_price) == 210
    assert d(legs["stop_loss"].stop_price) == 190
    # The exit legs share the position; they do not block each other.
    assert d(sim.trading.get_open_position("AAPL").qty_available) == 0


@pytest.mark.parametrize(
    ("exit_price", "fills", "cancels"),
    [("211", "take_profit", "stop_loss"), ("189", "stop_loss", "take_profit")],
    ids=["take-profit", "stop-loss"],
)
def test_bracket_exit_fills_one_leg_and_cancels_the_other(
    sim, trade_updates, exit_price, fills, cancels
):
    sim.control.set_price("AAPL", "200")
    order = sim.trading.submit_order(bracket(take_profit=210, stop_loss=190))
    legs = _legs_by_role(refresh(sim, order, nested=True))
    sim.control.set_price("AAPL", "205")  # between the legs: nothing happens
    assert {status_of(sim, leg) for leg in legs.values()} == {OrderStatus.NEW}

    sim.control.set_price("AAPL", exit_price)

    after = _legs_by_role(refresh(sim, order, nested=True))
    assert after[fills].status == OrderStatus.FILLED
    assert d(after[fills].filled_avg_price) == d(exit_price)
    assert after[cancels].status == OrderStatus.CANCELED
    assert sim.trading.get_all_positions() == []
    assert cash(sim) == CASH - 2000 + 10 * d(exit_price)

    filled_leg, canceled_leg = legs[fills].id, legs[cancels].id
    events = trade_updates.wait_for(
        lambda ev: (
            any(e.event == "fill" and e.order.id == filled_leg for e in ev)
            and any(e.event == "canceled" and e.order.id == canceled_leg for e in ev)
        )
    )
    leg_fill = next(e for e in events if e.event == "fill" and e.order.id == filled_leg)
    assert (d(leg_fill.price), d(leg_fill.qty), d(leg_fill.position_qty)) == (
        d(exit_price),
        10,
        0,
    )
    assert [e.event for e in events if e.order.id == canceled_leg] == ["new", "canceled"]


def test_canceling_an_unfilled_bracket_cancels_its_held_legs(sim):
    sim.control.set_price("AAPL", "200")
    order = sim.trading.submit_order(
        LimitOrderRequest(
            symbol="AAPL",
            qty=10,
            side=BUY,
            time_in_force=DAY,
            limit_price=195,
            order_class=OrderClass.BRACKET,
            take_profit=TakeProfitRequest(limit_price=205),
            stop_loss=StopLossRequest(stop_price=185),
        )
    )
    assert {leg.status for leg in refresh(sim, order, nested=True).legs} == {OrderStatus.HELD}

    sim.trading.cancel_order_by_id(order.id)

    after = refresh(sim, order, nested=True)
    assert after.status == OrderStatus.CANCELED
    assert {leg.status for leg in after.legs} == {OrderStatus.CANCELED}


def test_bracket_with_gtc_is_accepted(sim):
    sim.control.set_price("AAPL", "200")

    order = sim.trading.submit_order(bracket(take_profit=210, stop_loss=190, time_in_force=GTC))

    entry = refresh(sim, order, nested=True)
    assert entry.status == OrderStatus.FILLED
    assert {leg.time_in_force for leg in entry.legs} == {GTC}


BRACKET_REJECTIONS = [
    ("take profit below base", bracket(take_profit=195, stop_loss=190), "take_profit"),
    ("stop loss above base", bracket(take_profit=210, stop_loss=205), "stop_loss"),
    (
        "ioc",
        bracket(take_profit=210, stop_loss=190, time_in_force=TimeInForce.IOC),
        "DAY or GTC",
    ),
    (
        "extended hours",
        LimitOrderRequest(
            symbol="AAPL",
            qty=10,
            side=BUY,
            time_in_force=DAY,
            limit_price=200,
            extended_hours=True,
            order_class=OrderClass.BRACKET,
            take_profit=TakeProfitRequest(limit_price=210),
            stop_loss=StopLossRequest(stop_price=190),
        ),
        "extended hours",
    ),
    (
        "missing stop_loss",
        raw_order(qty="10", order_class="bracket", take_profit={"limit_price": "210"}),
        "stop_loss",
    ),
]


@pytest.mark.parametrize(
    ("request_", "fragment"), [pytest.param(*case[1:], id=case[0]) for case in BRACKET_REJECTIONS]
)
def test_bracket_rule_violation_is_refused(sim, api, request_, fragment):
    sim.control.set_price("AAPL", "200")

    rejection = submit_rejected(sim, api, request_)

    assert (rejection.status, rejection.code) == (422, 42210000)
    assert fragment.lower() in rejection.message.lower()
    assert all_orders(api) == []
    assert cash(sim) == CASH


# ========================================================================= 9. market data
def test_latest_trade_price_is_the_price_set(sim):
    sim.control.set_price("AAPL", "201.23")

    trades = sim.data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="AAPL"))

    assert d(trades["AAPL"].price) == Decimal("201.23")
    assert trades["AAPL"].timestamp == T0


def test_latest_data_for_several_symbols_parses(sim):
    sim.control.set_price("AAPL", "201.23")
    sim.control.set_price("MSFT", "410.50")
    symbols = ["AAPL", "MSFT"]

    trades = sim.data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols=symbols))
    quotes = sim.data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols=symbols))
    snapshots = sim.data.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols=symbols))

    expected = {"AAPL": Decimal("201.23"), "MSFT": Decimal("410.50")}
    assert {s: d(t.price) for s, t in trades.items()} == expected
    for symbol, price in expected.items():
        quote = quotes[symbol]
        assert d(quote.bid_price) < price < d(quote.ask_price)
        assert quote.bid_size > 0 and quote.ask_size > 0
        snapshot = snapshots[symbol]
        assert d(snapshot.latest_trade.price) == price
        assert d(snapshot.minute_bar.close) == price
        assert d(snapshot.daily_bar.low) <= price <= d(snapshot.daily_bar.high)
        assert snapshot.previous_daily_bar is not None


def test_single_symbol_quote_and_snapshot_parse(sim):
    sim.control.set_price("NVDA", "120.40")

    quote = sim.data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="NVDA"))
    snapshot = sim.data.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols="NVDA"))

    assert d(quote["NVDA"].bid_price) < Decimal("120.40") < d(quote["NVDA"].ask_price)
    assert d(snapshot["NVDA"].latest_trade.price) == Decimal("120.40")


def test_single_symbol_routes_answer_in_alpacas_shape(sim, api):
    sim.control.set_price("AAPL", "201.23")

    trade = api.get("/v2/stocks/AAPL/trades/latest")
    quote = api.get("/v2/stocks/AAPL/quotes/latest")
    snapshot = api.get("/v2/stocks/AAPL/snapshot")

    assert trade.status_code == quote.status_code == snapshot.status_code == 200
    trade_body = trade.json()
    assert trade_body["symbol"] == "AAPL"
    assert {"t", "p", "s", "x", "i", "c", "z"} <= set(trade_body["trade"])
    assert Decimal(str(trade_body["trade"]["p"])) == Decimal("201.23")
    quote_body = quote.json()
    assert quote_body["symbol"] == "AAPL"
    assert {"t", "ap", "as", "bp", "bs", "ax", "bx"} <= set(quote_body["quote"])
    snapshot_body = snapshot.json()
    assert snapshot_body["symbol"] == "AAPL"
    assert {"latestTrade", "latestQuote", "minuteBar", "dailyBar", "prevDailyBar"} <= set(
        snapshot_body
    )
    assert Decimal(str(snapshot_body["latestTrade"]["p"])) == Decimal("201.23")


@pytest.mark.parametrize("route", ["trades/latest", "quotes/latest", "snapshot"])
def test_unknown_symbol_market_data_is_a_client_error(api, route):
    response = api.get(f"/v2/stocks/ZZZZQ/{route}")

    assert 400 <= response.status_code < 500
    assert "message" in response.json()


def test_unknown_symbol_market_data_raises_in_alpaca_py(sim):
    with pytest.raises(APIError) as caught:
        sim.data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="ZZZZQ"))

    assert 400 <= caught.value.status_code < 500


def test_a_seeded_open_order_is_history_and_never_breaks_trading(sim):
    """Seeded orders are kept verbatim: one seeded as resting is listed as open, but the
    matching engine never works it (it used to crash on its missing prices: 500s)."""
    [seeded] = sim.control.seed_orders(
        [{"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "limit_price": "100",
          "time_in_force": "gtc", "status": "new"}]
    )  # fmt: skip
    placed = sim.trading.submit_order(
        MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    assert sim.trading.get_order_by_id(placed.id).status.value == "filled"
    open_ids = [str(o.id) for o in sim.trading.get_orders(GetOrdersRequest(status="open"))]
    assert open_ids == [seeded["id"]]
    assert sim.trading.get_all_positions()[0].qty == "1"


def test_order_ids_are_never_reused_after_a_reset_with_the_same_seed(sim):
    """Alpaca never reuses an order id: an OMS database that outlives a simulator run (`oms up`
    started again) must not meet an id it already holds (its broker_order_id is unique)."""

    def place() -> str:
        order = sim.trading.submit_order(
            MarketOrderRequest(
                symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            )
        )
        return str(order.id)

    first = place()
    sim.control.reset(seed=42)
    second = place()
    sim.control.reset(seed=42)
    assert len({first, second, place()}) == 3

"""The simulator's trade_updates websocket and its fault injection, as clients see them.

Raw websocket clients check Alpaca's handshake and frame format; alpaca-py's TradingStream
checks that every event parses and that stream faults (drops, duplicates, reordering) look like
the real thing; alpaca-py's TradingClient checks the HTTP faults the OMS gateway must survive.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.requests import StockLatestTradeRequest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.models import Order, TradeUpdate
from alpaca.trading.requests import (
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
)
from requests.adapters import HTTPAdapter
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.waiting import wait_until

FAULT_STATUSES = [429, 500, 502, 503, 504]

# The order status an event's embedded order must show at the moment of that event.
STATUS_OF_EVENT = {
    "new": OrderStatus.NEW,
    "partial_fill": OrderStatus.PARTIALLY_FILLED,
    "fill": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "replaced": OrderStatus.REPLACED,
    "rejected": OrderStatus.REJECTED,
    "pending_cancel": OrderStatus.PENDING_CANCEL,
}


# ------------------------------------------------------------------------------------ helpers
def _market(sim, symbol: str = "AAPL", qty: int = 10, side=OrderSide.BUY, **extra) -> Order:
    return sim.trading.submit_order(
        MarketOrderRequest(
            symbol=symbol, qty=qty, side=side, time_in_force=TimeInForce.DAY, **extra
        )
    )


def _resting_limit(sim, symbol: str = "AAPL", qty: int = 5) -> Order:
    """A buy limit far below the market: it rests as `new`."""
    return sim.trading.submit_order(
        LimitOrderRequest(
            symbol=symbol,
            qty=qty,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            limit_price=50,
        )
    )


def _all_orders(client: TradingClient) -> list[Order]:
    return client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL))


def _has(order_id: Any, *names: str) -> Callable[[list[Any]], bool]:
    """A wait_for predicate: the order's events include every name given (with repeats)."""

    def check(events: list[Any]) -> bool:
        seen = [str(e.event) for e in events if str(e.order.id) == str(order_id)]
        return all(seen.count(n) >= list(names).count(n) for n in names)

    return check


def _events_of(events: list[Any], order_id: Any) -> list[Any]:
    return [e for e in events if str(e.order.id) == str(order_id)]


def _coid() -> str:
    return f"test-{uuid.uuid4().hex[:20]}"


# --------------------------------------------------------------- 1. the raw websocket handshake
async def _recv_json(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(raw, bytes), f"Alpaca sends binary frames; got {type(raw).__name__}"
    return json.loads(raw)


async def _authenticate(ws: ClientConnection, key_id: str, secret: str) -> dict[str, Any]:
    await ws.send(
        json.dumps({"action": "authenticate", "data": {"key_id": key_id, "secret_key": secret}})
    )
    return await _recv_json(ws)


async def _listen(ws: ClientConnection) -> dict[str, Any]:
    await ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
    return await _recv_json(ws)


async def _next_trade_update(ws: ClientConnection) -> dict[str, Any]:
    while True:
        message = await _recv_json(ws)
        if message.get("stream") == "trade_updates":
            return message


def test_raw_handshake_authorizes_listens_and_streams_new_then_fill(sim):
    sim.control.configure(max_step_bps=0)
    sim.control.set_price("AAPL", "190.25")

    async def scenario() -> tuple[dict, dict, dict, dict, Order]:
        async with connect(sim.stream_url) as ws:
            auth = await _authenticate(ws, sim.key_id, sim.secret_key)
            listening = await _listen(ws)
            order = await asyncio.to_thread(_market, sim, "AAPL", 7)
            new = await _next_trade_update(ws)
            fill = await _next_trade_update(ws)
            return auth, listening, new, fill, order

    auth, listening, new, fill, order = asyncio.run(scenario())

    assert auth == {
        "stream": "authorization",
        "data": {"action": "authenticate", "status": "authorized"},
    }
    assert listening == {"stream": "listening", "data": {"streams": ["trade_updates"]}}

    assert new["data"]["event"] == "new"
    assert new["data"]["order"]["id"] == str(order.id)
    assert new["data"]["order"]["status"] == "new"

    data = fill["data"]
    assert data["event"] == "fill"
    for key in ("execution_id", "price", "qty", "position_qty", "timestamp"):
        assert isinstance(data[key], str), f"{key} must be a JSON string, got {data[key]!r}"
    uuid.UUID(data["execution_id"])
    assert Decimal(data["price"]) == Decimal("190.25")
    assert Decimal(data["qty"]) == 7
    assert Decimal(data["position_qty"]) == 7
    # The full order, as GET /v2/orders/{id} would show it, parseable by alpaca-py.
    streamed = Order(**data["order"])
    assert streamed.id == order.id
    assert streamed.status == OrderStatus.FILLED
    assert Decimal(streamed.filled_qty) == 7
    assert Decimal(streamed.filled_avg_price) == Decimal("190.25")
    assert streamed.client_order_id == order.client_order_id
    assert data["order"] == httpx.get(f"{sim.url}/v2/orders/{order.id}", headers=sim.headers).json()


def test_raw_wrong_keys_are_unauthorized_and_the_socket_closes(sim):
    async def scenario() -> tuple[dict, bool]:
        async with connect(sim.stream_url) as ws:
            auth = await _authenticate(ws, sim.key_id, "not-the-secret")
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except ConnectionClosed:
                return auth, True
            return auth, False

    auth, closed = asyncio.run(scenario())
    assert auth == {
        "stream": "authorization",
        "data": {"action": "authenticate", "status": "unauthorized"},
    }
    assert closed, "the server must close the socket after a failed authentication"
    assert sim.control.state()["stream_listeners"] == 0


def test_raw_listen_before_auth_is_refused_and_gets_no_events(sim):
    """A witness connection that did the handshake properly proves the events were sent."""

    async def scenario() -> tuple[dict, list[dict]]:
        async with connect(sim.stream_url) as early, connect(sim.stream_url) as witness:
            refused = await _listen(early)
            await _authenticate(witness, sim.key_id, sim.secret_key)
            await _listen(witness)

            first = await asyncio.to_thread(_market, sim, "AAPL", 1)
            while (await _next_trade_update(witness))["data"]["event"] != "fill":
                pass
            # Authenticating later does not turn on a listen that was refused.
            after_auth = [await _authenticate(early, sim.key_id, sim.secret_key)]
            second = await asyncio.to_thread(_market, sim, "MSFT", 1)
            while (await _next_trade_update(witness))["data"]["event"] != "fill":
                pass
            # The next frame on `early` is the reply to this request, not a trade update.
            await early.send(json.dumps({"action": "no_such_action"}))
            after_auth.append(await _recv_json(early))
            assert first.id != second.id
            return refused, after_auth

    refused, replies = asyncio.run(scenario())
    assert refused["stream"] != "trade_updates"
    assert "trade_updates" not in refused["data"].get("streams", [])
    assert refused["data"].get("error"), f"a listen before auth must be an error: {refused}"
    assert replies[0]["data"]["status"] == "authorized"
    assert replies[1]["stream"] == "error"
    assert all(r["stream"] != "trade_updates" for r in replies)


# ------------------------------------------------------- 2. every event type via alpaca-py
def _scenario_new_fill(sim) -> list[tuple[str, list[str]]]:
    order = _market(sim, qty=3)
    return [(str(order.id), ["new", "fill"])]


def _scenario_partial_fills(sim) -> list[tuple[str, list[str]]]:
    sim.control.configure(fill_parts=3, fill_interval_seconds=5)
    order = _market(sim, qty=9)
    sim.control.advance(5)
    sim.control.advance(5)
    return [(str(order.id), ["new", "partial_fill", "partial_fill", "fill"])]


def _scenario_cancel(sim) -> list[tuple[str, list[str]]]:
    order = _resting_limit(sim)
    sim.trading.cancel_order_by_id(order.id)
    return [(str(order.id), ["new", "pending_cancel", "canceled"])]


def _scenario_slow_cancel(sim) -> list[tuple[str, list[str]]]:
    sim.control.configure(cancel_delay_seconds=30)
    order = _resting_limit(sim)
    sim.trading.cancel_order_by_id(order.id)
    assert sim.trading.get_order_by_id(order.id).status == OrderStatus.PENDING_CANCEL
    sim.control.advance(30)
    return [(str(order.id), ["new", "pending_cancel", "canceled"])]


def _scenario_expire_at_close(sim) -> list[tuple[str, list[str]]]:
    sim.control.set_market("calendar")
    sim.control.configure(max_step_bps=0)
    order = _resting_limit(sim)
    sim.control.advance(6 * 3600 + 1)  # 10:00 -> 16:00:01 New York
    return [(str(order.id), ["new", "expired"])]


def _scenario_replace(sim) -> list[tuple[str, list[str]]]:
    old = _resting_limit(sim)
    new = sim.trading.replace_order_by_id(old.id, ReplaceOrderRequest(limit_price=55))
    return [(str(old.id), ["new", "replaced"]), (str(new.id), ["new"])]


def _scenario_reject(sim) -> list[tuple[str, list[str]]]:
    sim.control.add_fault("POST /v2/orders", "reject")
    order = _market(sim, qty=2)
    return [(str(order.id), ["new", "rejected"])]


@pytest.mark.parametrize(
    "scenario",
    [
        _scenario_new_fill,
        _scenario_partial_fills,
        _scenario_cancel,
        _scenario_slow_cancel,
        _scenario_expire_at_close,
        _scenario_replace,
        _scenario_reject,
    ],
    ids=lambda f: f.__name__.removeprefix("_scenario_"),
)
def test_every_trade_event_parses_into_trade_update_with_matching_order_status(
    sim, trade_updates, scenario
):
    expected = scenario(sim)
    events = trade_updates.wait_for(
        lambda ev: all(_has(order_id, *names)(ev) for order_id, names in expected)
    )
    for order_id, names in expected:
        mine = _events_of(events, order_id)
        assert [str(e.event) for e in mine] == names
        for update in mine:
            assert isinstance(update, TradeUpdate)
            assert update.order.status == STATUS_OF_EVENT[str(update.event)]
            assert update.timestamp is not None
            if update.event in ("fill", "partial_fill"):
                assert update.execution_id is not None
                assert update.price is not None and update.qty is not None
            else:
                assert update.price is None and update.qty is None


def test_rejected_order_never_trades(sim, trade_updates):
    sim.control.add_fault("POST /v2/orders", "reject")
    order = _market(sim, qty=2)
    trade_updates.wait_for(_has(order.id, "rejected"))
    assert sim.trading.get_order_by_id(order.id).status == OrderStatus.REJECTED
    assert sim.trading.get_all_positions() == []
    assert sim.control.fills() == []


@pytest.mark.parametrize(
    ("side", "expected_positions"), [(OrderSide.BUY, [13, 16, 19]), (OrderSide.SELL, [7, 4, 1])]
)
def test_each_fill_reports_its_own_execution_and_the_position_after_it(
    sim, trade_updates, side, expected_positions
):
    sim.control.seed_positions([{"symbol": "AAPL", "qty": "10", "avg_entry_price": "180"}])
    sim.control.configure(fill_parts=3, fill_interval_seconds=5, max_step_bps=0)
    sim.control.set_price("AAPL", "190.50")
    order = _market(sim, qty=9, side=side)
    sim.control.advance(5)
    sim.control.advance(5)

    events = trade_updates.wait_for(_has(order.id, "fill"))
    fills = [e for e in _events_of(events, order.id) if e.event in ("partial_fill", "fill")]
    assert [str(e.event) for e in fills] == ["partial_fill", "partial_fill", "fill"]
    assert len({e.execution_id for e in fills}) == 3
    assert sum(Decimal(str(e.qty)) for e in fills) == 9
    assert [Decimal(str(e.position_qty)) for e in fills] == expected_positions
    assert all(Decimal(str(e.price)) == Decimal("190.50") for e in fills)
    cumulative = [Decimal(e.order.filled_qty) for e in fills]
    assert cumulative == [3, 6, 9]
    assert Decimal(sim.trading.get_open_position("AAPL").qty) == expected_positions[-1]
    # The same executions the broker keeps, one for one.
    broker_fills = {f["execution_id"]: f for f in sim.control.fills()}
    assert {str(e.execution_id) for e in fills} == set(broker_fills)


# ----------------------------------------------------------------------- 3. stream faults
def test_trading_stream_reconnects_by_itself_after_a_drop_and_gets_new_events(sim, trade_updates):
    before = _market(sim, qty=1)
    trade_updates.wait_for(_has(before.id, "fill"))
    connections = sim.control.state()["stream_connections_total"]

    assert sim.control.stream_disconnect() == 1
    # Events published while nobody listens are gone for good: Alpaca does not replay them.
    lost = _market(sim, "MSFT", qty=1)
    assert sim.control.state()["stream_connections_total"] == connections, (
        "precondition: alpaca-py's backoff (>= 0.5 s) has not reconnected yet"
    )

    def reconnected() -> bool:
        state = sim.control.state()
        return state["stream_connections_total"] > connections and state["stream_listeners"] == 1

    wait_until(reconnected, timeout=8, what="alpaca-py's TradingStream to reconnect")
    after = _market(sim, "NVDA", qty=1)
    events = trade_updates.wait_for(_has(after.id, "new", "fill"))
    assert trade_updates.of(after.id) == ["new", "fill"]
    assert _events_of(events, lost.id) == []
    assert sim.trading.get_order_by_id(lost.id).status == OrderStatus.FILLED


def test_duplicate_fault_delivers_the_next_two_events_twice(sim, trade_updates):
    sim.control.stream_faults(duplicate=2)
    first = _market(sim, qty=2)
    second = _market(sim, "MSFT", qty=1)
    events = trade_updates.wait_for(_has(second.id, "fill"))

    assert trade_updates.of(first.id) == ["new", "new", "fill", "fill"]
    fills = [e for e in _events_of(events, first.id) if e.event == "fill"]
    assert fills[0].execution_id == fills[1].execution_id
    assert fills[0].model_dump() == fills[1].model_dump()
    assert trade_updates.of(second.id) == ["new", "fill"]  # only the next two
    assert len(sim.control.fills()) == 2


def test_reorder_fault_delivers_the_next_two_events_in_reverse(sim, trade_updates):
    sim.control.stream_faults(reorder=2)
    first = _market(sim, qty=2)
    second = _market(sim, "MSFT", qty=1)
    trade_updates.wait_for(_has(second.id, "fill"))

    assert trade_updates.of(first.id) == ["fill", "new"]
    assert trade_updates.of(second.id) == ["new", "fill"]


# ------------------------------------------------------------------------- 4. HTTP faults
@pytest.mark.parametrize("status", FAULT_STATUSES)
def test_status_fault_answers_the_next_n_calls_on_its_route_then_recovers(sim, status):
    sim.control.add_fault("GET /v2/account", "status", status=status, count=2)
    for _ in range(2):
        with pytest.raises(APIError) as error:
            sim.trading.get_account()
        assert error.value.status_code == status
        # Other routes are untouched while the fault is armed.
        assert sim.trading.get_clock().is_open
    account = sim.trading.get_account()
    assert Decimal(account.cash) == Decimal("100000")
    assert sim.control.state()["faults"] == []


def test_wildcard_fault_hits_every_broker_route_but_not_the_control_api(sim):
    sim.control.add_fault("*", "status", status=503, count=3)
    # Control calls neither fail nor use up the fault.
    sim.control.set_price("AAPL", "200")
    assert sim.control.state()["faults"][0]["count"] == 3

    with pytest.raises(APIError) as account_error:
        sim.trading.get_account()
    with pytest.raises(APIError) as orders_error:
        _market(sim, qty=1)
    with pytest.raises(APIError) as data_error:
        sim.data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="AAPL"))
    assert {e.value.status_code for e in (account_error, orders_error, data_error)} == {503}
    assert sim.trading.get_clock().is_open
    assert _all_orders(sim.trading) == []


@pytest.mark.parametrize("status", FAULT_STATUSES)
def test_failed_submit_places_nothing(sim, trade_updates, status):
    sim.control.add_fault("POST /v2/orders", "status", status=status, count=1)
    with pytest.raises(APIError) as error:
        _market(sim, qty=1)
    assert error.value.status_code == status
    assert _all_orders(sim.trading) == []

    retried = _market(sim, qty=1)
    trade_updates.wait_for(_has(retried.id, "fill"))
    assert [o.id for o in _all_orders(sim.trading)] == [retried.id]
    assert {str(e.order.id) for e in trade_updates.events} == {str(retried.id)}


def test_alpaca_py_own_retry_rides_out_429_and_504_but_not_500(sim):
    client = sim.trading_client()
    client._retry = 3
    client._retry_wait = 0  # alpaca-py would sleep 3 s between tries
    sim.control.add_fault("POST /v2/orders", "status", status=429, count=1)
    sim.control.add_fault("POST /v2/orders", "status", status=504, count=1)
    order = client.submit_order(
        MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    assert sim.control.counters()["POST /v2/orders"] == 3
    assert [o.id for o in _all_orders(client)] == [order.id]

    sim.control.add_fault("GET /v2/account", "status", status=500, count=1)
    with pytest.raises(APIError) as error:
        client.get_account()
    assert error.value.status_code == 500
    assert sim.control.counters()["GET /v2/account"] == 1


# ------------------------------------------------------------- 5. accept, then drop the reply
def test_dropped_submit_reply_still_places_exactly_one_order_and_a_retry_cannot_double(
    sim, trade_updates
):
    sim.control.add_fault("POST /v2/orders", "drop_reply")
    client_order_id = _coid()
    with pytest.raises(requests.exceptions.RequestException) as error:
        _market(sim, qty=4, client_order_id=client_order_id)
    assert not isinstance(error.value, APIError)
    assert "Connection broken" in str(error.value)

    placed = sim.trading.get_order_by_client_id(client_order_id)
    trade_updates.wait_for(_has(placed.id, "fill"))
    assert sim.trading.get_order_by_id(placed.id).status == OrderStatus.FILLED
    assert [o.id for o in _all_orders(sim.trading)] == [placed.id]

    with pytest.raises(APIError) as duplicate:
        _market(sim, qty=4, client_order_id=client_order_id)
    assert duplicate.value.status_code == 422
    assert duplicate.value.code == 40010001
    assert duplicate.value.message == "client_order_id must be unique"
    assert len(_all_orders(sim.trading)) == 1
    assert Decimal(sim.trading.get_open_position("AAPL").qty) == 4


def test_dropped_cancel_reply_still_cancels(sim, trade_updates):
    order = _resting_limit(sim)
    sim.control.add_fault("DELETE /v2/orders/{order_id}", "drop_reply")
    with pytest.raises(requests.exceptions.RequestException) as error:
        sim.trading.cancel_order_by_id(order.id)
    assert not isinstance(error.value, APIError)

    trade_updates.wait_for(_has(order.id, "canceled"))
    assert sim.trading.get_order_by_id(order.id).status == OrderStatus.CANCELED
    # A blind retry learns the order is already closed.
    with pytest.raises(APIError) as retry:
        sim.trading.cancel_order_by_id(order.id)
    assert retry.value.status_code == 422


# ------------------------------------------------------------------------ 6. a hung reply
class _TimeoutAdapter(HTTPAdapter):
    """Gives every request a default timeout (alpaca-py sets none): how the gateway does it."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        super().__init__()

    def send(self, request, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def test_hung_submit_times_out_the_client_while_the_order_exists(sim):
    client = sim.trading_client()
    client._session.mount("http://", _TimeoutAdapter(0.3))
    sim.control.add_fault("POST /v2/orders", "hang_reply", hold_seconds=2)
    client_order_id = _coid()

    with pytest.raises(requests.exceptions.Timeout):
        client.submit_order(
            MarketOrderRequest(
                symbol="AAPL",
                qty=3,
                side=OrderSide.BUY,
                time_in_force=TimeInForce.DAY,
                client_order_id=client_order_id,
            )
        )

    placed = client.get_order_by_client_id(client_order_id)
    assert placed.status == OrderStatus.FILLED
    assert [o.id for o in _all_orders(client)] == [placed.id]


# ----------------------------------------------------------------------------- 7. latency
def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


def test_latency_fault_delays_one_call_without_changing_its_result(sim):
    sim.control.add_fault("POST /v2/orders", "latency", latency_ms=50, count=1)
    client_order_id = _coid()
    order, elapsed = _timed(lambda: _market(sim, qty=2, client_order_id=client_order_id))
    assert elapsed >= 0.05
    assert order.client_order_id == client_order_id
    assert order.status == OrderStatus.NEW
    assert sim.trading.get_order_by_id(order.id).status == OrderStatus.FILLED
    assert sim.control.state()["faults"] == []  # used up


def test_latency_fault_stacks_with_a_status_fault(sim):
    sim.control.add_fault("GET /v2/account", "latency", latency_ms=50, count=1)
    sim.control.add_fault("GET /v2/account", "status", status=502, count=1)
    start = time.monotonic()
    with pytest.raises(APIError) as error:
        sim.trading.get_account()
    assert error.value.status_code == 502
    assert time.monotonic() - start >= 0.05


def test_configured_latency_applies_to_every_broker_call(sim):
    sim.control.configure(latency_ms=50)
    clock, clock_elapsed = _timed(sim.trading.get_clock)
    positions, positions_elapsed = _timed(sim.trading.get_all_positions)
    assert clock.is_open and positions == []
    assert clock_elapsed >= 0.05
    assert positions_elapsed >= 0.05


# -------------------------------------------------------------------------- 8. rate limit
def test_rate_limit_refuses_calls_past_the_budget_until_the_minute_passes(sim):
    sim.control.configure(rate_limit_per_minute=3)
    sim.trading.get_account()
    sim.trading.get_clock()
    _market(sim, qty=1)
    with pytest.raises(APIError) as error:
        sim.trading.get_account()
    assert error.value.status_code == 429
    with pytest.raises(APIError):
        _market(sim, qty=1)  # every broker route shares the per-key budget

    sim.control.advance(59)
    with pytest.raises(APIError):
        sim.trading.get_account()
    sim.control.advance(1)
    assert Decimal(sim.trading.get_account().cash) < Decimal("100000")
    assert len(_all_orders(sim.trading)) == 1


# ---------------------------------------------------------------------------- 9. counters
def test_counters_count_exactly_the_broker_calls_made_per_route(sim):
    orders = [_market(sim, qty=1) for _ in range(3)]
    sim.trading.get_order_by_id(orders[0].id)
    sim.trading.get_order_by_id(orders[2].id)
    sim.control.state()  # control calls are not broker calls

    assert sim.control.counters() == {"POST /v2/orders": 3, "GET /v2/orders/{order_id}": 2}

    sim.control.reset_counters()
    assert sim.control.counters() == {}


def test_counters_include_calls_refused_by_faults_and_the_rate_limit(sim):
    sim.control.configure(rate_limit_per_minute=2)
    sim.control.add_fault("GET /v2/account", "status", status=503, count=1)
    with pytest.raises(APIError) as faulted:
        sim.trading.get_account()
    sim.trading.get_account()
    with pytest.raises(APIError) as limited:
        sim.trading.get_account()
    assert (faulted.value.status_code, limited.value.status_code) == (503, 429)
    assert sim.control.counters() == {"GET /v2/account": 3}

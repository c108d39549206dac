"""The `process_late` fault: the broker takes a request in, holds it unprocessed while the client
gives up, then processes it anyway (an order placed after the OMS stopped waiting).

Only the client's own socket timeout (0.2 s) is real time; the hold ends on a release or on the
simulator's manual clock, and waits are bounded waits on events and state."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
from alpaca.trading.models import Order
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest
from requests.adapters import HTTPAdapter

from tests.conftest import T0, Sim
from tests.waiting import wait_until

CLIENT_TIMEOUT = 0.2  # seconds: how long the impatient client waits for a reply


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request a default timeout (alpaca-py sets none), as the OMS gateway does."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        super().__init__()

    def send(self, request, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def impatient_client(sim: Sim) -> TradingClient:
    client = sim.trading_client()
    client._session.mount("http://", _TimeoutAdapter(CLIENT_TIMEOUT))
    return client


def market_buy(client_order_id: str, qty: int = 3) -> MarketOrderRequest:
    return MarketOrderRequest(
        symbol="AAPL",
        qty=qty,
        side=OrderSide.BUY,
        time_in_force=TimeInForce.DAY,
        client_order_id=client_order_id,
    )


def coid() -> str:
    return f"late-{uuid.uuid4().hex[:16]}"


def submit_and_give_up(sim: Sim, client_order_id: str) -> None:
    """Submit through an impatient client, which times out while the request is held."""
    with pytest.raises(requests.exceptions.Timeout):
        impatient_client(sim).submit_order(market_buy(client_order_id))


def assert_not_placed(sim: Sim, client_order_id: str) -> None:
    with pytest.raises(APIError) as missing:
        sim.trading.get_order_by_client_id(client_order_id)
    assert missing.value.status_code == 404


def events_of(events: list[Any], order_id: Any) -> list[str]:
    return [str(e.event) for e in events if str(e.order.id) == str(order_id)]


def has_fill(order_id: Any) -> Callable[[list[Any]], bool]:
    return lambda events: "fill" in events_of(events, order_id)


class InBackground:
    """A call made from another thread (a client that keeps waiting), with its outcome."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self.result = call()
        except BaseException as error:
            self.error = error

    def join(self) -> None:
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "the waiting client never got an answer"


# ---------------------------------------------------------------------------- the fault
def test_a_held_order_is_placed_after_the_client_gave_up_once_released(sim, trade_updates):
    sim.control.add_fault("POST /v2/orders", "process_late")
    client_order_id = coid()

    submit_and_give_up(sim, client_order_id)

    assert sim.control.held_requests() == 1
    assert_not_placed(sim, client_order_id)
    assert sim.trading.get_all_positions() == []

    assert sim.control.release_held() == 1

    placed = sim.trading.get_order_by_client_id(client_order_id)
    events = trade_updates.wait_for(has_fill(placed.id))
    assert events_of(events, placed.id) == ["new", "fill"]
    assert sim.trading.get_order_by_id(placed.id).status == OrderStatus.FILLED
    assert sim.trading.get_open_position("AAPL").qty == "3"
    assert sim.control.held_requests() == 0
    assert sim.control.state()["faults"] == []  # one request used it up


def test_a_client_still_waiting_gets_the_reply_when_its_request_is_released(sim):
    sim.control.add_fault("POST /v2/orders", "process_late")
    client_order_id = coid()

    waiting = InBackground(lambda: sim.trading_client().submit_order(market_buy(client_order_id)))
    wait_until(lambda: sim.control.held_requests() == 1, what="the submit to be held")
    assert_not_placed(sim, client_order_id)

    assert sim.control.release_held() == 1
    waiting.join()

    assert waiting.error is None
    assert isinstance(waiting.result, Order)
    assert waiting.result.client_order_id == client_order_id
    assert waiting.result.status == OrderStatus.NEW


def test_release_processes_held_requests_in_arrival_order(sim, trade_updates):
    sim.control.add_fault("POST /v2/orders", "process_late", count=2)
    first, second = coid(), coid()
    submit_and_give_up(sim, first)
    submit_and_give_up(sim, second)
    assert sim.control.held_requests() == 2

    assert sim.control.release_held() == 2

    orders = [sim.trading.get_order_by_client_id(c) for c in (first, second)]
    events = trade_updates.wait_for(has_fill(orders[1].id))
    news = [str(e.order.id) for e in events if str(e.event) == "new"]
    assert news == [str(orders[0].id), str(orders[1].id)]


def test_a_hold_ends_after_hold_seconds_of_simulator_time(sim):
    sim.control.add_fault("POST /v2/orders", "process_late", hold_seconds=30)
    client_order_id = coid()
    submit_and_give_up(sim, client_order_id)

    sim.control.advance(29)
    assert_not_placed(sim, client_order_id)
    assert sim.control.held_requests() == 1

    sim.control.advance(1)
    placed = sim.trading.get_order_by_client_id(client_order_id)
    # Processed when the hold ended, not when the request arrived.
    assert placed.submitted_at == T0.replace(second=30)
    assert sim.control.held_requests() == 0


def test_process_late_holds_any_route_such_as_a_cancel(sim, trade_updates):
    resting = sim.trading.submit_order(
        LimitOrderRequest(
            symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, limit_price=50
        )
    )
    sim.control.add_fault("DELETE /v2/orders/{order_id}", "process_late")

    with pytest.raises(requests.exceptions.Timeout):
        impatient_client(sim).cancel_order_by_id(resting.id)
    assert sim.trading.get_order_by_id(resting.id).status == OrderStatus.NEW

    assert sim.control.release_held() == 1
    trade_updates.wait_for(lambda events: "canceled" in events_of(events, resting.id))
    assert sim.trading.get_order_by_id(resting.id).status == OrderStatus.CANCELED


def test_a_reset_drops_held_requests_unprocessed(sim):
    sim.control.add_fault("POST /v2/orders", "process_late")
    client_order_id = coid()
    waiting = InBackground(lambda: sim.trading_client().submit_order(market_buy(client_order_id)))
    wait_until(lambda: sim.control.held_requests() == 1, what="the submit to be held")

    sim.control.reset()
    waiting.join()

    assert isinstance(waiting.error, APIError)
    assert waiting.error.status_code == 503
    assert sim.control.held_requests() == 0
    assert sim.control.release_held() == 0
    assert_not_placed(sim, client_order_id)


def test_clearing_faults_lets_held_requests_go_on(sim):
    sim.control.add_fault("POST /v2/orders", "process_late")
    client_order_id = coid()
    submit_and_give_up(sim, client_order_id)

    assert sim.control.clear_faults() == 1

    assert sim.trading.get_order_by_client_id(client_order_id).status == OrderStatus.FILLED


@pytest.mark.parametrize("kind", ["process_late", "hang_reply"])
@pytest.mark.parametrize("hold_seconds", [-1, "soon", None])
def test_a_bad_hold_is_refused(sim, kind, hold_seconds):
    reply = httpx.post(
        f"{sim.url}/_sim/faults",
        json={"route": "POST /v2/orders", "kind": kind, "hold_seconds": hold_seconds},
    )

    assert reply.status_code == 422
    assert "invalid fault" in reply.json()["message"]
    assert sim.control.state()["faults"] == []

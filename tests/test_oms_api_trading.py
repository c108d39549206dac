"""Placing, tracking and cancelling trades through the real OMS app, alpaca-py and the
simulator; Idempotency-Key handling (one broker order however often a request arrives)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from alpaca.trading.requests import GetOrderByIdRequest

from tests.oms import OMS, wait_for


def _trade(oms: OMS, trade_id: int) -> dict[str, Any]:
    response = oms.get(f"/trades/{trade_id}")
    assert response.status_code == 200, response.text
    return response.json()


def _wait_status(oms: OMS, trade_id: int, status: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def reached() -> bool:
        seen.update(_trade(oms, trade_id))
        return seen["status"] == status

    wait_for(reached, f"trade {trade_id} to become {status}")
    return seen


def _sent_orders(oms: OMS) -> int:
    return oms.sim.control.counters().get("POST /v2/orders", 0)


def _error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]


# ---------------------------------------------------------------------- placing trades
def test_market_buy_fills_and_reports_the_execution(oms):
    oms.sim.control.set_price("AAPL", "190.00")

    response = oms.trade(symbol="AAPL", qty="10", reason="test")

    assert response.status_code == 201, response.text
    body = response.json()
    assert isinstance(body["id"], int)
    assert body["client_order_id"].startswith("bot-00000001-")
    broker = oms.sim.trading.get_order_by_client_id(body["client_order_id"])
    assert body["broker_order_id"] == str(broker.id)
    assert body["status"] == "filled"
    assert Decimal(body["filled_qty"]) == Decimal("10")
    assert Decimal(body["filled_avg_price"]) == Decimal("190.00")
    assert body["filled_at"] is not None
    assert body["market_open"] is True
    assert body["next_open"] is not None
    assert body["mode"] == "SIMULATOR"
    assert body["replayed"] is False
    [fill] = body["fills"]
    assert Decimal(fill["qty"]) == 10 and Decimal(fill["price"]) == Decimal("190.00")
    # Recorded from the stream (the broker's execution id) or, if a poll got there first,
    # as the poll's synthetic fill for the same quantity; either way the one execution.
    [execution] = oms.sim.control.fills()
    assert fill["execution_id"] in (
        execution["execution_id"],
        f"sync-{body['broker_order_id']}-10",
    )


def test_resting_limit_buy_is_accepted_then_filled_by_the_stream(oms):
    oms.sim.control.set_price("AAPL", "190.00")

    response = oms.trade(symbol="AAPL", qty="5", order_type="limit", limit_price="185.00")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "accepted"
    assert body["fills"] == [] and Decimal(body["filled_qty"]) == 0

    oms.sim.control.set_price("AAPL", "184.50")
    trade = _wait_status(oms, body["id"], "filled")
    assert Decimal(trade["filled_qty"]) == 5
    [fill] = trade["fills"]
    assert fill["source"] == "stream"
    assert Decimal(fill["price"]) <= Decimal("185.00")


def test_bracket_buy_fills_its_entry_and_keeps_the_bracket_prices(oms):
    oms.sim.control.set_price("AAPL", "190.00")

    response = oms.trade(
        symbol="AAPL",
        qty="3",
        take_profit={"limit_price": "200.00"},
        stop_loss={"stop_price": "180.00"},
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["order_class"] == "bracket"
    assert body["status"] == "filled"
    assert Decimal(body["take_profit_limit_price"]) == Decimal("200.00")
    assert Decimal(body["stop_loss_stop_price"]) == Decimal("180.00")
    # The broker got the same bracket: both exit legs are working after the entry filled.
    broker = oms.sim.trading.get_order_by_id(
        body["broker_order_id"], filter=GetOrderByIdRequest(nested=True)
    )
    legs = {leg.order_type.value: leg for leg in broker.legs or []}
    assert Decimal(str(legs["limit"].limit_price)) == Decimal("200.00")
    assert Decimal(str(legs["stop"].stop_price)) == Decimal("180.00")
    assert {leg.status.value for leg in legs.values()} == {"new"}


def test_notional_buy_fills_a_fractional_quantity(oms):
    oms.sim.control.set_price("AAPL", "190.00")

    response = oms.trade(symbol="AAPL", notional="500")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "filled"
    assert Decimal(body["notional"]) == 500 and body["qty"] is None
    # $500 / $190, rounded down to Alpaca's nine decimal places.
    assert Decimal(body["filled_qty"]) == Decimal("2.631578947")


def test_fractional_qty_buy_fills(oms):
    oms.sim.control.set_price("AAPL", "190.00")

    response = oms.trade(symbol="AAPL", qty="0.5")

    assert response.status_code == 201, response.text
    assert response.json()["status"] == "filled"
    assert Decimal(response.json()["filled_qty"]) == Decimal("0.5")


def test_fractional_and_notional_orders_on_a_whole_share_asset_are_refused_unsent(oms):
    oms.sim.control.reset_counters()

    fractional = oms.trade(symbol="GME", qty="0.5")
    notional = oms.trade(symbol="GME", notional="100")

    for response, field in ((fractional, "qty"), (notional, "notional")):
        assert response.status_code == 400, response.text
        error = _error(response)
        assert error["code"] == "invalid_quantity"
        assert error["details"]["field"] == field
        assert "GME" in error["message"]
    assert _sent_orders(oms) == 0
    assert oms.get("/trades").json()["trades"] == []


# ---------------------------------------------------------------------- cancelling
def test_cancel_of_a_resting_limit_is_confirmed(oms):
    oms.sim.control.set_price("AAPL", "190.00")
    trade_id = oms.trade(symbol="AAPL", qty="2", order_type="limit", limit_price="150").json()["id"]

    response = oms.post(f"/trades/{trade_id}/cancel")

    assert response.status_code == 200, response.text
    assert response.json()["status"] in ("pending_cancel", "canceled")
    trade = _wait_status(oms, trade_id, "canceled")
    assert trade["canceled_at"] is not None
    assert str(oms.sim.trading.get_order_by_id(trade["broker_order_id"]).status.value) == (
        "canceled"
    )


def test_a_slow_cancel_stays_pending_until_the_broker_confirms(oms):
    oms.sim.control.set_price("AAPL", "190.00")
    oms.sim.control.configure(cancel_delay_seconds=5)
    trade_id = oms.trade(symbol="AAPL", qty="2", order_type="limit", limit_price="150").json()["id"]

    response = oms.post(f"/trades/{trade_id}/cancel")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pending_cancel"
    assert _trade(oms, trade_id)["status"] == "pending_cancel"

    oms.sim.control.advance(6)
    trade = _wait_status(oms, trade_id, "canceled")
    assert trade["events"][-1]["source"] in ("stream", "poll")


def test_cancel_of_a_filled_trade_is_a_conflict(oms):
    trade_id = oms.trade(symbol="AAPL", qty="1").json()["id"]
    oms.sim.control.reset_counters()

    response = oms.post(f"/trades/{trade_id}/cancel")

    assert response.status_code == 409, response.text
    assert _error(response)["code"] == "not_cancelable"
    assert oms.sim.control.counters().get("DELETE /v2/orders/{order_id}", 0) == 0
    assert _trade(oms, trade_id)["status"] == "filled"


# ---------------------------------------------------------------------- market closed
def test_market_order_while_closed_is_accepted_and_says_when_the_market_opens(oms):
    oms.sim.control.set_market("closed")

    response = oms.trade(symbol="AAPL", qty="1")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "accepted"
    assert body["market_open"] is False
    assert body["next_open"] == "2026-11-19T14:30:00Z"
    assert body["broker_order_id"]


def test_closed_market_refusal_records_and_sends_nothing(oms_factory):
    with oms_factory(reject_when_market_closed=True) as oms:
        oms.create_portfolio("main")
        oms.sim.control.set_market("closed")
        oms.sim.control.reset_counters()

        response = oms.trade(symbol="AAPL", qty="1")

        assert response.status_code == 503, response.text
        error = _error(response)
        assert error["code"] == "market_closed"
        assert error["details"]["market_open"] is False
        assert error["details"]["next_open"]
        assert _sent_orders(oms) == 0
        assert oms.get("/trades").json()["trades"] == []


# ---------------------------------------------------------------------- selling
def test_sell_part_of_a_position(oms):
    oms.sim.control.set_price("AAPL", "190.00")
    assert oms.trade(symbol="AAPL", qty="10").json()["status"] == "filled"

    response = oms.trade(symbol="AAPL", qty="4", side="sell")

    assert response.status_code == 201, response.text
    assert response.json()["status"] == "filled"
    [position] = oms.get("/portfolio/main").json()["positions"]
    assert position["symbol"] == "AAPL"
    assert Decimal(position["qty"]) == 6
    assert Decimal(position["broker_qty"]) == 6


# ---------------------------------------------------------------------- idempotency
def test_same_idempotency_key_and_body_replays_the_first_answer(oms):
    oms.sim.control.reset_counters()

    first = oms.trade(idempotency_key="key-1", symbol="AAPL", qty="2")
    second = oms.trade(idempotency_key="key-1", symbol="AAPL", qty="2")

    assert first.status_code == 201, first.text
    assert second.status_code == 200, second.text
    assert first.json()["replayed"] is False
    assert second.json()["replayed"] is True
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["broker_order_id"] == first.json()["broker_order_id"]
    assert second.json()["status"] == "filled"
    assert _sent_orders(oms) == 1
    assert len(oms.get("/trades").json()["trades"]) == 1


def test_same_idempotency_key_with_another_body_is_a_conflict(oms):
    first = oms.trade(idempotency_key="key-2", symbol="AAPL", qty="2")
    oms.sim.control.reset_counters()

    second = oms.trade(idempotency_key="key-2", symbol="AAPL", qty="3")

    assert second.status_code == 409, second.text
    error = _error(second)
    assert error["code"] == "idempotency_conflict"
    assert error["details"]["trade_id"] == first.json()["id"]
    assert _sent_orders(oms) == 0


def test_concurrent_requests_with_one_key_place_one_order(oms):
    oms.sim.control.reset_counters()
    barrier = threading.Barrier(8)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def post() -> None:
        barrier.wait()
        response = oms.trade(idempotency_key="key-race", symbol="AAPL", qty="1")
        with lock:
            answers.append(response)

    _run_threads(8, post)

    assert len(answers) == 8
    assert all(r.status_code in (200, 201) for r in answers), [r.text for r in answers]
    assert sorted(r.status_code for r in answers) == [200] * 7 + [201]
    assert len({r.json()["id"] for r in answers}) == 1
    assert len({r.json()["broker_order_id"] for r in answers}) == 1
    assert _sent_orders(oms) == 1
    assert len(oms.get("/trades").json()["trades"]) == 1


def test_without_a_key_two_identical_posts_are_two_trades(oms):
    oms.sim.control.reset_counters()

    first = oms.trade(symbol="AAPL", qty="1")
    second = oms.trade(symbol="AAPL", qty="1")

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert first.json()["broker_order_id"] != second.json()["broker_order_id"]
    assert _sent_orders(oms) == 2


def _run_threads(count: int, target: Callable[[], None]) -> None:
    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)

"""The emergency stop, halt and resume, end to end: the real OMS app, alpaca-py against the
simulator, SQLite or PostgreSQL. The stop's verification waits on an injected clock whose
sleep moves the simulator's clock too, so nothing here waits in real time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest
from sqlalchemy import text

from oms_api.audit.service import Actor
from tests.oms import OMS

POST_ORDERS = "POST /v2/orders"
CLOSE_ALL = "DELETE /v2/positions"
CLOSE_ONE = "DELETE /v2/positions/{symbol}"
CANCEL_ALL = "DELETE /v2/orders"
ADMIN = {"requested_by": "U0ADMIN", "requested_by_name": "Ada"}


class StopClock:
    """The stop's monotonic clock and sleep: a sleep moves this clock and the simulator's."""

    def __init__(self, oms: OMS) -> None:
        self.oms = oms
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.oms.sim.control.advance(seconds)


def with_stop_clock(oms: OMS) -> StopClock:
    clock = StopClock(oms)
    oms.runtime.stops.monotonic = clock.monotonic
    oms.runtime.stops.sleep = clock.sleep
    return clock


@contextmanager
def desk(oms_factory: Any, **overrides: Any) -> Iterator[OMS]:
    """The OMS (stream on) with portfolio main and the stop's clock injected."""
    overrides.setdefault("stop_verify_seconds", "30")
    with oms_factory(**overrides) as oms:
        if not oms.get("/portfolios").json():
            oms.create_portfolio("main", "50000")  # half the account: growth takes the rest
        with_stop_clock(oms)
        yield oms


def buy(oms: OMS, symbol: str, qty: str, portfolio: str = "main", **extra: Any) -> dict:
    response = oms.trade(symbol=symbol, qty=qty, portfolio=portfolio, **extra)
    assert response.status_code == 201, response.text
    return response.json()


def start_stop(oms: OMS, reason: str = "flash crash") -> dict[str, Any]:
    response = oms.post("/emergency-stop", {"reason": reason, **ADMIN, "channel_id": "C0DESK"})
    assert response.status_code == 202, response.text
    oms.runtime.stops.join(timeout=30)
    final = oms.get(f"/emergency-stops/{response.json()['id']}")
    assert final.status_code == 200, final.text
    return final.json()


def broker_positions(oms: OMS) -> dict[str, Decimal]:
    return {p.symbol: Decimal(p.qty) for p in oms.sim.trading.get_all_positions()}


def broker_open_orders(oms: OMS) -> list[Any]:
    return oms.sim.trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))


def rows(oms: OMS, sql: str) -> list[Any]:
    with oms.runtime.engine.connect() as connection:
        return list(connection.execute(text(sql)))


def alert_kinds(oms: OMS) -> list[str]:
    return [r.kind for r in rows(oms, "SELECT kind FROM alerts ORDER BY id")]


def audit_actions(oms: OMS) -> list[tuple[str, str, str]]:
    return [
        (r.action, r.actor, r.result)
        for r in rows(oms, "SELECT action, actor, result FROM audit_log ORDER BY id")
    ]


def book(oms: OMS, portfolio: str = "main") -> dict[str, Decimal]:
    view = oms.get(f"/portfolio/{portfolio}").json()
    return {p["symbol"]: Decimal(p["qty"]) for p in view["positions"] if Decimal(p["qty"])}


# ---------------------------------------------------------------------- the stop itself
def test_scenario_9_stop_while_orders_work_and_a_fill_lands_mid_stop_ends_flat(
    oms_factory: Any,
) -> None:
    with desk(oms_factory) as oms:
        for symbol, price in (("AAPL", "190.00"), ("MSFT", "410.00"), ("NVDA", "120.00")):
            oms.sim.control.set_price(symbol, price)
        buy(oms, "AAPL", "10")
        buy(oms, "MSFT", "4")
        working = buy(oms, "NVDA", "5", order_type="limit", limit_price="100.00")
        assert working["status"] in ("submitted", "accepted", "new")
        # The closing orders fill in two parts, a simulated second apart: the stop sees the
        # first part, waits, and the second part arrives while it verifies.
        oms.sim.control.configure(fill_parts=2, fill_interval_seconds="1")
        oms.sim.control.reset_counters()
        clock = with_stop_clock(oms)

        stop = start_stop(oms)

        assert stop["status"] == "flat", stop
        assert clock.sleeps, "the second fills landed while the stop verified"
        assert stop["orders_canceled"] == 1
        assert {s["symbol"]: s["outcome"] for s in stop["symbols"]} == {
            "AAPL": "closed",
            "MSFT": "closed",
        }
        aapl = next(s for s in stop["symbols"] if s["symbol"] == "AAPL")
        assert Decimal(aapl["qty_before"]) == 10 and Decimal(aapl["filled_qty"]) == 10
        assert Decimal(aapl["fill_price"]) > 0
        assert broker_positions(oms) == {}
        assert broker_open_orders(oms) == []
        counters = oms.sim.control.counters()
        # One bulk cancel, one bulk close: no per-symbol write was needed.
        assert counters.get(CANCEL_ALL) == 1 and counters.get(CLOSE_ALL) == 1
        assert counters.get(CLOSE_ONE, 0) == 0 and counters.get(POST_ORDERS, 0) == 0
        assert stop["broker_write_calls"] == 2

        # Each closing order is an OMS order of the stop, its fills recorded once, and the
        # portfolio's book is flat again (the closing orders are allotted to it).
        closing = rows(
            oms, f"SELECT id, origin, status, filled_qty FROM orders WHERE stop_id = {stop['id']}"
        )
        assert {r.origin for r in closing} == {"stop"} and len(closing) == 2
        assert all(r.status == "filled" for r in closing)
        for order in closing:
            fills = rows(oms, f"SELECT qty FROM fills WHERE order_id = {order.id}")
            assert sum(Decimal(str(f.qty)) for f in fills) == Decimal(str(order.filled_qty))
        broker_fills = oms.sim.control.fills()
        oms_fill_count = rows(
            oms,
            "SELECT COUNT(*) AS n FROM fills JOIN orders ON orders.id = fills.order_id "
            f"WHERE orders.stop_id = {stop['id']}",
        )[0].n
        assert oms_fill_count == sum(1 for f in broker_fills if f["side"] == "sell")
        assert book(oms) == {}

        # Trading stays halted: a new order is refused, with nothing sent.
        before = oms.sim.control.counters().get(POST_ORDERS, 0)
        refused = oms.trade(symbol="AAPL", qty="1")
        assert refused.status_code == 409
        error = refused.json()["error"]
        assert error["code"] == "trading_halted"
        assert "flash crash" in error["message"] and "Ada" in error["message"]
        assert oms.sim.control.counters().get(POST_ORDERS, 0) == before

        kinds = [k for k in alert_kinds(oms) if k != "order_filled"]
        assert kinds == ["stop_started", "halted", "stop_finished", "stop_finished"]
        # The result goes to the alerts channel and to the channel the stop came from.
        finished = rows(
            oms, "SELECT channel_id, body FROM alerts WHERE kind = 'stop_finished' ORDER BY id"
        )
        assert [r.channel_id for r in finished] == [None, "C0DESK"]
        actions = audit_actions(oms)
        assert ("emergency_stop", "U0ADMIN", "ok") in actions
        assert ("trade", "api", "refused") in actions

        resumed = oms.post("/resume", {"reason": "all clear", **ADMIN})
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["state"] == "active"
        assert oms.trade(symbol="AAPL", qty="1").status_code == 201
        assert ("resume", "U0ADMIN", "ok") in audit_actions(oms)
        assert "resumed" in alert_kinds(oms)


def test_a_closing_order_filled_in_parts_leaves_every_book_exactly_flat(
    oms_factory: Any,
) -> None:
    with desk(oms_factory) as oms:
        oms.create_portfolio("growth", "50000")
        oms.sim.control.set_price("AAPL", "190.00")
        oms.sim.control.set_price("MSFT", "410.00")
        buy(oms, "AAPL", "1")
        buy(oms, "AAPL", "2", portfolio="growth")
        short = oms.trade(symbol="MSFT", qty="3", side="sell", portfolio="growth")
        assert short.status_code == 201, short.text
        assert book(oms, "growth") == {"AAPL": Decimal(2), "MSFT": Decimal(-3)}
        # 3 AAPL split 1 : 2 between the books, filled 1 then 2: thirds do not add up in
        # binary or to 9 places unless the books count the fills cumulatively.
        oms.sim.control.configure(fill_parts=2, fill_interval_seconds="1")

        stop = start_stop(oms)

        assert stop["status"] == "flat", stop
        sides = {s["symbol"]: s["side"] for s in stop["symbols"]}
        assert sides == {"AAPL": "long", "MSFT": "short"}
        assert broker_positions(oms) == {}
        assert book(oms) == {} and book(oms, "growth") == {}
        realized = oms.get("/portfolio/growth").json()["positions"]
        assert {p["symbol"] for p in realized} == {"AAPL", "MSFT"}  # flat, P&L kept


def test_a_second_stop_request_while_one_runs_gets_that_stop(oms_factory: Any) -> None:
    with desk(oms_factory) as oms:
        oms.sim.control.set_price("AAPL", "190.00")
        buy(oms, "AAPL", "3")
        stops = oms.runtime.stops
        first = stops.start(Actor.of("U0ADMIN", "Ada"), "first")
        again = oms.post("/emergency-stop", {"reason": "second", "requested_by": "U0BOB"})
        assert again.status_code == 200, again.text
        assert again.json()["id"] == first.id and again.json()["already_running"] is True
        assert len(rows(oms, "SELECT id FROM emergency_stops")) == 1
        stops.run(first.id)
        assert oms.get(f"/emergency-stops/{first.id}").json()["status"] == "flat"
        listed = oms.get("/emergency-stops").json()
        assert [s["id"] for s in listed["stops"]] == [first.id]


def test_a_failed_bulk_close_falls_back_to_closing_each_symbol(oms_factory: Any) -> None:
    with desk(oms_factory) as oms:
        oms.sim.control.set_price("AAPL", "190.00")
        oms.sim.control.set_price("MSFT", "410.00")
        buy(oms, "AAPL", "2")
        buy(oms, "MSFT", "1")
        oms.sim.control.add_fault(CLOSE_ALL, "status", status=500)
        oms.sim.control.reset_counters()

        stop = start_stop(oms)

        assert stop["status"] == "flat", stop
        assert "closing every position failed" in (stop["error"] or "")
        assert broker_positions(oms) == {}
        assert oms.sim.control.counters().get(CLOSE_ONE) == 2
        assert {s["outcome"] for s in stop["symbols"]} == {"closed"}
        assert all(s["attempts"] == 1 for s in stop["symbols"])
        assert book(oms) == {}


def test_a_symbol_that_cannot_be_closed_leaves_the_stop_incomplete_and_trading_halted(
    oms_factory: Any,
) -> None:
    with desk(oms_factory) as oms:
        oms.sim.control.set_price("AAPL", "190.00")
        buy(oms, "AAPL", "2")
        oms.sim.control.add_fault(CLOSE_ALL, "status", status=500, count=None)
        oms.sim.control.add_fault(CLOSE_ONE, "status", status=503, count=None)

        stop = start_stop(oms)

        assert stop["status"] == "incomplete", stop
        (aapl,) = stop["symbols"]
        assert aapl["outcome"] == "open" and aapl["attempts"] == 3
        assert "closing it on its own failed (attempt 3)" in aapl["note"]
        assert broker_positions(oms) == {"AAPL": Decimal(2)}
        state = oms.get("/trading-state").json()
        assert state["state"] == "halted" and state["stop_running"] is False
        assert "stop_incomplete" in alert_kinds(oms)
        assert ("emergency_stop", "U0ADMIN", "failed") in audit_actions(oms)


def test_with_the_market_closed_the_stop_is_queued_for_the_open_then_completes(
    oms_factory: Any,
) -> None:
    with desk(oms_factory) as oms:
        oms.sim.control.set_price("AAPL", "190.00")
        buy(oms, "AAPL", "5")
        oms.sim.control.set_market("closed")

        stop = start_stop(oms)

        assert stop["status"] == "queued_for_open", stop
        assert stop["phase"] == "waiting_for_open"
        assert [s["outcome"] for s in stop["symbols"]] == ["queued"]
        assert broker_positions(oms) == {"AAPL": Decimal(5)}
        assert oms.runtime.stops.complete_queued() == []  # still held: still waiting

        oms.sim.control.set_market("open")
        assert oms.runtime.stops.complete_queued() == [stop["id"]]
        done = oms.get(f"/emergency-stops/{stop['id']}").json()
        assert done["status"] == "flat" and done["finished_at"] is not None
        assert [s["outcome"] for s in done["symbols"]] == ["closed"]
        assert broker_positions(oms) == {}
        assert alert_kinds(oms).count("stop_finished") == 4  # queued, then flat; two channels


def test_scenario_worker_killed_mid_stop_the_stop_finishes_after_restart(
    oms_factory: Any,
) -> None:
    with desk(oms_factory) as oms:
        oms.sim.control.set_price("AAPL", "190.00")
        buy(oms, "AAPL", "4")
        buy(oms, "AAPL", "1", order_type="limit", limit_price="150.00")
        # The worker records the stop (HALTED committed) and cancels everything, then dies.
        stop = oms.runtime.stops.start(Actor.of("U0ADMIN", "Ada"), "kill test")
        oms.runtime.stops._cancel_everything(stop.id)
        assert broker_open_orders(oms) == []
        assert broker_positions(oms) == {"AAPL": Decimal(4)}

    with oms_factory(stop_verify_seconds="30") as restarted:
        restarted.runtime.stops.join(timeout=30)
        view = restarted.get(f"/emergency-stops/{stop.id}").json()
        assert view["status"] == "flat", view
        assert broker_positions(restarted) == {}
        assert restarted.get("/trading-state").json()["state"] == "halted"


def test_scenario_worker_killed_after_the_bulk_close_adopts_its_orders_after_restart(
    oms_factory: Any,
) -> None:
    with desk(oms_factory) as oms:
        oms.create_portfolio("growth", "50000")
        oms.sim.control.set_price("AAPL", "190.00")
        oms.sim.control.set_price("MSFT", "410.00")
        buy(oms, "AAPL", "4")
        buy(oms, "MSFT", "2", portfolio="growth")
        # The worker recorded the stop, cancelled, sent the bulk close, and died before it
        # recorded the closing orders: the broker closed everything, the OMS knows nothing.
        stop = oms.runtime.stops.start(Actor.of("U0ADMIN", "Ada"), "kill test")
        oms.runtime.stops._cancel_everything(stop.id)
        oms.runtime.stops._phase(stop.id, "closing")
        oms.runtime.gateway.close_all_positions(cancel_orders=True)
        assert broker_positions(oms) == {}
        assert book(oms) == {"AAPL": Decimal(4)}

    with oms_factory(stop_verify_seconds="30") as restarted:
        restarted.runtime.stops.join(timeout=30)
        view = restarted.get(f"/emergency-stops/{stop.id}").json()
        assert view["status"] == "flat", view
        assert {s["symbol"]: s["outcome"] for s in view["symbols"]} == {
            "AAPL": "closed",
            "MSFT": "closed",
        }
        # The closing orders are the stop's, once each, and the books are flat again.
        closing = rows(restarted, f"SELECT symbol FROM orders WHERE stop_id = {stop.id}")
        assert sorted(r.symbol for r in closing) == ["AAPL", "MSFT"]
        assert book(restarted) == {} and book(restarted, "growth") == {}


# ---------------------------------------------------------------------- halt and resume
def test_halt_refuses_new_orders_but_cancels_still_work(oms_factory: Any) -> None:
    with desk(oms_factory) as oms:
        oms.sim.control.set_price("AAPL", "190.00")
        resting = buy(oms, "AAPL", "1", order_type="limit", limit_price="150.00")
        halted = oms.post("/halt", {"reason": "news pending", **ADMIN})
        assert halted.status_code == 200, halted.text
        assert halted.json()["state"] == "halted"
        assert halted.json()["changed_by_name"] == "Ada"

        before = oms.sim.control.counters().get(POST_ORDERS, 0)
        refused = oms.trade(symbol="AAPL", qty="1")
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "trading_halted"
        assert refused.json()["error"]["details"]["reason"] == "news pending"
        assert oms.sim.control.counters().get(POST_ORDERS, 0) == before

        canceled = oms.post(f"/trades/{resting['id']}/cancel")
        assert canceled.status_code == 200, canceled.text
        assert broker_open_orders(oms) == []

        assert oms.post("/resume", {"reason": "news out", **ADMIN}).json()["state"] == "active"
        assert oms.trade(symbol="AAPL", qty="1").status_code == 201
        actions = [a for a, _, _ in audit_actions(oms)]
        assert actions.count("halt") == 1 and actions.count("resume") == 1
        assert actions.count("cancel") == 1


def test_scenario_restart_while_halted_stays_halted(oms_factory: Any) -> None:
    with desk(oms_factory) as oms:
        oms.post("/halt", {"reason": "overnight", **ADMIN})
    with oms_factory() as restarted:
        state = restarted.get("/trading-state").json()
        assert state["state"] == "halted" and state["reason"] == "overnight"
        assert restarted.trade(symbol="AAPL", qty="1").json()["error"]["code"] == ("trading_halted")


def test_resume_is_refused_while_a_stop_is_running(oms_factory: Any) -> None:
    with desk(oms_factory) as oms:
        stop = oms.runtime.stops.start(Actor.of("U0ADMIN", "Ada"), "running")
        refused = oms.post("/resume", {"reason": "too early", "requested_by": "U0BOB"})
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "stop_running"
        assert ("resume", "U0BOB", "refused") in audit_actions(oms)
        status = oms.get("/status").json()
        assert status["running_stop_id"] == stop.id
        assert status["trading"]["state"] == "halted"
        oms.runtime.stops.run(stop.id)
        assert oms.post("/resume", {"reason": "done", **ADMIN}).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": ""},
        {"reason": "x", "unknown": 1},
        {"reason": "x", "channel_id": "not a channel"},
    ],
    ids=["no_reason", "empty_reason", "unknown_field", "bad_channel"],
)
def test_a_bad_stop_request_is_refused_and_starts_nothing(oms_factory: Any, body: dict) -> None:
    with oms_factory(stream_enabled=False, background=False) as oms:
        response = oms.post("/emergency-stop", body)
        assert response.status_code == 422, response.text
        assert "error" in response.json()
        assert rows(oms, "SELECT id FROM emergency_stops") == []
        assert oms.get("/trading-state").json()["state"] == "active"


# ---------------------------------------------------------------------- emergency sells
def test_emergency_sell_closes_one_portfolios_holding_and_pauses_it(oms_factory: Any) -> None:
    with desk(oms_factory) as oms:
        oms.create_portfolio("growth", "50000")
        oms.sim.control.set_price("AAPL", "190.00")
        buy(oms, "AAPL", "6")
        buy(oms, "AAPL", "2", portfolio="growth")
        oms.post("/halt", {"reason": "risk review", **ADMIN})  # it still goes through

        response = oms.post(
            "/positions/AAPL/close", {"portfolio": "main", "reason": "too volatile", **ADMIN}
        )

        assert response.status_code == 201, response.text
        sold = response.json()
        assert sold["side"] == "sell" and Decimal(sold["filled_qty"]) == 6
        assert sold["status"] == "filled"
        assert book(oms) == {} and book(oms, "growth") == {"AAPL": Decimal(2)}
        assert broker_positions(oms) == {"AAPL": Decimal(2)}
        portfolios = {p["name"]: p["status"] for p in oms.get("/portfolios").json()}
        assert portfolios == {"main": "paused", "growth": "active"}
        assert "portfolio_paused" in alert_kinds(oms)
        titles = [
            r.title for r in rows(oms, "SELECT title FROM alerts WHERE kind = 'order_filled'")
        ]
        assert f"Emergency sell {sold['id']} filled" in titles
        actions = audit_actions(oms)
        assert ("emergency_sell", "U0ADMIN", "ok") in actions
        assert ("portfolio_pause", "U0ADMIN", "ok") in actions

        nothing = oms.post("/positions/AAPL/close", {"portfolio": "main", "reason": "again"})
        assert nothing.status_code == 409
        assert nothing.json()["error"]["code"] == "nothing_to_close"


def test_closing_the_whole_account_position_is_allotted_to_every_book(oms_factory: Any) -> None:
    with desk(oms_factory) as oms:
        oms.create_portfolio("growth", "50000")
        oms.sim.control.set_price("MSFT", "410.00")
        buy(oms, "MSFT", "3")
        buy(oms, "MSFT", "1", portfolio="growth")
        response = oms.post(
            "/positions/MSFT/close", {"whole_account": True, "reason": "exit", **ADMIN}
        )
        assert response.status_code == 201, response.text
        assert Decimal(response.json()["filled_qty"]) == 4
        assert broker_positions(oms) == {}
        assert book(oms) == {} and book(oms, "growth") == {}


def test_closing_the_unmanaged_part_sells_only_what_no_portfolio_holds(oms_factory: Any) -> None:
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import MarketOrderRequest

    with desk(oms_factory) as oms:
        oms.sim.control.set_price("MSFT", "410.00")
        buy(oms, "MSFT", "3")
        oms.sim.trading.submit_order(  # 2 more bought in Alpaca's dashboard: no portfolio's
            MarketOrderRequest(
                symbol="MSFT", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            )
        )
        assert broker_positions(oms) == {"MSFT": Decimal(5)}
        response = oms.post("/positions/MSFT/close", {"unmanaged": True, "reason": "tidy", **ADMIN})
        assert response.status_code == 201, response.text
        assert Decimal(response.json()["filled_qty"]) == 2
        assert response.json()["portfolio"] is None
        assert broker_positions(oms) == {"MSFT": Decimal(3)}
        assert book(oms) == {"MSFT": Decimal(3)}  # the portfolio's holding is untouched
        unmanaged = [r for r in oms.get("/positions").json() if not r["managed"]]
        assert unmanaged == []
        assert ("emergency_sell", "U0ADMIN", "ok") in audit_actions(oms)

        again = oms.post("/positions/MSFT/close", {"unmanaged": True, "reason": "x", **ADMIN})
        assert again.status_code == 409 and again.json()["error"]["code"] == "nothing_to_close"
        both = oms.post(
            "/positions/MSFT/close", {"unmanaged": True, "whole_account": True, "reason": "x"}
        )
        assert both.status_code == 422
        assert broker_positions(oms) == {"MSFT": Decimal(3)}  # neither sent anything


def test_a_second_close_of_the_unmanaged_part_waits_for_the_first_instead_of_selling_twice(
    oms_factory: Any,
) -> None:
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import MarketOrderRequest

    with desk(oms_factory) as oms:
        oms.sim.control.set_price("MSFT", "410.00")
        buy(oms, "MSFT", "3")
        oms.sim.trading.submit_order(  # 2 more bought in Alpaca's dashboard
            MarketOrderRequest(
                symbol="MSFT", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            )
        )
        oms.sim.control.set_market("closed")  # the close waits for the open: still working
        first = oms.post("/positions/MSFT/close", {"unmanaged": True, "reason": "a", **ADMIN})
        assert first.status_code == 201, first.text
        assert first.json()["status"] not in ("filled", "canceled", "rejected")
        again = oms.post("/positions/MSFT/close", {"unmanaged": True, "reason": "b", **ADMIN})
        assert again.status_code == 409, again.text
        assert again.json()["error"]["code"] == "close_in_progress"
        closes = oms.sim.trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))
        assert [(o.symbol, o.qty) for o in closes] == [("MSFT", "2")]  # one close, of 2


def test_closing_the_unmanaged_part_is_refused_when_the_books_hold_more_than_the_broker(
    oms_factory: Any,
) -> None:
    with desk(oms_factory) as oms:
        oms.sim.control.set_price("MSFT", "410.00")
        buy(oms, "MSFT", "3")
        oms.sim.trading.close_position("MSFT")  # sold in Alpaca's dashboard
        oms.sim.control.set_price("AAPL", "190.00")
        buy(oms, "AAPL", "1")
        response = oms.post("/positions/MSFT/close", {"unmanaged": True, "reason": "x", **ADMIN})
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "nothing_to_close"
        assert book(oms)["MSFT"] == 3  # nothing bought back: the books are not the broker's


def test_stopping_one_portfolio_cancels_its_orders_closes_its_holdings_and_pauses_it(
    oms_factory: Any,
) -> None:
    with desk(oms_factory) as oms:
        oms.create_portfolio("growth", "50000")
        oms.sim.control.set_price("AAPL", "190.00")
        buy(oms, "AAPL", "3")
        buy(oms, "AAPL", "2", portfolio="growth")
        resting = buy(oms, "AAPL", "1", order_type="limit", limit_price="150.00")

        response = oms.post("/portfolios/main/stop", {"reason": "strategy broken", **ADMIN})

        assert response.status_code == 200, response.text
        result = response.json()
        assert result["paused"] is True and result["problems"] == []
        assert result["canceled_trade_ids"] == [resting["id"]]
        assert len(result["closing_trade_ids"]) == 1
        assert book(oms) == {} and book(oms, "growth") == {"AAPL": Decimal(2)}
        assert broker_positions(oms) == {"AAPL": Decimal(2)}


# ---------------------------------------------------------------------- the loss limit
def test_the_daily_loss_limit_warns_at_80_percent_then_stops_trading_once_a_day(
    oms_factory: Any,
) -> None:
    with desk(oms_factory, daily_loss_limit="1000") as oms:
        oms.sim.control.set_price("AAPL", "100.00")
        buy(oms, "AAPL", "100")
        monitor = oms.runtime.loss_limit

        oms.sim.control.set_price("AAPL", "95.00")  # -$500: half the limit
        assert monitor.check().breached is False
        assert alert_kinds(oms).count("loss_limit_warning") == 0

        oms.sim.control.set_price("AAPL", "91.00")  # -$900: 90 %
        check = monitor.check()
        assert check.warned and not check.breached
        monitor.check()  # one warning a day
        assert alert_kinds(oms).count("loss_limit_warning") == 1

        oms.sim.control.set_price("AAPL", "88.50")  # -$1,150: past the limit
        check = monitor.check()
        assert check.breached
        oms.runtime.stops.join(timeout=30)
        (stop,) = oms.get("/emergency-stops").json()["stops"]
        assert stop["reason"] == "daily loss -$1,150 reached the -$1,000 limit"
        assert stop["requested_by"] == "system"
        assert stop["status"] == "flat"
        assert ("loss_limit_breach", "system", "ok") in audit_actions(oms)

        # Resumed the same day, the loss (still past the limit) does not stop trading again.
        assert oms.post("/resume", {"reason": "reviewed", **ADMIN}).status_code == 200
        monitor.check()
        oms.runtime.stops.join(timeout=30)
        assert len(oms.get("/emergency-stops").json()["stops"]) == 1
        assert oms.get("/trading-state").json()["state"] == "active"


def test_status_shows_the_desk_at_a_glance(oms_factory: Any) -> None:
    with desk(oms_factory, daily_loss_limit="2000") as oms:
        oms.sim.control.set_price("AAPL", "190.00")
        buy(oms, "AAPL", "1", order_type="limit", limit_price="150.00")
        status = oms.get("/status").json()
        assert status["mode"] == "PAPER" or status["mode"] in ("SIMULATOR", "PAPER")
        assert status["trading"]["state"] == "active"
        assert status["open_orders"] == 1
        assert Decimal(status["daily_loss_limit"]) == 2000
        assert status["daily_pl"] is not None
        assert status["running_stop_id"] is None


# ---------------------------------------------------------------------- several workers
@pytest.mark.postgres
def test_two_workers_asked_to_stop_at_once_run_one_stop(
    sim: Any, postgres_url: str, db_engine: Any, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("this run's database is SQLite; the PostgreSQL pass covers several workers")
    from concurrent.futures import ThreadPoolExecutor

    from oms_api.portfolios.models import PortfolioCreate
    from oms_api.runtime import Runtime
    from tests.oms import oms_settings

    settings = oms_settings(sim, database_url, stream_enabled=False)
    workers = [Runtime.build(settings) for _ in range(2)]
    try:
        for worker in workers:
            worker.start(background=False)
            worker.stops.sleep = lambda seconds: sim.control.advance(seconds)
        workers[0].portfolios.create(PortfolioCreate(name="main"))
        sim.control.seed_positions([{"symbol": "AAPL", "qty": "3", "avg_entry_price": "190"}])
        sim.control.reset_counters()
        actors = [Actor.of("U0ADA", "Ada"), Actor.of("U0BOB", "Bob")]
        with ThreadPoolExecutor(2) as pool:
            views = list(
                pool.map(
                    lambda pair: pair[0].stops.start(pair[1], "both"),
                    zip(workers, actors, strict=True),
                )
            )
        assert len({view.id for view in views}) == 1
        assert sorted(view.already_running for view in views) == [False, True]
        # Both run it: the second waits on the advisory lock, then finds it finished.
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda w: w.stops.run(views[0].id), workers))
        assert {r.status for r in results} == {"flat"}
        counters = sim.control.counters()
        assert counters.get(CANCEL_ALL) == 1 and counters.get(CLOSE_ALL) == 1
        assert not sim.trading.get_all_positions()
    finally:
        for worker in workers:
            worker.stop()

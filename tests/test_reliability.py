"""The fault scenarios of the reliability notes (/work/shared/notes/reliability.md), one test
each, named after the fault, driven by the simulator's fault injection against the real OMS
(FastAPI app, order service, alpaca-py gateway). Each asserts what a user would notice: the API's
answer, the trade's final status, how many orders the broker holds, fills recorded once, and the
trade's event history."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import GetOrdersRequest, MarketOrderRequest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from oms_api.broker.gateway import AlpacaGateway
from oms_api.orders.ids import new_client_order_id
from oms_api.orders.models import Order, OrderEvent
from oms_api.orders.service import OrderService
from tests.oms import OMS
from tests.waiting import wait_until

POST_ORDERS = "POST /v2/orders"
BY_CLIENT_ID = "GET /v2/orders:by_client_order_id"
DELETE_ORDER = "DELETE /v2/orders/{order_id}"


# ------------------------------------------------------------------------------- helpers
def broker_orders(oms: OMS) -> list[Any]:
    """Every order the broker holds (alpaca-py models), bracket legs not listed separately."""
    return oms.sim.trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, nested=True))


def detail(oms: OMS, trade_id: int) -> dict[str, Any]:
    response = oms.get(f"/trades/{trade_id}")
    assert response.status_code == 200, response.text
    return response.json()


def count_rows(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


def assert_fills_once(trade: dict[str, Any]) -> None:
    """Fills are facts: unique execution ids, and they add up to the trade's filled qty/price."""
    fills = trade["fills"]
    ids = [f["execution_id"] for f in fills]
    assert len(ids) == len(set(ids)), ids
    total = sum((Decimal(f["qty"]) for f in fills), Decimal(0))
    assert total == Decimal(trade["filled_qty"])
    if total:
        value = sum((Decimal(f["qty"]) * Decimal(f["price"]) for f in fills), Decimal(0))
        assert abs(value / total - Decimal(trade["filled_avg_price"])) < Decimal("0.000001")


def sources(trade: dict[str, Any]) -> set[str]:
    return {e["source"] for e in trade["events"]}


def statuses(trade: dict[str, Any]) -> list[str]:
    return [e["to_status"] for e in trade["events"]]


def wait_for_status(oms: OMS, trade_id: int, status: str, timeout: float = 5.0) -> dict:
    wait_until(
        lambda: detail(oms, trade_id)["status"] == status,
        timeout=timeout,
        what=f"trade {trade_id} to become {status}",
    )
    return detail(oms, trade_id)


def sim_gateway(sim: Any, cls: type[AlpacaGateway] = AlpacaGateway, **kwargs: Any) -> AlpacaGateway:
    """A real gateway pointed at the simulator, for tests that need to shape it."""
    return cls(
        key_id=sim.key_id,
        secret_key=sim.secret_key,
        base_url=sim.url,
        data_url=sim.url,
        stream_url=sim.stream_url,
        **{"timeout": 2.0, "requests_per_minute": 200, **kwargs},
    )


class LaggingLookupGateway(AlpacaGateway):
    """The real gateway, except the broker's by-client-id index lags: the first look-up says
    404 although the order is there (so the OMS re-sends with the same client_order_id)."""

    lags = 1

    def get_order_by_client_id(self, client_order_id: str, *args: Any) -> Any:
        found = super().get_order_by_client_id(client_order_id, *args)
        if self.lags > 0:
            self.lags -= 1
            return None
        return found


@pytest.fixture
def oms_quiet(oms_factory: Any) -> Iterator[OMS]:
    """The OMS with neither trade stream nor poller: only the API request and explicit
    poll/recover calls change orders, so each step of a scenario is observable."""
    with oms_factory(stream_enabled=False, background=False) as running:
        running.create_portfolio("main")
        yield running


# ------------------------------------------------------------------ 1. reply lost
@pytest.mark.parametrize("stream", [False, True], ids=["settled_by_lookup", "stream_on"])
@pytest.mark.parametrize("fault", ["drop_reply", "hang_reply"])
def test_scenario_1_broker_accepts_then_reply_is_lost_one_order_adopted(
    oms_factory: Any, fault: str, stream: bool
) -> None:
    # A timeout short enough that the held reply times out (the simulator holds it for 1 s),
    # with the asset and the clock already known, so the submit is the only call it can cut
    # short on a busy machine.
    with oms_factory(broker_timeout_seconds="0.6", stream_enabled=stream) as oms:
        oms.create_portfolio("main")
        oms.sim.control.set_price("AAPL", "190.00")
        oms.runtime.gateway.get_asset("AAPL")
        oms.runtime.gateway.get_clock()
        oms.sim.control.add_fault(POST_ORDERS, fault, hold_seconds=1)
        response = oms.trade(symbol="AAPL", qty="5")

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "filled"
        assert Decimal(body["filled_qty"]) == 5
        assert Decimal(body["filled_avg_price"]) == Decimal("190.00")
        orders = broker_orders(oms)
        assert [o.client_order_id for o in orders] == [body["client_order_id"]]
        assert body["broker_order_id"] == str(orders[0].id)
        counters = oms.sim.control.counters()
        assert counters[POST_ORDERS] == 1  # settled by asking the broker, never re-sent
        trade = detail(oms, body["id"])
        if stream:
            # The stream's `new`/`fill` may beat the timeout, and a stream that restarts
            # meanwhile makes the OMS ask the broker (poll): either way, one adopted order.
            assert sources(trade) <= {"api", "stream", "poll"}
            assert "stream" in sources(trade) or counters[BY_CLIENT_ID] >= 1
        else:
            assert counters[BY_CLIENT_ID] >= 1
            assert "unknown" in statuses(trade)  # the lost answer is visible in the history
        assert trade["error_code"] is None  # ... and cleared once the broker confirmed
        assert trade["status"] == "filled"
        assert_fills_once(trade)


def test_scenario_1_reply_lost_then_resend_meets_duplicate_id_and_adopts(
    oms_factory: Any, sim: Any
) -> None:
    """The first POST is processed but its reply is lost (as with a proxy's 504 after the
    broker did the work); the look-up lags (404), so the OMS re-sends with the same
    client_order_id; the broker answers "client_order_id must be unique" (422): it already has
    the order, which is adopted, not rejected."""
    gateway = sim_gateway(sim, cls=LaggingLookupGateway)
    with oms_factory(stream_enabled=False, background=False, gateway=gateway) as oms:
        oms.create_portfolio("main")
        oms.sim.control.add_fault(POST_ORDERS, "drop_reply")
        response = oms.trade(symbol="MSFT", qty="3")

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "filled"
        assert oms.sim.control.counters()[POST_ORDERS] == 2  # the re-send met the duplicate
        orders = broker_orders(oms)
        assert len(orders) == 1
        assert orders[0].client_order_id == body["client_order_id"]
        assert body["broker_order_id"] == str(orders[0].id)
        trade = detail(oms, body["id"])
        assert trade["error_code"] is None
        assert "rejected" not in statuses(trade)
        assert_fills_once(trade)


# ------------------------------------------------------- 2. process dies after the send
def leave_unsettled_order(engine: Engine, portfolio_id: int, symbol: str, qty: str) -> Order:
    """What a process that died right after sending leaves behind: a pending_submit row."""
    now = datetime.now(UTC)
    order = Order(
        client_order_id=new_client_order_id(portfolio_id),
        portfolio_id=portfolio_id,
        symbol=symbol,
        side="buy",
        qty=Decimal(qty),
        order_type="market",
        time_in_force="day",
        status="pending_submit",
        send_attempts=1,
        created_at=now,
        submitted_at=now,
        updated_at=now,
    )
    with Session(engine, expire_on_commit=False) as session:
        session.add(order)
        session.flush()
        session.add(
            OrderEvent(
                order_id=order.id,
                to_status="pending_submit",
                source="api",
                note="recorded before sending",
                created_at=now,
            )
        )
        session.commit()
    return order


@pytest.mark.parametrize(
    "reached_broker", [True, False], ids=["accepted_by_broker", "never_reached_broker"]
)
def test_scenario_2_process_dies_between_accept_and_db_update_restart_resolves(
    oms_factory: Any, sim: Any, db_engine: Engine, reached_broker: bool
) -> None:
    with oms_factory(stream_enabled=False, background=False) as first_run:
        portfolio = first_run.create_portfolio("main")
    # The previous process committed the row, sent the order and died before recording the
    # broker's answer (or died just before the send).
    row = leave_unsettled_order(db_engine, portfolio["id"], "AAPL", "4")
    if reached_broker:
        sim.trading.submit_order(
            MarketOrderRequest(
                symbol="AAPL",
                qty=4,
                side=OrderSide.BUY,
                time_in_force=TimeInForce.DAY,
                client_order_id=row.client_order_id,
            )
        )
    sim.control.reset_counters()

    with oms_factory() as restarted:
        # Start-up recovery ran before the API answered anything: the order is at the broker
        # and the trade knows its broker id; the fill follows by stream (or poll).
        assert detail(restarted, row.id)["broker_order_id"] is not None
        trade = wait_for_status(restarted, row.id, "filled")
        assert Decimal(trade["filled_qty"]) == 4
        orders = broker_orders(restarted)
        assert [o.client_order_id for o in orders] == [row.client_order_id]
        assert trade["broker_order_id"] == str(orders[0].id)
        counters = restarted.sim.control.counters()
        # Found by client_order_id: adopted; absent: sent once, with the same id.
        assert counters.get(POST_ORDERS, 0) == (0 if reached_broker else 1)
        assert counters[BY_CLIENT_ID] >= 1
        assert "recovery" in sources(trade)
        assert_fills_once(trade)
        assert count_rows(db_engine, "orders") == 1


# ------------------------------------------------------------ 3. duplicate submission
def test_scenario_3_duplicate_submission_one_broker_order_same_answer(oms: OMS) -> None:
    body = {"symbol": "AAPL", "qty": "2", "reason": "double click"}
    first = oms.trade(idempotency_key="slack-msg-1", **body)
    second = oms.trade(idempotency_key="slack-msg-1", **body)

    assert first.status_code == 201, first.text
    assert second.status_code == 200, second.text  # a replay, not a new trade
    one, two = first.json(), second.json()
    assert two["replayed"] is True and one["replayed"] is False
    for key in ("id", "client_order_id", "broker_order_id", "status", "filled_qty"):
        assert one[key] == two[key], key
    assert len(broker_orders(oms)) == 1
    assert oms.sim.control.counters()[POST_ORDERS] == 1

    # The same key for a different trade is refused, not silently replayed or placed.
    other = oms.trade(idempotency_key="slack-msg-1", symbol="AAPL", qty="3")
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    assert len(broker_orders(oms)) == 1


def test_scenario_3_concurrent_double_click_one_broker_order(oms: OMS) -> None:
    # Slow the broker down so both requests are in flight at once.
    oms.sim.control.add_fault(POST_ORDERS, "latency", latency_ms=300)
    barrier = threading.Barrier(2)

    def click() -> Any:
        barrier.wait()
        return oms.trade(idempotency_key="btn-42", symbol="MSFT", qty="1")

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(lambda _: click(), range(2)))

    assert sorted(r.status_code for r in responses) == [200, 201], [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert bodies[0]["id"] == bodies[1]["id"]
    assert bodies[0]["client_order_id"] == bodies[1]["client_order_id"]
    assert {b["status"] for b in bodies} == {"filled"}
    assert len(broker_orders(oms)) == 1
    assert oms.sim.control.counters()[POST_ORDERS] == 1


def test_scenario_3_retry_after_unknown_answer_gets_the_settled_trade(oms_quiet: OMS) -> None:
    """The first answer was "outcome unknown" (503); the client's retry with the same key
    learns what happened (the OMS asks the broker) instead of placing a second order."""
    oms = oms_quiet
    oms.sim.control.add_fault(POST_ORDERS, "drop_reply")
    oms.sim.control.add_fault(BY_CLIENT_ID, "status", status=503, count=3)
    first = oms.trade(idempotency_key="retry-1", symbol="AAPL", qty="1")
    assert first.status_code == 503, first.text
    assert first.json()["error"]["code"] == "outcome_unknown"

    second = oms.trade(idempotency_key="retry-1", symbol="AAPL", qty="1")
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["replayed"] is True
    assert body["status"] == "filled"
    assert body["id"] == first.json()["error"]["details"]["trade_id"]
    assert len(broker_orders(oms)) == 1
    assert oms.sim.control.counters()[POST_ORDERS] == 1


# ----------------------------------------- 4. partial fills, odd events, then cancel
class StreamSpy:
    """Records the trade updates the OMS's stream consumer handled (observation only)."""

    def __init__(self, orders: OrderService) -> None:
        self.seen: list[tuple[str, str | None, str]] = []  # event, execution, client id
        self._cond = threading.Condition()
        original = orders.apply_trade_events

        def spy(trade_events: list[Any]) -> Any:
            try:
                return original(trade_events)
            finally:
                with self._cond:
                    self.seen.extend(
                        (e.event, e.execution_id, e.order.client_order_id) for e in trade_events
                    )
                    self._cond.notify_all()

        orders.apply_trade_events = spy  # type: ignore[method-assign]

    def wait_for(self, event_name: str, count: int = 1, timeout: float = 5.0) -> None:
        with self._cond:
            done = self._cond.wait_for(
                lambda: sum(1 for seen in self.seen if seen[0] == event_name) >= count, timeout
            )
        assert done, f"the OMS never handled {count} {event_name!r} event(s): {self.seen}"


def sim_fills_of(oms: OMS, broker_order_id: str) -> list[dict[str, Any]]:
    return [f for f in oms.sim.control.fills() if f["order_id"] == broker_order_id]


@pytest.mark.parametrize(
    "case", ["duplicated_then_cancel", "reordered_around_cancel", "reordered_fills_complete"]
)
def test_scenario_4_partial_fills_duplicate_and_out_of_order_events_then_cancel(
    oms_factory: Any, case: str
) -> None:
    with oms_factory(fill_wait_polls=0) as oms:
        oms.create_portfolio("main")
        spy = StreamSpy(oms.runtime.orders)
        control = oms.sim.control
        control.configure(fill_parts=3, fill_interval_seconds=1, max_step_bps=0)
        control.set_price("AAPL", "190.00")
        if case == "duplicated_then_cancel":
            control.stream_faults(duplicate=20)

        response = oms.trade(symbol="AAPL", qty="9")
        assert response.status_code == 201, response.text
        trade_id = response.json()["id"]
        spy.wait_for("partial_fill")  # the first third filled at once

        if case == "duplicated_then_cancel":
            control.advance(1)  # the second third
            spy.wait_for("partial_fill", count=4)  # each delivered twice
            canceled = oms.post(f"/trades/{trade_id}/cancel")
            spy.wait_for("canceled", count=2)
        elif case == "reordered_around_cancel":
            # The second partial fill, the pending_cancel and the canceled are held back and
            # arrive in reverse, after the API's cancel already saw "canceled" at the broker:
            # the stale partial fill lands on a closed order. (An unrelated order's event
            # releases the held batch.)
            control.stream_faults(reorder=4)
            control.advance(1)
            canceled = oms.post(f"/trades/{trade_id}/cancel")
            assert canceled.json()["status"] == "canceled"
            oms.sim.trading.submit_order(
                MarketOrderRequest(
                    symbol="MSFT", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
                )
            )
            spy.wait_for("partial_fill", count=2)
            ours = [name for name, _, cid in spy.seen if cid == response.json()["client_order_id"]]
            assert ours[-3:] == ["canceled", "pending_cancel", "partial_fill"]
        else:
            control.stream_faults(reorder=2)  # the final fill overtakes the second partial
            control.advance(1)
            control.advance(1)
            spy.wait_for("partial_fill", count=2)
            spy.wait_for("fill")
            canceled = None

        control.advance(5)  # nothing more may fill after the cancel
        trade = detail(oms, trade_id)
        broker = oms.sim.trading.get_order_by_id(trade["broker_order_id"])
        executions = sim_fills_of(oms, trade["broker_order_id"])
        if canceled is not None:
            assert canceled.status_code == 200, canceled.text
            assert trade["status"] == "canceled"
            assert str(broker.status.value) == "canceled"
            assert Decimal(trade["filled_qty"]) == 6
        else:
            assert trade["status"] == "filled"
            assert Decimal(trade["filled_qty"]) == 9
        assert Decimal(trade["filled_qty"]) == Decimal(str(broker.filled_qty))
        assert Decimal(trade["filled_qty"]) == sum(Decimal(f["qty"]) for f in executions)
        assert Decimal(trade["filled_avg_price"]) == Decimal(str(broker.filled_avg_price))
        assert_fills_once(trade)
        assert "stream" in sources(trade)
        ours = [o for o in broker_orders(oms) if o.client_order_id == trade["client_order_id"]]
        assert len(ours) == 1
        assert oms.sim.control.counters()[POST_ORDERS] == (
            2 if case == "reordered_around_cancel" else 1
        )


# ------------------------------------------------------------------ 5. definitive reject
@pytest.mark.parametrize(
    ("case", "status", "code", "message", "broker_count"),
    [
        ("403_buying_power", 402, "insufficient_buying_power", "insufficient buying power", 0),
        ("422_invalid", 400, "invalid_parameters", "take_profit.limit_price", 0),
        ("rejected_after_accept", 400, "broker_rejected", "rejected", 1),
    ],
    ids=["403_buying_power", "422_invalid", "rejected_after_accept"],
)
def test_scenario_5_definitive_reject_no_retry_user_told(
    oms_quiet: OMS, case: str, status: int, code: str, message: str, broker_count: int
) -> None:
    oms = oms_quiet
    oms.sim.control.set_price("AAPL", "190.00")
    body: dict[str, Any] = {"symbol": "AAPL", "qty": "10"}
    if case == "403_buying_power":
        oms.sim.control.set_cash("100")
    elif case == "422_invalid":
        # Passes the OMS's own checks (tp > sl) but the broker wants tp above the price.
        body.update(take_profit={"limit_price": "185"}, stop_loss={"stop_price": "180"})
    else:
        oms.sim.control.add_fault(POST_ORDERS, "reject")

    response = oms.trade(**body)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert message in error["message"].lower()
    assert error["message"].lower().count(message) == 1  # said once, not "x: x"
    trade = error["details"]["trade"]
    assert trade["status"] == "rejected"
    assert trade["error_code"] == code
    assert oms.sim.control.counters()[POST_ORDERS] == 1  # no retry
    assert oms.sleeps == []  # no back-off either: the answer was final
    assert len(broker_orders(oms)) == broker_count
    history = detail(oms, trade["id"])
    assert statuses(history)[-1] == "rejected"
    assert "unknown" not in statuses(history)


# ------------------------------------------------------------------------- 6. rate limits
def test_scenario_6_rate_limited_429_backs_off_and_resends_same_id(
    oms_quiet: OMS, db_engine: Engine
) -> None:
    oms = oms_quiet
    oms.sim.control.add_fault(POST_ORDERS, "status", status=429, count=2)
    response = oms.trade(symbol="AAPL", qty="1")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "filled"
    # Backed off before each look-up/re-send, longer each time (recorded, not slept).
    assert len(oms.sleeps) == 2
    assert 0 < oms.sleeps[0] < oms.sleeps[1]
    assert oms.sim.control.counters()[POST_ORDERS] == 3
    orders = broker_orders(oms)
    assert [o.client_order_id for o in orders] == [body["client_order_id"]]  # the same id
    with Session(db_engine) as session:
        assert session.get(Order, body["id"]).send_attempts == 3


class FakeTime:
    """The gateway's monotonic clock and sleep: sleeping moves both it and the simulator's
    clock, so the broker's rate window really passes, without real waiting."""

    def __init__(self, sim: Any) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._sim = sim

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self._sim.control.advance(seconds)


@pytest.mark.parametrize("max_rate_wait", [120.0, None], ids=["waits", "refuses_unsent"])
def test_scenario_6_own_request_rate_stays_under_the_brokers_limit(
    oms_factory: Any, sim: Any, db_engine: Engine, max_rate_wait: float | None
) -> None:
    """The broker allows 6 requests a minute here; the OMS budgets 3 a minute plus a burst of
    3: it waits for a free slot (or refuses with nothing written or sent) and the broker never
    has to answer 429."""
    sim.control.configure(rate_limit_per_minute=6)
    fake = FakeTime(sim)
    gateway = sim_gateway(
        sim,
        requests_per_minute=3,
        burst=3,
        monotonic=fake.monotonic,
        sleep=fake.sleep,
        max_rate_wait=max_rate_wait,
    )
    with oms_factory(
        stream_enabled=False, background=False, gateway=gateway, fill_wait_polls=0
    ) as oms:
        oms.create_portfolio("main")
        # Creating it read the account's buying power (one request): a minute passes before
        # the trades, so they start with the whole burst. Limit orders: their price is known,
        # so no quote is asked for (a market order's estimate would cost one more request).
        fake.now += 60
        sim.control.advance(60)
        responses = [
            oms.trade(symbol="MSFT", qty="1", order_type="limit", limit_price="1000")
            for _ in range(8)
        ]
        counters = oms.sim.control.counters()

    # Every request the gateway let through reached the broker, and none was refused there:
    # a 429 would have shown as a re-send (more POSTs) and a back-off sleep in the service.
    assert sum(counters.values()) == gateway.request_count
    assert oms.sleeps == []
    placed = [r for r in responses if r.status_code == 201]
    assert len(broker_orders(oms)) == len(placed) == counters.get(POST_ORDERS, 0)
    if max_rate_wait is not None:
        assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
        assert fake.sleeps and all(0 < s <= 60 for s in fake.sleeps)  # waited for a slot
    else:
        refused = [r for r in responses if r.status_code != 201]
        assert placed and refused
        for response in refused:
            assert response.status_code == 503, response.text
            error = response.json()["error"]
            assert error["code"] == "broker_busy"
            assert "nothing was sent" in error["message"]
            assert error["details"]["retry_after_seconds"] > 2
        assert fake.sleeps == []
        # Refused before anything was written: no order row, no "rejected" trade.
        assert count_rows(db_engine, "orders") == len(placed)


# ------------------------------------------------------- 7. 5xx / reset on submit, cancel
@pytest.mark.parametrize(
    ("fault", "resent"),
    [
        ({"kind": "status", "status": 500}, True),
        ({"kind": "status", "status": 503}, True),
        ({"kind": "status", "status": 504}, True),
        ({"kind": "drop_reply"}, False),
    ],
    ids=["500", "503", "504", "connection_reset"],
)
def test_scenario_7_5xx_or_reset_on_submit_and_cancel(
    oms_factory: Any, fault: dict[str, Any], resent: bool
) -> None:
    # A 5xx is answered before the broker processed anything, so the request is sent again
    # (same id); a reset comes after the broker did the work, so a look-up settles it.
    with oms_factory(stream_enabled=False, background=False, fill_wait_polls=0) as oms:
        oms.create_portfolio("main")
        oms.sim.control.set_price("AAPL", "190.00")

        oms.sim.control.add_fault(POST_ORDERS, **fault)
        placed = oms.trade(symbol="AAPL", qty="3", order_type="limit", limit_price="150")
        assert placed.status_code == 201, placed.text
        body = placed.json()
        assert body["status"] == "accepted"
        counters = oms.sim.control.counters()
        assert counters[POST_ORDERS] == (2 if resent else 1)
        assert counters[BY_CLIENT_ID] >= 1
        orders = broker_orders(oms)
        assert [o.client_order_id for o in orders] == [body["client_order_id"]]
        assert "unknown" in statuses(detail(oms, body["id"]))

        oms.sim.control.add_fault(DELETE_ORDER, **fault)
        response = oms.post(f"/trades/{body['id']}/cancel")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "pending_cancel"  # never "canceled" on a guess
        assert detail(oms, body["id"])["status"] == "pending_cancel"

        # The poller asks the broker: a cancel that never arrived is sent again, one that
        # arrived is confirmed. Either way "canceled" only once the broker says so.
        oms.runtime.orders.sweep(older_than_seconds=0)
        trade = detail(oms, body["id"])
        assert trade["status"] == "canceled"
        broker = oms.sim.trading.get_order_by_id(trade["broker_order_id"])
        assert broker.status.value == "canceled"
        assert oms.sim.control.counters()[DELETE_ORDER] == (2 if resent else 1)
        assert statuses(trade)[-2:] == ["pending_cancel", "canceled"]
        assert trade["events"][-1]["source"] == "poll"
        assert trade["error_code"] is None


def test_scenario_7_5xx_on_a_market_order_fills_once(oms_quiet: OMS) -> None:
    oms = oms_quiet
    oms.sim.control.add_fault(POST_ORDERS, "status", status=503)
    response = oms.trade(symbol="AAPL", qty="2")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "filled"
    assert [o.client_order_id for o in broker_orders(oms)] == [body["client_order_id"]]
    assert_fills_once(detail(oms, body["id"]))


def test_scenario_7_cancel_lost_reply_confirmed_by_stream(oms_factory: Any) -> None:
    with oms_factory(fill_wait_polls=0) as oms:
        oms.create_portfolio("main")
        spy = StreamSpy(oms.runtime.orders)
        oms.sim.control.set_price("AAPL", "190.00")
        oms.sim.control.configure(cancel_delay_seconds=5)  # the broker takes a while
        placed = oms.trade(symbol="AAPL", qty="3", order_type="limit", limit_price="150")
        trade_id = placed.json()["id"]

        oms.sim.control.add_fault(DELETE_ORDER, "drop_reply")
        response = oms.post(f"/trades/{trade_id}/cancel")
        assert response.json()["status"] == "pending_cancel"
        spy.wait_for("pending_cancel")
        assert detail(oms, trade_id)["status"] == "pending_cancel"

        oms.sim.control.advance(5)  # the broker finishes the cancel and says so
        spy.wait_for("canceled")
        trade = detail(oms, trade_id)
        assert trade["status"] == "canceled"
        assert trade["events"][-1]["source"] == "stream"


# --------------------------------------------------------------------- 8. database down
@contextmanager
def database_fails(engine: Engine, fragment: str = "") -> Iterator[None]:
    """Make the database refuse statements (all, or those containing a fragment such as
    "INSERT INTO orders") the way a dead or locked database does: OperationalError."""
    driver_error = engine.dialect.loaded_dbapi.OperationalError

    def refuse(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if fragment.upper() in statement.upper():
            raise OperationalError(statement, None, driver_error("database is unavailable"))

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


@pytest.mark.parametrize(
    "prefix", ["", "INSERT INTO orders"], ids=["database_down", "insert_refused"]
)
def test_scenario_8_database_down_no_broker_call_clear_503(
    oms_quiet: OMS, db_engine: Engine, prefix: str
) -> None:
    oms = oms_quiet
    oms.sim.control.reset_counters()
    with database_fails(db_engine, prefix):
        response = oms.trade(symbol="AAPL", qty="1")
        counters = oms.sim.control.counters()

    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "database_unavailable"
    assert "nothing was sent" in error["message"]
    assert counters.get(POST_ORDERS, 0) == 0
    if prefix == "":
        assert counters == {}  # not even a look-up: the portfolio could not be read
    assert broker_orders(oms) == []
    # Once the database is back: nothing half-written, and the same trade goes through.
    assert count_rows(db_engine, "orders") == 0
    assert count_rows(db_engine, "order_events") == 0
    retry = oms.trade(symbol="AAPL", qty="1")
    assert retry.status_code == 201, retry.text
    assert len(broker_orders(oms)) == 1


def test_scenario_8_database_lost_after_the_send_is_settled_when_back(
    oms_quiet: OMS, db_engine: Engine
) -> None:
    """The row was committed and the order sent, then the database went away before the
    answer could be recorded: the user is told it was sent (not "nothing was sent"), and the
    order is adopted by client_order_id once the database is back."""
    oms = oms_quiet
    with database_fails(db_engine, "UPDATE orders"):
        response = oms.trade(symbol="AAPL", qty="1")

    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "database_unavailable"
    assert "nothing was sent" not in error["message"]
    assert "sent" in error["message"] and "do not place it again" in error["message"]
    trade_id = error["details"]["trade_id"]
    assert detail(oms, trade_id)["status"] == "pending_submit"  # recorded before sending

    oms.runtime.orders.sweep(older_than_seconds=0)
    trade = detail(oms, trade_id)
    assert trade["status"] == "filled"
    orders = broker_orders(oms)
    assert [o.client_order_id for o in orders] == [trade["client_order_id"]]
    assert oms.sim.control.counters()[POST_ORDERS] == 1
    assert count_rows(db_engine, "orders") == 1


# ----------------------------------------------------------- unknown outcome, unknown order
@pytest.mark.parametrize(
    ("post_fault", "posts_expected"),
    [({"kind": "drop_reply"}, 1), ({"kind": "status", "status": 503}, 2)],
    ids=["reached_broker", "never_reached_broker"],
)
def test_unknown_order_is_settled_later_by_the_poller_never_duplicated(
    oms_quiet: OMS, post_fault: dict[str, Any], posts_expected: int
) -> None:
    oms = oms_quiet
    oms.sim.control.add_fault(POST_ORDERS, **post_fault)
    oms.sim.control.add_fault(BY_CLIENT_ID, "status", status=503, count=3)  # look-ups fail too
    response = oms.trade(symbol="AAPL", qty="1")

    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "outcome_unknown"
    assert "never place it twice" in error["message"]
    trade_id = error["details"]["trade_id"]
    assert error["details"]["trade"]["status"] == "unknown"
    assert oms.sim.control.counters()[POST_ORDERS] == 1

    oms.runtime.orders.sweep(older_than_seconds=0)
    oms.runtime.orders.sweep(older_than_seconds=0)  # a second pass changes nothing

    trade = detail(oms, trade_id)
    assert trade["status"] == "filled"
    assert trade["error_code"] is None
    assert "poll" in sources(trade)
    assert oms.sim.control.counters()[POST_ORDERS] == posts_expected
    orders = broker_orders(oms)
    assert [o.client_order_id for o in orders] == [trade["client_order_id"]]
    assert_fills_once(trade)


def test_event_for_an_order_the_oms_does_not_know_is_ignored_and_the_stream_goes_on(
    oms_factory: Any, db_engine: Engine
) -> None:
    with oms_factory(fill_wait_polls=0) as oms:
        oms.create_portfolio("main")
        spy = StreamSpy(oms.runtime.orders)
        oms.sim.control.set_price("AAPL", "190.00")
        placed = oms.trade(symbol="AAPL", qty="2", order_type="limit", limit_price="180")
        trade_id = placed.json()["id"]
        assert placed.json()["status"] == "accepted"

        # Someone trades on the broker's dashboard: its events reach the OMS's stream.
        oms.sim.trading.submit_order(
            MarketOrderRequest(
                symbol="MSFT", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            )
        )
        spy.wait_for("fill")
        # Then the OMS's own order fills: the next event still applies.
        oms.sim.control.set_price("AAPL", "179.00")
        spy.wait_for("fill", count=2)

        trade = detail(oms, trade_id)
        assert trade["status"] == "filled"
        assert trade["events"][-1]["source"] == "stream"
        assert count_rows(db_engine, "orders") == 1  # the stranger was not imported here
        assert oms.runtime.stream_connected

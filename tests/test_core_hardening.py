"""Regression tests for the core-hardening review: each test is named after the defect it
guards, and each failed on the code before the fix. Real OMS (FastAPI app, order service,
alpaca-py gateway) against the simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest
from sqlalchemy.engine import Engine

from oms_api.broker.gateway import AlpacaGateway
from oms_api.broker.stream import TradeUpdatesStream
from oms_api.orders.enums import EventSource
from oms_api.orders.intake import TradeEventIntake
from oms_api.simulator import SimulatorControl, SimulatorOptions, SimulatorServer
from tests.conftest import T0
from tests.oms import OMS, running_oms, wait_for
from tests.test_reliability import broker_orders, detail, sim_gateway, statuses

POST_ORDERS = "POST /v2/orders"
GET_ORDER = "GET /v2/orders/{order_id}"
LIST_ORDERS = "GET /v2/orders"


def own_checks(counters: dict[str, int]) -> int:
    """Broker requests the OMS made on its own (not for a trade): polls, lists, clock."""
    return sum(n for route, n in counters.items() if route != POST_ORDERS)


# ------------------------------------------------ 2. /health spends no broker budget
def test_broker_probe_runs_only_when_nothing_succeeded_for_a_while(sim) -> None:
    clock = SimpleNamespace(now=100.0)
    gateway = sim_gateway(sim, monotonic=lambda: clock.now)
    assert gateway.probe_if_quiet(30) is True  # never heard from: asks
    calls = sim.control.counters()["GET /v2/clock"]
    for _ in range(50):  # however often it is asked, a recent answer is enough
        clock.now += 0.5
        assert gateway.probe_if_quiet(30) is None
    assert sim.control.counters()["GET /v2/clock"] == calls
    clock.now += 6  # 31 s after the last answer
    assert gateway.probe_if_quiet(30) is True
    assert sim.control.counters()["GET /v2/clock"] == calls + 1
    gateway.get_account()  # any good answer counts
    clock.now += 29
    assert gateway.probe_if_quiet(30) is None


# ---------------------------------------------------- 8. no secret in any log, at DEBUG
@pytest.fixture
def private_sim() -> Iterator[Any]:
    """A simulator of its own, with a long, recognisable secret key."""
    secret = "Pr1vate-" + "k" * 40
    server = SimulatorServer(SimulatorOptions(api_secret_key=secret, manual_clock_start=T0)).start()
    control = SimulatorControl(server.base_url)
    try:
        yield SimpleNamespace(
            key_id=server.options.api_key_id,
            secret_key=secret,
            url=server.base_url,
            stream_url=server.stream_url,
            control=control,
        )
    finally:
        control.close()
        server.stop()


def test_no_secret_reaches_any_log_at_debug_not_even_the_streams_auth_frame(
    private_sim: Any, db_engine: Engine, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger and every library's
    secret = private_sim.secret_key
    with running_oms(private_sim, db_engine, database_url) as oms:
        oms.create_portfolio("main")
        assert oms.trade(symbol="AAPL", qty="1").status_code == 201
        assert oms.get("/account").status_code == 200
    logged = "\n".join(
        f"{record.name} {record.getMessage()} {record.exc_text or ''}" for record in caplog.records
    )
    assert "authenticate" not in logged  # the stream's auth frame is never written out
    # Neither the whole secret nor any 8 characters of it (websockets truncates long frames).
    for start in range(len(secret) - 7):
        assert secret[start : start + 8] not in logged, secret[start : start + 8]


# ---------------------------------------- 10. several workers: fills reach every worker
@pytest.mark.postgres
def test_a_trade_served_by_the_worker_without_the_stream_learns_its_fill_at_once(
    sim: Any, db_engine: Engine, database_url: str
) -> None:
    """Two workers on one PostgreSQL; the one that does not run the trade stream serves the
    trade. It learns of the fill the other worker committed by NOTIFY: no poll (which would
    come only after FILL_POLL_INTERVAL_SECONDS), one broker call per fill."""
    if not database_url.startswith("postgresql"):
        pytest.skip("this run's database is SQLite; the PostgreSQL pass covers several workers")
    settings = {"fill_poll_interval_seconds": "10"}
    with running_oms(sim, db_engine, database_url, **settings) as first:
        wait_for(lambda: first.runtime.tracker_active.is_set(), "the first worker's tracker")
        first.create_portfolio("main")
        # The second worker hears about the first one's stream, without one of its own.
        with running_oms(sim, db_engine, database_url, **settings) as second:
            assert second.runtime.stream is None and second.runtime.stream_connected
            sim.control.reset_counters()
            for _ in range(5):
                response = second.trade(symbol="AAPL", qty="1")
                assert response.status_code == 201, response.text
                assert response.json()["status"] == "filled"
                assert len(response.json()["fills"]) == 1
            counters = sim.control.counters()
    assert counters[POST_ORDERS] == 5
    assert counters.get(GET_ORDER, 0) == 0  # never polled: the fill came by NOTIFY


# --------------------------------------------- 12. lost wake-up, and the echo's commit
class SlowReplyGateway(AlpacaGateway):
    """The broker's reply arrives after its stream events were applied (a fast stream)."""

    orders: Any = None

    def submit_order(self, submission: Any) -> Any:
        if self.orders is None:
            return super().submit_order(submission)
        applied = threading.Event()
        original = self.orders.apply_trade_events

        def spy(events: list[Any]) -> None:
            original(events)
            if any(e.event == "fill" for e in events):
                applied.set()

        self.orders.apply_trade_events = spy  # before the send: the fill may come at once
        try:
            result = super().submit_order(submission)
            assert applied.wait(5), "the fill never came by stream"
        finally:
            self.orders.apply_trade_events = original
        return result


def test_a_fill_applied_before_the_reply_returns_wakes_the_request_and_the_echo_writes_nothing(
    oms_factory: Any, sim: Any
) -> None:
    gateway = sim_gateway(sim, cls=SlowReplyGateway)
    with oms_factory(gateway=gateway, fill_poll_interval_seconds="1") as oms:
        oms.create_portfolio("main")
        gateway.orders = oms.runtime.orders
        waits: list[bool] = []
        watch = oms.runtime.orders.watch
        original_wait = watch.wait

        def recording_wait(order_id: int, since: int, timeout: float) -> bool:
            changed = original_wait(order_id, since, timeout)
            waits.append(changed)
            return changed

        watch.wait = recording_wait  # type: ignore[method-assign]
        response = oms.trade(symbol="AAPL", qty="2")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "filled"
    # The request saw at once that the order had changed while its reply was on the way
    # (before the fix it read the version too late and waited out its window: False).
    assert waits == [True]
    # The stream's `new` came while the order was in flight: it cost no write of its own.
    trade = detail(oms, body["id"])
    assert statuses(trade) == ["pending_submit", "filled"]


# --------------------------------------------------- 13. resting orders starve nothing
@pytest.mark.parametrize("resting", [50, 500])
def test_resting_orders_need_no_polls_while_the_stream_is_up_and_trades_keep_working(
    oms_factory: Any, db_engine: Engine, resting: int
) -> None:
    with oms_factory(broker_requests_per_minute=180, broker_burst=10) as oms:
        oms.create_portfolio("main", "100000")  # room for the resting buys it is given below
        oms.sim.control.set_price("AAPL", "190.00")
        oms.sim.control.configure(max_step_bps=0)
        seeded = oms.sim.control.seed_orders(
            [
                {
                    "symbol": "AAPL",
                    "side": "buy",
                    "type": "limit",
                    "qty": "1",
                    "limit_price": "100",
                    "time_in_force": "gtc",
                    "status": "new",
                }
            ]
            * resting
        )
        _adopt(db_engine, seeded)
        oms.sim.control.reset_counters()

        # A minute of the tracker's work, sweep by sweep (every 5 s), with the stream up:
        # one full check of every working order (one list request a page), nothing else.
        orders = oms.runtime.orders
        for tick in range(12):
            orders.sweep(older_than_seconds=5, full=tick == 0)
        counters = oms.sim.control.counters()
        assert own_checks(counters) <= 2, counters
        assert counters.get(GET_ORDER, 0) == 0
        # One page of up to 500 (a full page asks once more for the rest).
        assert counters.get(LIST_ORDERS, 0) == (1 if resting < 500 else 2)

        # Reads and trades go on as usual.
        assert oms.get("/positions").status_code == 200
        placed = oms.trade(symbol="MSFT", qty="1")
        assert placed.status_code == 201, placed.text
        assert placed.json()["status"] == "filled"


def _adopt(engine: Engine, seeded: list[dict[str, Any]]) -> None:
    """Record the broker's resting orders as orders the OMS placed and heard accepted."""
    from sqlalchemy import insert, select

    from oms_api.orders.models import Order
    from oms_api.portfolios.models import Portfolio

    table = Order.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        portfolio_id = connection.execute(select(Portfolio.__table__.c.id)).scalar()  # type: ignore[attr-defined]
        connection.execute(
            insert(table),
            [
                {
                    "client_order_id": order["client_order_id"],
                    "broker_order_id": order["id"],
                    "portfolio_id": portfolio_id,
                    "symbol": "AAPL",
                    "side": "buy",
                    "qty": Decimal("1"),
                    "order_type": "limit",
                    "time_in_force": "gtc",
                    "limit_price": Decimal("100"),
                    "order_class": "simple",
                    "extended_hours": False,
                    "status": "accepted",
                    "broker_status": "new",
                    "filled_qty": Decimal(0),
                    "external": False,
                    "send_attempts": 1,
                    "created_at": T0,
                    "submitted_at": T0,
                    "updated_at": T0,
                }
                for order in seeded
            ],
        )


def test_without_the_stream_working_orders_cost_one_list_request_per_check(
    oms_factory: Any, db_engine: Engine
) -> None:
    with oms_factory(stream_enabled=False, background=False) as oms:
        oms.create_portfolio("main")
        oms.sim.control.set_price("AAPL", "190.00")
        oms.sim.control.configure(max_step_bps=0)
        resting = [
            oms.trade(symbol="AAPL", qty="1", order_type="limit", limit_price="150").json()
            for _ in range(20)
        ]
        assert {r["status"] for r in resting} == {"accepted"}
        oms.sim.control.reset_counters()
        oms.runtime.orders.sweep(older_than_seconds=0, full=True)
        assert oms.sim.control.counters() == {LIST_ORDERS: 1}

        # One of them fills at the broker: the check notices it and looks at that one only.
        oms.sim.control.set_price("AAPL", "149.00")
        oms.sim.control.reset_counters()
        oms.runtime.orders.sweep(older_than_seconds=0, full=True)
        assert oms.sim.control.counters() == {LIST_ORDERS: 1, GET_ORDER: 20}
        assert {detail(oms, r["id"])["status"] for r in resting} == {"filled"}


def test_a_resting_limit_order_answers_as_soon_as_the_broker_accepted_it(oms: OMS) -> None:
    oms.sim.control.set_price("AAPL", "190.00")
    oms.sim.control.reset_counters()
    response = oms.trade(symbol="AAPL", qty="1", order_type="limit", limit_price="150")
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "accepted"
    # No fill polls (before the fix: three, one second apart, for a fill that cannot come).
    counters = oms.sim.control.counters()
    assert counters[POST_ORDERS] == 1
    assert counters.get(GET_ORDER, 0) == 0


# ------------------------------------------------- 14. the stream's reader keeps reading
def test_the_stream_keeps_reading_while_events_are_being_applied(sim: Any) -> None:
    """A slow commit holds back the applier, never the socket: events queue, and the next
    batch applies all of them at once."""
    release = threading.Event()
    batches: list[list[str]] = []
    first_batch = threading.Event()

    def apply(events: list[Any]) -> None:
        batches.append([e.event for e in events])
        first_batch.set()
        release.wait(10)  # a very slow commit

    intake = TradeEventIntake(apply)
    intake.start()
    stream = TradeUpdatesStream(
        key_id=sim.key_id,
        secret_key=sim.secret_key,
        stream_url=sim.stream_url,
        on_event=intake.put,
        on_connect=None,
    )
    stream.start()
    try:
        wait_for(lambda: stream.connected, "the stream")
        for _ in range(5):
            sim.trading.submit_order(
                MarketOrderRequest(
                    symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
                )
            )
        assert first_batch.wait(5)
        # All ten events (new + fill, five times) were read while the first apply hung.
        wait_for(lambda: stream.events_received == 10, "the reader to read on")
        release.set()
        wait_for(lambda: sum(len(b) for b in batches) == 10, "every event applied")
        assert len(batches) <= 3  # the queued ones in one batch, not one commit each
    finally:
        release.set()
        stream.stop()
        intake.stop()


# -------------------------------------------- 1. only the broker makes an order rejected
def test_a_fill_for_an_order_held_as_rejected_is_recorded_and_the_status_follows_the_broker(
    oms: OMS,
) -> None:
    """The OMS holds an order as `rejected` (a re-send met a 403), but the first send of the
    same client_order_id reached the broker after all and fills: the fill is a fact."""
    rejected = _record_rejected(oms)
    oms.sim.trading.submit_order(
        MarketOrderRequest(
            symbol="AAPL",
            qty=3,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            client_order_id=rejected.client_order_id,
        )
    )
    wait_for(lambda: detail(oms, rejected.id)["status"] == "filled", "the late fill")
    trade = detail(oms, rejected.id)
    assert Decimal(trade["filled_qty"]) == 3
    assert len(trade["fills"]) == 1
    assert trade["error_code"] is None
    history = statuses(trade)
    assert history[-1] == "filled" and "rejected" in history  # rejected, then the broker's view
    assert any("after all" in (e["note"] or "") for e in trade["events"])


def _record_rejected(oms: OMS) -> Any:
    """An order recorded and then concluded `rejected`, as a re-send's 403 leaves it."""
    from oms_api.broker.models import BrokerError

    order = _record_pending(oms)
    return oms.runtime.orders.writer.mark_rejected(
        order.id,
        "insufficient_buying_power",
        "the broker refused the order: insufficient buying power",
        EventSource.API,
        BrokerError(403, 40310000, "insufficient buying power"),
    )


def test_unknown_never_becomes_rejected_when_the_resend_is_refused_locally(
    oms_factory: Any, sim: Any
) -> None:
    """The first submit times out while the broker still holds it; the look-up by
    client_order_id finds nothing yet; the re-send is refused by the OMS's own budget. The
    order stays `unknown` (never "rejected: nothing was sent"), the client is told not to place
    it again, and when the broker processes the first send after all, its fill is recorded."""
    clock = SimpleNamespace(now=1000.0)
    gateway = sim_gateway(
        sim,
        timeout=0.3,
        # A budget that has a slot for the submit and one look-up, not for a re-send (its
        # clock never moves here, so nothing refills); two more for the portfolio's capital
        # check (the account) and the trade's price estimate (a quote).
        requests_per_minute=1,
        burst=7,
        monotonic=lambda: clock.now,
        sleep=lambda seconds: None,
    )
    with oms_factory(gateway=gateway) as oms:
        oms.create_portfolio("main")
        oms.sim.control.add_fault(POST_ORDERS, "process_late")
        response = oms.trade(symbol="AAPL", qty="2")

        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["code"] == "outcome_unknown"
        assert "do not place it again" in error["message"]
        trade_id = error["details"]["trade_id"]
        trade = detail(oms, trade_id)
        assert trade["status"] == "unknown"
        assert "rejected" not in statuses(trade) and "not_sent" not in statuses(trade)
        assert any("re-send held back" in (e["note"] or "") for e in trade["events"])
        assert oms.sim.control.counters()[POST_ORDERS] == 1  # the re-send never went out

        # The broker processes the first send after all: it is placed and fills.
        assert oms.sim.control.release_held() == 1
        wait_for(lambda: detail(oms, trade_id)["status"] == "filled", "the late fill")
        trade = detail(oms, trade_id)
        assert Decimal(trade["filled_qty"]) == 2
        assert len(trade["fills"]) == 1
        assert trade["error_code"] is None
        assert "rejected" not in statuses(trade)
        mine = [o for o in broker_orders(oms) if o.client_order_id == trade["client_order_id"]]
        assert len(mine) == 1


def test_the_one_statement_write_never_overwrites_a_change_made_by_another_worker(
    oms: OMS, db_engine: Engine
) -> None:
    """The writer remembers the row it wrote; another worker then changes the order. The
    next write for it must not be based on the stale copy: it is guarded by `updated_at`
    and falls back to reading the row under its lock."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from oms_api.broker.models import BrokerOrder, TradeEvent
    from oms_api.orders.writer import BrokerNews

    orders = oms.runtime.orders
    order = _record_pending(oms)
    # Another worker records the broker's acknowledgement (its own transaction).
    with db_engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE orders SET status = 'accepted', broker_order_id = 'b-1', "
                "broker_status = 'new', updated_at = :now WHERE id = :id"
            ),
            {"now": datetime.now(UTC), "id": order.id},
        )
    now = datetime.now(UTC)
    filled = BrokerOrder(
        id="b-1",
        client_order_id=order.client_order_id,
        symbol="AAPL",
        side="buy",
        status="filled",
        order_type="market",
        time_in_force="day",
        qty=Decimal("3"),
        notional=None,
        filled_qty=Decimal("3"),
        filled_avg_price=Decimal("190"),
        limit_price=None,
        stop_price=None,
        order_class="simple",
        extended_hours=False,
        submitted_at=now,
        filled_at=now,
        canceled_at=None,
        updated_at=now,
    )
    fill = TradeEvent("fill", filled, "exec-1", Decimal("190"), Decimal("3"), None, now)
    orders.writer.apply([BrokerNews(order.id, filled, EventSource.STREAM, fill)])

    trade = detail(oms, order.id)
    assert trade["status"] == "filled"
    assert [e["from_status"] for e in trade["events"]][-1] == "accepted"  # read, not assumed
    assert len(trade["fills"]) == 1


def _record_pending(oms: OMS) -> Any:
    """An order recorded before sending, as a request thread leaves it."""
    from oms_api.orders.requests import TradeRequest

    orders = oms.runtime.orders
    portfolio_id = oms.get("/portfolios").json()[0]["id"]
    request = TradeRequest(portfolio="main", symbol="AAPL", side="buy", qty=Decimal("3"))
    order = orders.writer.record_new(
        orders.placement._values(request, "AAPL", "simple", portfolio_id)
    )
    assert order is not None
    return order

"""Start-up recovery: orders a previous run left unsettled are resolved by client_order_id
before the OMS takes new trades, and never placed twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import GetOrdersRequest, MarketOrderRequest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from oms_api.orders.ids import new_client_order_id
from oms_api.orders.models import Order, OrderEvent
from oms_api.portfolios.models import Portfolio


def _left_open(
    engine: Engine, portfolio_id: int, status: str, *, age: timedelta = timedelta(seconds=30)
) -> tuple[int, str]:
    """An order row as a crashed run would have left it (recorded, outcome not known)."""
    created = datetime.now(UTC) - age
    client_order_id = new_client_order_id(portfolio_id)
    with Session(engine) as session:
        order = Order(
            client_order_id=client_order_id,
            portfolio_id=portfolio_id,
            symbol="AAPL",
            side="buy",
            qty=Decimal("3"),
            order_type="market",
            time_in_force="day",
            status=status,
            send_attempts=1,
            created_at=created,
            submitted_at=created,
            updated_at=created,
        )
        session.add(order)
        session.flush()
        session.add(
            OrderEvent(order_id=order.id, to_status=status, source="api", created_at=created)
        )
        session.commit()
        assert order.id is not None
        return order.id, client_order_id


def _portfolio(engine: Engine, name: str = "main") -> int:
    with Session(engine) as session:
        portfolio = Portfolio(name=name, allocated_capital=Decimal("10000"))
        session.add(portfolio)
        session.commit()
        assert portfolio.id is not None
        return portfolio.id


def _broker_orders_with(sim, client_order_id: str) -> list:
    orders = sim.trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500))
    return [o for o in orders if o.client_order_id == client_order_id]


def test_start_up_adopts_what_the_broker_has_and_resends_what_it_lacks(sim, db_engine, oms_factory):
    sim.control.set_price("AAPL", "190.00")
    portfolio_id = _portfolio(db_engine)
    placed_id, placed_coid = _left_open(db_engine, portfolio_id, "pending_submit")
    lost_id, lost_coid = _left_open(db_engine, portfolio_id, "unknown")
    # The crashed run got the first order through before it died.
    broker_order = sim.trading.submit_order(
        MarketOrderRequest(
            symbol="AAPL",
            qty=3,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            client_order_id=placed_coid,
        )
    )
    sim.control.reset_counters()

    with oms_factory(background=False) as oms:
        adopted = oms.get(f"/trades/{placed_id}").json()
        resent = oms.get(f"/trades/{lost_id}").json()

        assert adopted["broker_order_id"] == str(broker_order.id)
        assert adopted["status"] == "filled"
        assert Decimal(adopted["filled_qty"]) == 3
        assert Decimal(adopted["filled_avg_price"]) == Decimal("190.00")
        assert adopted["events"][-1]["source"] == "recovery"

        assert resent["client_order_id"] == lost_coid
        assert resent["broker_order_id"] is not None
        assert resent["status"] in ("accepted", "filled")
        assert {e["source"] for e in resent["events"][1:]} == {"recovery"}

    # Exactly one new order reached the broker: the lost one, under its own id.
    assert sim.control.counters().get("POST /v2/orders") == 1
    [again] = _broker_orders_with(sim, lost_coid)
    assert str(again.id) == resent["broker_order_id"]
    assert len(_broker_orders_with(sim, placed_coid)) == 1


def test_start_up_does_not_send_an_order_that_is_too_old(sim, db_engine, oms_factory):
    portfolio_id = _portfolio(db_engine)
    stale_id, stale_coid = _left_open(
        db_engine, portfolio_id, "pending_submit", age=timedelta(minutes=10)
    )
    sim.control.reset_counters()

    with oms_factory(background=False) as oms:
        trade = oms.get(f"/trades/{stale_id}").json()

    # Never "rejected": the broker said no such thing; the OMS gave up sending it.
    assert trade["status"] == "not_sent"
    assert trade["error_code"] == "stale_unsent"
    assert trade["broker_order_id"] is None
    assert trade["events"][-1]["source"] == "recovery"
    assert sim.control.counters().get("POST /v2/orders", 0) == 0
    assert _broker_orders_with(sim, stale_coid) == []

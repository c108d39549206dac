"""The history sync against the simulator: full walk in pages of 500, idempotent re-runs,
cheap incremental runs, orders and positions changed outside the app, deterministic trades."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest
from sqlalchemy import select, update

from oms_api.broker.gateway import AlpacaGateway
from oms_api.db.engine import singleton_lock
from oms_api.errors import ServiceError
from oms_api.history.models import BrokerOrderRecord, BrokerPositionRecord
from oms_api.history.sync import HistorySync
from oms_api.simulator.history_seed import history_orders, seed_history
from tests.conftest import T0

ORDERS = BrokerOrderRecord.__table__
POSITIONS = BrokerPositionRecord.__table__
HISTORY_START = T0 - timedelta(days=40)


class Clock:
    """The sync's wall clock: a second later at every reading, so updated_at moves visibly."""

    def __init__(self) -> None:
        self._ticks = itertools.count()

    def __call__(self) -> Any:
        return T0 + timedelta(days=1, seconds=next(self._ticks))


def make_gateway(sim: Any) -> AlpacaGateway:
    return AlpacaGateway(
        key_id=sim.key_id,
        secret_key=sim.secret_key,
        base_url=sim.url,
        data_url=sim.url,
        stream_url=sim.stream_url,
        timeout=10.0,
        requests_per_minute=6000,
        burst=100,
    )


@pytest.fixture
def gateway(sim) -> AlpacaGateway:
    return make_gateway(sim)


@pytest.fixture
def syncer(db_engine, gateway) -> HistorySync:
    return HistorySync(db_engine, gateway, now=Clock())


def seed(sim, n: int, seed_value: int = 11) -> list[dict[str, Any]]:
    return seed_history(sim.control, history_orders(n, seed=seed_value, start=HISTORY_START))


def all_ids(seeded: list[dict[str, Any]]) -> set[str]:
    ids = set()
    for order in seeded:
        ids.add(order["id"])
        ids.update(leg["id"] for leg in order.get("legs") or [])
    return ids


def snapshot(engine) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                ORDERS.c.broker_order_id,
                ORDERS.c.updated_at,
                ORDERS.c.content_hash,
                ORDERS.c.status,
                ORDERS.c.trade_id,
                ORDERS.c.strategy,
            )
        ).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def market_buy(sim, symbol: str = "AAPL", qty: int = 1) -> Any:
    return sim.trading.submit_order(
        MarketOrderRequest(
            symbol=symbol, qty=qty, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
        )
    )


# ---------------------------------------------------------------------- full and re-run
def test_full_sync_of_1200_orders_reads_three_pages_and_stores_every_order_once(
    sim, db_engine, gateway, syncer
):
    seeded = seed(sim, 1200)
    legs = sum(len(o.get("legs") or []) for o in seeded)
    assert legs > 0
    before = gateway.request_count

    result = syncer.run()

    assert result.full is True
    assert result.pages == 3
    assert gateway.request_count - before == 4  # three pages of orders + one of positions
    assert result.broker_calls == 4
    assert (result.orders_seen, result.inserted, result.updated) == (1200, 1200, 0)
    stored = snapshot(db_engine)
    assert set(stored) == all_ids(seeded)
    assert len(stored) == 1200 + legs
    # Every row belongs to a trade; the cursor is the newest submission.
    assert all(trade_id for _, _, _, trade_id, _ in stored.values())
    assert result.cursor_at == max(HISTORY_START.fromisoformat(o["submitted_at"]) for o in seeded)
    state = syncer.state()
    assert state["orders_mirrored"] == 1200
    assert state["full_synced_at"] is not None and state["last_error"] is None


def test_a_rerun_changes_nothing_and_costs_two_calls(sim, db_engine, gateway, syncer):
    seed(sim, 1200)
    syncer.run()
    before_rows = snapshot(db_engine)
    before = gateway.request_count

    again = syncer.run()

    assert gateway.request_count - before == 2  # one orders page + positions
    assert again.full is False
    assert (again.inserted, again.updated) == (0, 0)
    assert snapshot(db_engine) == before_rows  # no updated_at moved, nothing rewritten

    full_again = syncer.run(full=True)
    assert (full_again.inserted, full_again.updated, full_again.unchanged) == (0, 0, 1200)
    assert snapshot(db_engine) == before_rows


def test_an_incremental_run_after_ten_outside_orders_stores_exactly_those(
    sim, db_engine, gateway, syncer
):
    seed(sim, 1200)
    syncer.run()
    before_rows = snapshot(db_engine)
    placed = {str(market_buy(sim, "AAPL", 2).id) for _ in range(10)}
    before = gateway.request_count

    result = syncer.run()

    calls = gateway.request_count - before
    assert 1 <= calls <= 2 and result.broker_calls == calls
    assert result.inserted == 10
    after_rows = snapshot(db_engine)
    assert set(after_rows) - set(before_rows) == placed
    assert {after_rows[i][2] for i in placed} == {"filled"}
    assert all(after_rows[i][4] == "equity" for i in placed)
    # The positions changed outside the app are mirrored too.
    with db_engine.connect() as connection:
        qty = connection.execute(
            select(POSITIONS.c.qty).where(POSITIONS.c.symbol == "AAPL")
        ).scalar_one()
    assert qty == D(20)


def test_an_order_that_fills_later_is_updated_and_its_updated_at_moves(
    sim, db_engine, gateway, syncer
):
    seed(sim, 50)
    sim.control.set_price("AAPL", "100")
    working = sim.trading.submit_order(
        LimitOrderRequest(
            symbol="AAPL", qty=3, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, limit_price=90
        )
    )
    order_id = str(working.id)
    syncer.run()
    first = snapshot(db_engine)
    assert first[order_id][2] == "new"

    # Later (outside the overlap window), the price drops and the order fills at the broker.
    sim.control.advance(60)
    sim.control.set_price("AAPL", "89")
    market_buy(sim, "MSFT")  # something new too, so the window moves past the limit order
    before = gateway.request_count
    result = syncer.run()

    second = snapshot(db_engine)
    assert second[order_id][2] == "filled"
    assert second[order_id][0] > first[order_id][0]  # updated_at moved
    assert second[order_id][1] != first[order_id][1]
    assert result.updated >= 1
    # Nothing else was rewritten.
    assert {k: v for k, v in second.items() if k in first and k != order_id} == {
        k: v for k, v in first.items() if k != order_id
    }
    # Orders page + open orders + the one order looked up + positions.
    assert gateway.request_count - before <= 4


def test_trade_ids_are_the_same_after_wiping_them_and_a_full_resync(db_engine, sim, syncer):
    seed(sim, 600, seed_value=5)
    syncer.run()
    before = {k: (v[3], v[4]) for k, v in snapshot(db_engine).items()}
    assert len({t for t, _ in before.values()}) > 100
    with db_engine.begin() as connection:
        connection.execute(update(ORDERS).values(trade_id=None, strategy=None))

    syncer.run(full=True)

    assert {k: (v[3], v[4]) for k, v in snapshot(db_engine).items()} == before


def test_mleg_legs_are_stored_with_their_parent_and_option_fields(sim, db_engine, syncer):
    seeded = seed(sim, 300, seed_value=2)
    condor = next(o for o in seeded if o["order_class"] == "mleg" and len(o["legs"]) == 4)
    syncer.run()
    with db_engine.connect() as connection:
        rows = connection.execute(
            select(ORDERS)
            .where(ORDERS.c.parent_broker_order_id == condor["id"])
            .order_by(ORDERS.c.leg_number)
        ).all()
        parent = connection.execute(
            select(ORDERS).where(ORDERS.c.broker_order_id == condor["id"])
        ).one()
    assert [r.leg_number for r in rows] == [1, 2, 3, 4]
    assert [r.symbol for r in rows] == [leg["symbol"] for leg in condor["legs"]]
    root = condor["legs"][0]["symbol"][:3]
    assert parent.symbol == "" and parent.underlying == root and parent.strategy == "iron_condor"
    assert {r.underlying for r in rows} == {root}
    assert {r.trade_id for r in rows} == {parent.trade_id}
    assert [r.option_type for r in rows] == ["put", "put", "call", "call"]
    assert all(r.option_expiry is not None and r.option_strike > 0 for r in rows)
    assert parent.raw["id"] == condor["id"]


# ---------------------------------------------------------------------- positions
def test_positions_are_a_snapshot_of_the_broker(sim, db_engine, syncer):
    sim.control.seed_positions(
        [
            {"symbol": "AAPL", "qty": "10", "avg_entry_price": "150"},
            {"symbol": "MSFT", "qty": "-4", "avg_entry_price": "400"},
        ]
    )
    assert syncer.run().positions == 2
    with db_engine.connect() as connection:
        first = {r.symbol: r for r in connection.execute(select(POSITIONS)).all()}
    assert first["MSFT"].side == "short" and first["MSFT"].qty == D(-4)

    # Changed outside the app: AAPL grows, MSFT is gone.
    sim.control.seed_positions(
        [
            {"symbol": "AAPL", "qty": "15", "avg_entry_price": "150"},
            {"symbol": "MSFT", "qty": "0", "avg_entry_price": "400"},
        ]
    )
    assert syncer.run().positions == 1
    with db_engine.connect() as connection:
        second = {r.symbol: r for r in connection.execute(select(POSITIONS)).all()}
    assert set(second) == {"AAPL"}
    assert second["AAPL"].qty == D(15)
    assert second["AAPL"].updated_at > first["AAPL"].updated_at
    assert second["AAPL"].first_seen_at == first["AAPL"].first_seen_at


# ---------------------------------------------------------------------- guards
def test_a_second_sync_is_refused_while_one_runs_and_sends_nothing(db_engine, gateway, syncer):
    with singleton_lock(db_engine, "oms-history-sync") as got:
        assert got
        before = gateway.request_count
        with pytest.raises(ServiceError) as refused:
            syncer.run()
    assert refused.value.status == 409 and refused.value.code == "sync_running"
    assert gateway.request_count == before


def test_record_upserts_broker_json_and_skips_bad_orders(sim, db_engine, gateway, syncer):
    placed = market_buy(sim, "AAPL", 1)
    good = gateway.get_order_json(str(placed.id))
    assert good is not None
    no_id = {**good, "id": None, "client_order_id": "x"}
    bad_status = {**good, "id": "6f1c0000-0000-4000-8000-000000000001", "status": "exploded"}

    syncer.record([no_id, good, bad_status])

    rows = snapshot(db_engine)
    assert set(rows) == {str(placed.id)}
    assert rows[str(placed.id)][4] == "equity"
    syncer.record([good])  # the same content again: nothing moves
    assert snapshot(db_engine) == rows


def test_a_broker_failure_is_recorded_and_reported(sim, db_engine, syncer):
    seed(sim, 20)
    sim.control.add_fault("GET /v2/orders", "status", status=500)
    with pytest.raises(ServiceError) as failed:
        syncer.run()
    assert failed.value.status == 503 and failed.value.code == "broker_unavailable"
    state = syncer.state()
    assert state["last_error"] and state["last_success_at"] is None
    assert state["orders_mirrored"] == 0

    sim.control.clear_faults()
    assert syncer.run().inserted == 20
    assert syncer.state()["last_error"] is None


def test_mirror_rows_read_in_the_order_grouping_declares_its_fields() -> None:
    from oms_api.history.grouping import MirrorOrder
    from oms_api.history.sync import MIRROR_COLUMNS

    # The sync builds MirrorOrder positionally from these columns.
    assert MirrorOrder._fields == MIRROR_COLUMNS

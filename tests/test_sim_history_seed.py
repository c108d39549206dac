"""The simulator's seeded order history: a deterministic, realistic mix that alpaca-py reads."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal as D

from alpaca.trading.enums import AssetClass, OrderClass, QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest

from oms_api.simulator.history_seed import history_orders, seed_history
from tests.conftest import T0

START = T0 - timedelta(days=30)


def test_the_history_is_deterministic_and_has_distinct_ordered_times():
    first = history_orders(800, seed=9, start=START)
    assert first == history_orders(800, seed=9, start=START)
    assert first != history_orders(800, seed=10, start=START)
    assert len(first) == 800
    times = [o["submitted_at"] for o in first]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert times[-1] < T0.isoformat()


def test_the_history_is_a_realistic_mix():
    orders = history_orders(1000, seed=3, start=START)
    mleg = [o for o in orders if o.get("order_class") == "mleg"]
    assert Counter(len(o["legs"]) for o in mleg).keys() == {2, 4}
    statuses = Counter(o["status"] for o in orders)
    assert statuses["filled"] > 500 and statuses["canceled"] and statuses["expired"]
    symbols = [o["symbol"] for o in orders if o.get("symbol")]
    symbols += [leg["symbol"] for o in mleg for leg in o["legs"]]
    options = [s for s in symbols if len(s) > 15]
    assert {s[: len(s) - 15] for s in options} == {"SPY", "QQQ", "AAPL"}
    assert any(len(s) <= 5 for s in symbols)  # equities too
    closes = [leg for o in mleg for leg in o["legs"] if leg["position_intent"].endswith("close")]
    assert closes
    # Legs placed as separate orders a minute apart.
    separate = [o for o in orders if o["client_order_id"].startswith(("hist-strad", "hist-vleg"))]
    assert len(separate) >= 2


def test_seeded_legs_are_realistic_and_alpaca_py_reads_them(sim):
    condor = {
        "client_order_id": "seed-ic",
        "order_class": "mleg",
        "type": "limit",
        "limit_price": "-1.95",
        "qty": "3",
        "status": "filled",
        "time_in_force": "day",
        "submitted_at": "2026-11-10T15:00:00.000000Z",
        "legs": [
            {"symbol": "SPY261218P00560000", "side": "buy", "ratio_qty": "1",
             "position_intent": "buy_to_open", "filled_avg_price": "0.50"},
            {"symbol": "SPY261218P00570000", "side": "sell", "ratio_qty": "1",
             "position_intent": "sell_to_open", "filled_avg_price": "1.50"},
            {"symbol": "SPY261218C00590000", "side": "sell", "ratio_qty": "2",
             "position_intent": "sell_to_open"},
        ],
    }  # fmt: skip
    (seeded,) = sim.control.seed_orders([condor])

    legs = seeded["legs"]
    assert [leg["qty"] for leg in legs] == ["3", "3", "6"]
    assert [leg["filled_qty"] for leg in legs] == ["3", "3", "6"]
    assert [leg["filled_avg_price"] for leg in legs] == ["0.50", "1.50", None]
    assert {leg["asset_class"] for leg in legs} == {"us_option"}
    assert {leg["order_class"] for leg in legs} == {"mleg"}
    for key in ("submitted_at", "filled_at", "created_at", "updated_at"):
        assert {leg[key] for leg in legs} == {seeded[key]}
    assert len({leg["id"] for leg in legs} | {seeded["id"]}) == 4

    (order,) = sim.trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, nested=True))
    assert order.order_class == OrderClass.MLEG
    assert [leg.position_intent.value for leg in order.legs] == [
        "buy_to_open",
        "sell_to_open",
        "sell_to_open",
    ]
    assert [D(leg.qty) for leg in order.legs] == [3, 3, 6]
    assert {leg.asset_class for leg in order.legs} == {AssetClass.US_OPTION}


def test_canceled_and_expired_history_carries_its_time(sim):
    bodies = [
        {"symbol": "AAPL", "qty": "1", "status": "canceled",
         "submitted_at": "2026-11-01T15:00:00Z"},
        {"symbol": "SPY261218C00590000", "qty": "1", "status": "expired",
         "submitted_at": "2026-11-02T15:00:00Z"},
    ]  # fmt: skip
    canceled, expired = sim.control.seed_orders(bodies)
    assert canceled["canceled_at"] == canceled["submitted_at"] and canceled["filled_qty"] == "0"
    assert expired["expired_at"] == expired["submitted_at"]
    assert expired["asset_class"] == "us_option"


def test_ten_thousand_orders_seed_quickly(sim):
    bodies = history_orders(10_000, seed=1, start=T0 - timedelta(days=120))
    started = time.perf_counter()
    seeded = seed_history(sim.control, bodies)
    assert time.perf_counter() - started < 20
    assert len(seeded) == 10_000
    assert len({o["id"] for o in seeded}) == 10_000

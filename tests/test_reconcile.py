"""Reconciliation against the simulator: scenario 10 of the reliability notes (a position
changed outside the app is reported, nothing is traded, repair adopts it with an audit row),
a crash between the broker's accept and the OMS's update, and the comparison rules."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from oms_api.broker.models import BrokerOrder
from oms_api.orders.ids import new_client_order_id
from oms_api.reconcile import compare
from tests.oms import OMS
from tests.test_reliability import leave_unsettled_order as row_left_by_a_crash

ORDER_WRITES = ("POST /v2/orders", "DELETE /v2/orders", "DELETE /v2/positions")


@pytest.fixture
def desk(oms_factory: Any) -> Iterator[OMS]:
    """The OMS without stream or poller (only the API changes orders) and no grace period,
    with a portfolio "main"."""
    with oms_factory(stream_enabled=False, background=False, reconcile_grace_seconds=0) as oms:
        oms.create_portfolio("main")
        yield oms


def main_id(oms: OMS) -> int:
    [main] = [p for p in oms.get("/portfolios").json() if p["name"] == "main"]
    return main["id"]


def reconcile(oms: OMS, **body: Any) -> dict[str, Any]:
    response = oms.post("/reconcile", body or None)
    assert response.status_code == 200, response.text
    return response.json()


def repair(oms: OMS, report_id: int, action: str, **body: Any) -> dict[str, Any]:
    response = oms.post(f"/reconcile/reports/{report_id}/repair", {"action": action, **body})
    assert response.status_code == 200, response.text
    return response.json()


def buy(oms: OMS, symbol: str = "AAPL", qty: str = "5") -> dict[str, Any]:
    response = oms.trade(symbol=symbol, qty=qty)
    assert response.status_code == 201, response.text
    trade = response.json()
    assert trade["status"] == "filled", trade
    return trade


def order_writes(oms: OMS) -> dict[str, int]:
    counters = oms.sim.control.counters()
    return {k: v for k, v in counters.items() if k.startswith(ORDER_WRITES)}


def by_kind(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [d for d in report["discrepancies"] if d["kind"] == kind]


def audit_rows(engine: Engine, action: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT * FROM audit_log WHERE action = :a ORDER BY id"), {"a": action}
        )
        found = [dict(r._mapping) for r in rows]
    for row in found:  # SQLite hands JSON back as text
        if isinstance(row["details"], str):
            row["details"] = json.loads(row["details"])
    return found


def external_order(oms: OMS, symbol: str, qty: int, client_order_id: str | None = None) -> Any:
    """An order placed straight at the broker (the dashboard), not through the OMS."""
    return oms.sim.trading.submit_order(
        MarketOrderRequest(
            symbol=symbol,
            qty=qty,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            client_order_id=client_order_id or str(uuid.uuid4()),
        )
    )


# ------------------------------------------------------------------ the scenarios
def test_in_sync_after_trading_through_the_oms(desk: OMS) -> None:
    buy(desk)
    report = reconcile(desk)

    assert report["discrepancy_count"] == 0
    assert report["discrepancies"] == []
    assert report["checked"] == 2  # one order, one symbol
    assert report["in_sync"] == 2
    assert report["trigger"] == "manual"
    assert report["repairable"] == {"adopt": 0, "refresh": 0}


def test_scenario_10_position_changed_outside_the_app_is_reported_and_nothing_is_traded(
    desk: OMS, db_engine: Engine
) -> None:
    """Expected behaviour, decided: an order placed in the broker's dashboard shows as
    missing_in_oms (repair: adopt) and every symbol whose account position differs from the
    portfolios' total as position_mismatch (no repair: nothing is ever traded to fix it).
    Adopting the order records it as an external OMS order (no portfolio) with an audit row;
    since it belongs to no portfolio, its symbol's position_mismatch stays reported as
    unmanaged quantity until someone books or closes it."""
    buy(desk, "AAPL", "5")
    desk.sim.control.advance(600)  # ten minutes later, someone uses the broker's dashboard
    placed = external_order(desk, "AAPL", 3)
    desk.sim.control.seed_positions([{"symbol": "MSFT", "qty": "7"}])  # e.g. a transfer in
    desk.sim.control.reset_counters()

    report = reconcile(desk, requested_by="U0OPS", requested_by_name="Ops")

    kinds = sorted(d["kind"] for d in report["discrepancies"])
    assert kinds == ["missing_in_oms", "position_mismatch", "position_mismatch"]
    [missing] = by_kind(report, "missing_in_oms")
    assert missing["broker_order_id"] == str(placed.id)
    assert missing["repair"] == "adopt" and missing["portfolio"] is None
    assert "AAPL buy 3 filled at the broker" in missing["message"]
    assert "placed outside the OMS" in missing["message"]
    positions = {d["symbol"]: d for d in by_kind(report, "position_mismatch")}
    assert (positions["AAPL"]["oms_value"], positions["AAPL"]["broker_value"]) == ("5", "8")
    assert "3 unmanaged" in positions["AAPL"]["message"]
    assert (positions["MSFT"]["oms_value"], positions["MSFT"]["broker_value"]) == ("0", "7")
    assert all(d["repair"] is None for d in positions.values())
    assert report["by_kind"] == {"missing_in_oms": 1, "position_mismatch": 2}
    assert report["repairable"] == {"adopt": 1, "refresh": 0}
    assert order_writes(desk) == {}  # read-only: nothing placed, cancelled or closed

    # The report can be read again, the same.
    again = desk.get(f"/reconcile/reports/{report['id']}").json()
    assert again["discrepancies"] == report["discrepancies"]
    assert desk.get("/reconcile/reports/latest").json()["id"] == report["id"]

    fixed = repair(desk, report["id"], "adopt", requested_by="U0OPS", reason="dashboard buy")
    assert (fixed["repaired"], fixed["failed"]) == (1, 0)
    [result] = fixed["results"]
    assert result["discrepancy_id"] == missing["id"] and result["repair_state"] == "repaired"
    adopted = next(d for d in fixed["report"]["discrepancies"] if d["id"] == missing["id"])
    assert adopted["repair_state"] == "repaired" and adopted["repaired_by"] == "U0OPS"
    assert fixed["report"]["repairable"] == {"adopt": 0, "refresh": 0}
    assert order_writes(desk) == {}

    trades = desk.get("/trades").json()["trades"]
    [external] = [t for t in trades if t["broker_order_id"] == str(placed.id)]
    assert external["external"] is True and external["origin"] == "external"
    assert external["portfolio"] is None and external["requested_by"] == "U0OPS"
    assert external["status"] == "filled" and Decimal(external["filled_qty"]) == 3
    trade = desk.get(f"/trades/{external['id']}").json()
    assert {e["source"] for e in trade["events"]} == {"reconcile"}
    [audit] = audit_rows(db_engine, "reconcile_repair")
    assert (audit["actor"], audit["result"]) == ("U0OPS", "ok")
    assert audit["details"]["broker_order_id"] == str(placed.id)
    assert audit["details"]["trade_id"] == external["id"]
    assert audit["details"]["reason"] == "dashboard buy"

    # Adopted as external: the order is in the OMS now, the unmanaged shares still show.
    after = reconcile(desk)
    assert sorted((d["kind"], d["symbol"]) for d in after["discrepancies"]) == [
        ("position_mismatch", "AAPL"),
        ("position_mismatch", "MSFT"),
    ]
    assert order_writes(desk) == {}


def test_crash_between_broker_accept_and_oms_update_is_found_and_brought_in_line(
    desk: OMS, db_engine: Engine
) -> None:
    portfolio_id = main_id(desk)
    row = row_left_by_a_crash(db_engine, portfolio_id, "AAPL", "4")
    placed = external_order(desk, "AAPL", 4, client_order_id=row.client_order_id)
    desk.sim.control.reset_counters()

    report = reconcile(desk)

    found = {d["kind"]: d for d in report["discrepancies"]}
    # The fill the OMS never recorded shows in the position too (it follows the refresh).
    assert set(found) == {"status_mismatch", "filled_qty_mismatch", "position_mismatch"}
    assert found["position_mismatch"]["repair"] is None
    status = found["status_mismatch"]
    assert (status["oms_value"], status["broker_value"]) == ("pending_submit", "filled")
    assert status["order_id"] == row.id and status["broker_order_id"] == str(placed.id)
    assert status["portfolio"] == "main" and status["repair"] == "refresh"
    assert (
        found["filled_qty_mismatch"]["oms_value"],
        found["filled_qty_mismatch"]["broker_value"],
    ) == ("0", "4")
    assert report["repairable"] == {"adopt": 0, "refresh": 2}

    fixed = repair(desk, report["id"], "refresh", requested_by="U0OPS")
    assert (fixed["repaired"], fixed["failed"]) == (2, 0)
    trade = desk.get(f"/trades/{row.id}").json()
    assert trade["status"] == "filled" and Decimal(trade["filled_qty"]) == 4
    assert trade["broker_order_id"] == str(placed.id)
    assert "reconcile" in {e["source"] for e in trade["events"]}
    [audit] = audit_rows(db_engine, "reconcile_repair")
    assert (audit["actor"], audit["target"]) == ("U0OPS", f"trade {row.id}")
    assert audit["details"]["status_before"] == "pending_submit"
    assert audit["details"]["status_after"] == "filled"
    assert order_writes(desk) == {}  # the broker was only asked, never sent anything
    assert reconcile(desk)["discrepancy_count"] == 0


def test_an_order_of_ours_the_oms_lost_is_adopted_into_its_portfolio(desk: OMS) -> None:
    """The broker has an order with our client_order_id (portfolio main) and the OMS has no
    row for it (e.g. a database restored from an older backup)."""
    portfolio_id = main_id(desk)
    buy(desk, "MSFT", "1")  # the OMS's first order: the window starts here
    desk.sim.control.advance(600)
    placed = external_order(desk, "AAPL", 2, client_order_id=new_client_order_id(portfolio_id))

    report = reconcile(desk)
    [missing] = by_kind(report, "missing_in_oms")
    assert missing["portfolio"] == "main"
    assert "(portfolio main)" in missing["message"]
    [position] = by_kind(report, "position_mismatch")
    assert position["symbol"] == "AAPL"

    fixed = repair(desk, report["id"], "adopt", discrepancy_ids=[missing["id"]])
    assert fixed["repaired"] == 1
    [trade] = [t for t in desk.get("/trades").json()["trades"] if t["symbol"] == "AAPL"]
    assert (trade["portfolio"], trade["origin"], trade["external"]) == ("main", "trade", False)
    assert trade["broker_order_id"] == str(placed.id)
    # Booked in its portfolio: the position agrees now.
    assert reconcile(desk)["discrepancy_count"] == 0


def test_a_refresh_the_transition_table_refuses_is_a_failed_repair(
    desk: OMS, db_engine: Engine
) -> None:
    """The OMS says filled, the broker's order is still working (an impossible step back):
    reported, and the refresh fails with the reason instead of rewriting a filled order."""
    desk.sim.control.set_price("AAPL", "100")
    placed = desk.sim.trading.submit_order(
        LimitOrderRequest(
            symbol="AAPL",
            qty=1,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.GTC,
            limit_price=50,
            client_order_id=new_client_order_id(main_id(desk)),
        )
    )
    report = reconcile(desk)
    assert len(by_kind(report, "missing_in_oms")) == 1
    repair(desk, report["id"], "adopt")
    with db_engine.begin() as connection:  # the OMS's row drifts: it claims a fill
        connection.execute(
            text("UPDATE orders SET status = 'filled' WHERE broker_order_id = :b"),
            {"b": str(placed.id)},
        )

    report = reconcile(desk)
    [status] = by_kind(report, "status_mismatch")
    assert (status["oms_value"], status["broker_value"]) == ("filled", "new")
    fixed = repair(desk, report["id"], "refresh")
    assert (fixed["repaired"], fixed["failed"]) == (0, 1)
    assert "filled -> accepted is not an allowed transition" in fixed["results"][0]["note"]
    failed = audit_rows(db_engine, "reconcile_repair")[-1]
    assert failed["result"] == "failed"


def test_an_options_order_is_reported_but_not_adoptable(desk: OMS) -> None:
    buy(desk)
    desk.sim.control.advance(600)
    clock = desk.sim.trading.get_clock().timestamp
    desk.sim.control.seed_orders(
        [
            {
                "symbol": "AAPL261218C00200000",
                "side": "buy",
                "qty": "1",
                "status": "filled",
                "filled_avg_price": "2.5",
                "submitted_at": clock.isoformat(),
            }
        ]
    )
    report = reconcile(desk)
    [missing] = by_kind(report, "missing_in_oms")
    assert missing["repair"] is None
    assert "stays in the broker history" in missing["message"]
    assert report["repairable"]["adopt"] == 0


# ------------------------------------------------------------------ the rules, one by one
def _oms(**changes: Any) -> dict[str, Any]:
    return {
        "id": 7,
        "client_order_id": "bot-00000001-0123456789abcdef",
        "broker_order_id": "b-1",
        "portfolio_id": 1,
        "symbol": "AAPL",
        "side": "buy",
        "qty": Decimal(5),
        "notional": None,
        "status": "filled",
        "filled_qty": Decimal(5),
        "filled_avg_price": Decimal("100.5"),
        **changes,
    }


def _broker(**changes: Any) -> dict[str, Any]:
    return {
        "broker_order_id": "b-1",
        "client_order_id": "bot-00000001-0123456789abcdef",
        "symbol": "AAPL",
        "asset_class": "us_equity",
        "side": "buy",
        "qty": Decimal(5),
        "notional": None,
        "filled_qty": Decimal(5),
        "filled_avg_price": Decimal("100.5"),
        "order_type": "market",
        "order_class": "simple",
        "time_in_force": "day",
        "status": "filled",
        **changes,
    }


def test_an_order_that_agrees_has_no_finding() -> None:
    assert compare.compare_order(_oms(), _broker()) == []
    # A price difference within a hundredth of a cent is rounding, not drift.
    assert compare.compare_order(_oms(), _broker(filled_avg_price=Decimal("100.50009"))) == []


@pytest.mark.parametrize(
    ("oms", "broker", "kinds"),
    [
        (
            {"status": "accepted", "filled_qty": Decimal(0), "filled_avg_price": None},
            {},
            ["status_mismatch", "filled_qty_mismatch"],
        ),
        (
            {"status": "unknown", "filled_qty": Decimal(0), "filled_avg_price": None},
            {"status": "new", "filled_qty": Decimal(0), "filled_avg_price": None},
            ["status_mismatch"],
        ),
        ({}, {"filled_avg_price": Decimal("100.6")}, ["price_mismatch"]),
        (
            {"status": "partially_filled", "filled_qty": Decimal(2)},
            {"status": "partially_filled", "filled_qty": Decimal(3)},
            ["filled_qty_mismatch"],
        ),
        (
            {"status": "accepted", "filled_qty": Decimal(0), "filled_avg_price": None},
            {"status": "pending_new", "filled_qty": Decimal(0), "filled_avg_price": None},
            [],
        ),
    ],
)
def test_order_rules(oms: dict[str, Any], broker: dict[str, Any], kinds: list[str]) -> None:
    findings = compare.compare_order(_oms(**oms), _broker(**broker))
    assert [f.kind for f in findings] == kinds
    repairs = {f.kind: f.repair for f in findings}
    assert all(repairs[k] == "refresh" for k in repairs if k != "price_mismatch")
    assert repairs.get("price_mismatch") is None


def test_missing_in_oms_is_adoptable_only_when_the_oms_can_book_it() -> None:
    assert compare.missing_in_oms(_broker(), None, None).repair == "adopt"
    option = _broker(asset_class="us_option", symbol="AAPL261218C00200000")
    assert compare.missing_in_oms(option, None, None).repair is None
    mleg = _broker(order_class="mleg", symbol="", asset_class="us_option")
    finding = compare.missing_in_oms(mleg, None, None)
    assert finding.repair is None and "a mleg order" in finding.message
    ours = compare.missing_in_oms(_broker(), 1, "main")
    assert ours.portfolio_id == 1 and "(portfolio main)" in ours.message


@pytest.mark.parametrize(
    ("ours", "theirs", "words"),
    [
        ("10", "15", "5 unmanaged"),
        ("0", "-4", "4 unmanaged"),
        ("10", "4", "6 more in the portfolios than at the broker"),
        ("3", "-2", "5 more in the portfolios than at the broker"),
    ],
)
def test_position_rules(ours: str, theirs: str, words: str) -> None:
    compared, [finding] = compare.compare_positions({"X": Decimal(ours)}, {"X": Decimal(theirs)})
    assert compared == 1
    assert words in finding.message and finding.repair is None


def test_positions_that_agree_or_are_flat_on_both_sides() -> None:
    compared, findings = compare.compare_positions(
        {"A": Decimal(1), "B": Decimal(0)}, {"A": Decimal(1)}
    )
    assert (compared, findings) == (1, [])


def test_the_fingerprint_ignores_order_and_repeats() -> None:
    assert compare.fingerprint(["b", "a", "a"]) == compare.fingerprint(["a", "b"])
    assert compare.fingerprint(["a"]) != compare.fingerprint(["a", "b"])


def test_a_looked_up_broker_order_reads_as_a_mirror_row() -> None:
    order = BrokerOrder(
        id="b-9",
        client_order_id="c-9",
        symbol="AAPL",
        side="sell",
        status="canceled",
        order_type="limit",
        time_in_force="gtc",
        qty=Decimal(2),
        notional=None,
        filled_qty=Decimal(0),
        filled_avg_price=None,
        limit_price=Decimal(1),
        stop_price=None,
        order_class="simple",
        extended_hours=False,
        submitted_at=None,
        filled_at=None,
        canceled_at=None,
        updated_at=None,
    )
    row = compare.broker_row(order)
    assert compare.bookable(row)
    assert (
        compare.expected_status(row) is not None
        and compare.expected_status(row).value == "canceled"
    )


def test_an_order_the_broker_does_not_know_is_missing_at_broker_after_one_lookup(
    desk: OMS, db_engine: Engine
) -> None:
    row = row_left_by_a_crash(db_engine, main_id(desk), "AAPL", "2")
    with db_engine.begin() as connection:  # the OMS believes the broker accepted it
        connection.execute(
            text("UPDATE orders SET status = 'accepted', broker_order_id = :b WHERE id = :i"),
            {"b": str(uuid.uuid4()), "i": row.id},
        )
    desk.sim.control.reset_counters()

    report = reconcile(desk)

    [missing] = report["discrepancies"]
    assert missing["kind"] == "missing_at_broker" and missing["order_id"] == row.id
    assert missing["repair"] is None
    assert "recovery" in missing["message"]
    counters = desk.sim.control.counters()
    assert counters.get("GET /v2/orders:by_client_order_id") == 1
    assert order_writes(desk) == {}


def test_orders_changed_within_the_grace_period_are_not_judged_yet(
    oms_factory: Any, db_engine: Engine
) -> None:
    with oms_factory(stream_enabled=False, background=False, reconcile_grace_seconds=60) as oms:
        oms.create_portfolio("main")
        row = row_left_by_a_crash(db_engine, main_id(oms), "AAPL", "4")
        external_order(oms, "AAPL", 4, client_order_id=row.client_order_id)

        report = reconcile(oms)

        # Its fill may still be on its way: neither the order nor AAPL's position is judged.
        assert report["discrepancies"] == []
        assert report["checked"] == 0

"""Reconciliation's alerts: a scheduled (or start-up) run posts only when something is off
that was not already reported, and once when it clears; a manual run never posts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from oms_api.alerts import blocks
from oms_api.reconcile.service import Reconciler
from tests.oms import OMS


@pytest.fixture
def desk(oms_factory: Any) -> Iterator[OMS]:
    with oms_factory(stream_enabled=False, background=False, reconcile_grace_seconds=0) as oms:
        oms.create_portfolio("main")
        yield oms


def alerts(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT kind, title, body FROM alerts WHERE kind LIKE 'reconcile%' ORDER BY id")
        )
        return [dict(r._mapping) for r in rows]


def kinds(engine: Engine) -> list[str]:
    return [a["kind"] for a in alerts(engine)]


def hold(oms: OMS, **positions: str) -> None:
    """Positions changed at the broker, outside the app."""
    oms.sim.control.seed_positions([{"symbol": s, "qty": q} for s, q in positions.items()])


def test_scheduled_runs_alert_only_on_change(desk: OMS, db_engine: Engine) -> None:
    reconciler: Reconciler = desk.runtime.reconciler

    assert reconciler.run("schedule").alert is None  # in sync: nothing to say
    assert kinds(db_engine) == []

    hold(desk, MSFT="7")
    assert reconciler.run("schedule").alert == "off"
    assert kinds(db_engine) == ["reconcile_off"]

    assert reconciler.run("schedule").alert is None  # the same discrepancy again: no spam
    assert kinds(db_engine) == ["reconcile_off"]

    hold(desk, TSLA="2")  # a new one: one more alert
    assert reconciler.run("schedule").alert == "off"
    assert kinds(db_engine) == ["reconcile_off", "reconcile_off"]

    hold(desk, TSLA="0")  # one of them went away, the other is still there: nothing new
    assert reconciler.run("schedule").alert is None

    hold(desk, MSFT="0")
    assert reconciler.run("schedule").alert == "cleared"
    assert kinds(db_engine) == ["reconcile_off", "reconcile_off", "reconcile_cleared"]

    assert reconciler.run("schedule").alert is None  # in sync again: nothing
    assert len(kinds(db_engine)) == 3


def test_the_alert_says_what_is_off_and_renders_for_slack(desk: OMS, db_engine: Engine) -> None:
    hold(desk, MSFT="7", TSLA="-2")
    result = desk.runtime.reconciler.run("schedule")

    [alert] = alerts(db_engine)
    body = alert["body"] if isinstance(alert["body"], dict) else json.loads(alert["body"])
    assert alert["title"] == "Reconciliation: 2 discrepancies with the broker"
    assert body["report_id"] == result.report_id
    assert body["by_kind"] == {"position_mismatch": 2}
    assert any("MSFT: the broker holds 7" in line for line in body["lines"])
    message = blocks.render(alert["kind"], alert["title"], body)
    shown = str(message)
    assert "2 discrepancies" in shown and "position differs" in shown
    assert "Nothing was traded" in shown


def test_manual_runs_never_alert(desk: OMS, db_engine: Engine) -> None:
    hold(desk, MSFT="7")
    response = desk.post("/reconcile")
    assert response.status_code == 200
    assert response.json()["discrepancy_count"] == 1
    assert kinds(db_engine) == []
    # ... and do not count as "already reported" for the next scheduled run.
    assert desk.runtime.reconciler.run("schedule").alert == "off"


def test_a_startup_run_reports_and_alerts_before_trades_are_accepted(
    oms_factory: Any, sim: Any, db_engine: Engine
) -> None:
    sim.control.seed_positions([{"symbol": "MSFT", "qty": "7"}])
    with oms_factory(stream_enabled=False, background=False, reconcile_on_start=True) as oms:
        latest = oms.get("/reconcile/reports/latest").json()
        assert latest["trigger"] == "startup"
        assert latest["by_kind"] == {"position_mismatch": 1}
        assert kinds(db_engine) == ["reconcile_off"]
        counters = sim.control.counters()
        assert not any(k.startswith(("POST /v2/orders", "DELETE")) for k in counters)


def test_a_startup_run_that_fails_is_alerted_and_does_not_stop_the_oms(
    oms_factory: Any, sim: Any, db_engine: Engine
) -> None:
    sim.control.add_fault("GET /v2/orders", "status", status=500, count=100)
    with oms_factory(stream_enabled=False, background=False, reconcile_on_start=True) as oms:
        assert oms.get("/reconcile/reports").json()["reports"] == []
        [alert] = alerts(db_engine)
        assert alert["title"] == "Reconciliation could not run"
        assert oms.get("/trading-state").status_code == 200
    sim.control.clear_faults()


def test_repairs_are_audited_with_their_actor(desk: OMS, db_engine: Engine) -> None:
    desk.sim.control.seed_positions([{"symbol": "MSFT", "qty": "1"}])
    report = desk.post("/reconcile", {"requested_by": "U0OPS", "requested_by_name": "Ops"})
    with db_engine.connect() as connection:
        rows = connection.execute(
            text("SELECT actor, actor_name, action, target FROM audit_log ORDER BY id")
        ).all()
    assert ("U0OPS", "Ops", "reconcile_run", f"reconcile report {report.json()['id']}") in [
        tuple(r) for r in rows
    ]

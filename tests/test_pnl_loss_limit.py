"""Each portfolio's daily loss limit, end to end on the real OMS and the simulator (SQLite or
PostgreSQL): reaching it pauses that portfolio (audited, alerted), closes nothing, and happens
once per portfolio per trading day. Prices move on the simulator; the OMS's "today" is an
injected clock that follows the simulator's."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session

from oms_api.alerts import blocks
from oms_api.portfolios.models import Portfolio
from tests.conftest import T0
from tests.oms import OMS

POST_ORDERS = "POST /v2/orders"
ADMIN = {"requested_by": "U0ADMIN", "requested_by_name": "Ada"}


@pytest.fixture
def desk(oms: OMS) -> OMS:
    """Portfolio main with a $100 daily loss limit; prices move only when set; today is the
    simulator's day."""
    oms.sim.control.configure(max_step_bps=0)
    set_loss_limit(oms, "main", "100")
    oms.runtime.pnl.now = lambda: T0
    return oms


def set_loss_limit(oms: OMS, name: str, limit: str | None) -> None:
    with Session(oms.runtime.engine) as session:
        session.exec(
            update(Portfolio)
            .where(Portfolio.name == name)
            .values(daily_loss_limit=Decimal(limit) if limit else None)
        )
        session.commit()


def buy(oms: OMS, qty: str, price: str, symbol: str = "AAPL", **body: Any) -> None:
    oms.sim.control.set_price(symbol, price)
    response = oms.trade(symbol=symbol, qty=qty, **body)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "filled"


def status(oms: OMS, name: str = "main") -> str:
    [row] = [p for p in oms.get("/portfolios").json() if p["name"] == name]
    return row["status"]


def alerts(oms: OMS, kind: str) -> list[dict[str, Any]]:
    page = oms.get("/alerts", params={"limit": 100}).json()
    return [a for a in page["alerts"] if a["kind"] == kind]


def pauses(oms: OMS, name: str = "main") -> list[dict[str, Any]]:
    params = {"action": "portfolio_pause", "target": f"portfolio {name}"}
    return oms.get("/audit", params=params).json()["entries"]


def test_reaching_the_limit_pauses_the_portfolio_alerts_and_closes_nothing(desk: OMS) -> None:
    buy(desk, "10", "100")
    monitor = desk.runtime.portfolio_loss_limit

    desk.sim.control.set_price("AAPL", "95")  # -$50 today
    [check] = monitor.check()
    assert (check.today_pnl, check.paused) == (Decimal("-50.00"), False)
    assert status(desk) == "active"

    desk.sim.control.set_price("AAPL", "89.50")  # -$105
    desk.sim.control.reset_counters()
    [check] = monitor.check()

    assert desk.sim.control.counters() == {"GET /v2/positions": 1}  # nothing closed
    assert check.paused and status(desk) == "paused"
    assert [p.qty for p in desk.sim.trading.get_all_positions()] == ["10"]
    [pause] = pauses(desk)
    assert pause["actor"] == "system"
    assert pause["details"]["reason"] == "daily loss -$105 reached the -$100 limit"
    [paused_alert] = alerts(desk, "portfolio_paused")
    assert paused_alert["body"]["reason"] == "daily loss -$105 reached the -$100 limit"
    [limit_alert] = alerts(desk, "portfolio_loss_limit")
    assert limit_alert["severity"] == "critical"
    assert {k: limit_alert["body"][k] for k in ("portfolio", "daily_pl", "limit")} == {
        "portfolio": "main",
        "daily_pl": "-105.00",
        "limit": "-100.00",
    }
    message = blocks.render("portfolio_loss_limit", limit_alert["title"], limit_alert["body"])
    shown = " ".join(t["text"]["text"] for t in message["blocks"] if "text" in t)
    assert "Portfolio *main* lost -$105.00 today, reaching its $100.00 daily loss limit" in shown
    assert "Nothing was closed" in shown
    refused = desk.trade(symbol="AAPL", qty="1")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "portfolio_paused"


def test_once_a_trading_day_resumed_it_is_not_paused_again_until_the_next_day(
    desk: OMS,
) -> None:
    buy(desk, "10", "100")
    monitor = desk.runtime.portfolio_loss_limit
    desk.sim.control.set_price("AAPL", "85")  # -$150
    monitor.check()
    resumed = desk.patch("/portfolios/main", {"status": "active", "reason": "reviewed", **ADMIN})
    assert resumed.status_code == 200, resumed.text

    desk.sim.control.set_price("AAPL", "80")  # worse still, the same day
    [check] = monitor.check()

    assert not check.paused and status(desk) == "active"
    assert len(pauses(desk)) == 1 and len(alerts(desk, "portfolio_loss_limit")) == 1

    # The next trading day the position's previous close is the base: losing $100 more
    # below it pauses the portfolio again.
    desk.sim.control.advance(24 * 3600)
    desk.runtime.pnl.now = lambda: T0 + timedelta(days=1)
    close = Decimal(str(desk.sim.trading.get_open_position("AAPL").lastday_price))
    desk.sim.control.set_price("AAPL", str(close - 9))  # -$90 today
    [check] = monitor.check()
    assert check.today_pnl == Decimal("-90.00") and not check.paused
    desk.sim.control.set_price("AAPL", str(close - 12))  # -$120 today
    [check] = monitor.check()
    assert check.paused and status(desk) == "paused"
    assert len(alerts(desk, "portfolio_loss_limit")) == 2


def test_only_active_portfolios_with_a_limit_are_watched(desk: OMS) -> None:
    desk.create_portfolio("alpha")  # no limit
    desk.create_portfolio("beta")
    set_loss_limit(desk, "beta", "50")
    buy(desk, "10", "100", portfolio="alpha")
    buy(desk, "10", "100", portfolio="beta")
    assert desk.patch("/portfolios/beta", {"status": "paused"}).status_code == 200
    desk.sim.control.set_price("AAPL", "80")  # alpha and beta -$200; main holds nothing

    checks = desk.runtime.portfolio_loss_limit.check()

    assert [(c.portfolio, c.today_pnl, c.paused) for c in checks] == [("main", Decimal(0), False)]
    assert (status(desk, "alpha"), status(desk, "beta")) == ("active", "paused")
    assert alerts(desk, "portfolio_loss_limit") == []

    # Without any limit to watch, the check asks the broker nothing.
    set_loss_limit(desk, "main", None)
    desk.sim.control.reset_counters()
    assert desk.runtime.portfolio_loss_limit.check() == []
    assert desk.sim.control.counters() == {}


def test_an_unknown_price_pauses_nothing(desk: OMS) -> None:
    buy(desk, "10", "100")
    desk.sim.control.set_price("AAPL", "50")
    desk.sim.control.add_fault("GET /v2/positions", "status", status=503, count=None)

    assert desk.runtime.portfolio_loss_limit.check() == []
    assert status(desk) == "active"


def test_the_tracker_checks_the_portfolios_limits_with_its_other_controls(desk: OMS) -> None:
    buy(desk, "10", "100")
    desk.sim.control.set_price("AAPL", "80")

    desk.runtime._check_controls()  # what the tracker runs every LOSS_LIMIT_CHECK_SECONDS

    assert status(desk) == "paused"
    assert len(alerts(desk, "portfolio_loss_limit")) == 1

"""The P&L through the API (SQLite or PostgreSQL, the real OMS on the simulator): the account's
capital and P&L figures, the portfolios list with P&L and limits, the managed / unmanaged
positions list, and GET /pnl (P&L over time) with its validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest
from sqlalchemy import update
from sqlmodel import Session

from oms_api.orders.models import Fill
from oms_api.pnl.series import Period, timeline
from oms_api.portfolios.models import Portfolio
from oms_api.risk.models import PortfolioLimits
from tests.conftest import T0
from tests.oms import OMS

POSITION_KEYS = {
    "symbol",
    "qty",
    "side",
    "avg_entry_price",
    "current_price",
    "market_value",
    "cost_basis",
    "unrealized_pl",
    "unrealized_plpc",
    "portfolio",
    "managed",
}


@pytest.fixture
def desk(oms: OMS) -> OMS:
    oms.sim.control.configure(max_step_bps=0)
    oms.runtime.pnl.now = lambda: T0 + timedelta(minutes=30)
    return oms


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def trade(oms: OMS, side: str, qty: str, price: str, symbol: str = "AAPL", **body: Any) -> None:
    oms.sim.control.set_price(symbol, price)
    response = oms.trade(symbol=symbol, side=side, qty=qty, **body)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "filled"


# ---------------------------------------------------------------------- GET /account
def test_account_adds_the_portfolios_capital_and_pnl(desk: OMS) -> None:
    desk.create_portfolio("alpha", "2000")
    desk.create_portfolio("beta", "3000")
    assert desk.patch("/portfolios/beta", {"status": "paused"}).status_code == 200
    trade(desk, "buy", "10", "100")
    trade(desk, "sell", "10", "110")  # main +100
    trade(desk, "buy", "5", "200", symbol="MSFT", portfolio="alpha")
    trade(desk, "sell", "2", "190", symbol="MSFT", portfolio="alpha")  # alpha -20
    broker = desk.sim.trading.get_account()

    account = ok(desk.get("/account"))

    assert Decimal(account["allocated_capital"]) == 15000  # main, alpha and paused beta
    buying_power = Decimal(str(broker.buying_power))
    assert Decimal(account["buying_power"]) == buying_power
    assert Decimal(account["available_capital"]) == buying_power - 15000
    assert Decimal(account["total_realized_pnl"]) == 80
    expected_daily = Decimal(str(broker.equity)) - Decimal(str(broker.last_equity))
    assert Decimal(account["daily_pnl"]) == expected_daily
    for key in ("allocated_capital", "available_capital", "total_realized_pnl", "daily_pnl"):
        assert isinstance(account[key], str), key


def test_available_capital_goes_negative_when_more_is_promised_than_can_be_bought(
    desk: OMS,
) -> None:
    desk.sim.control.set_cash("5000")
    account = ok(desk.get("/account"))
    assert Decimal(account["allocated_capital"]) == 10000
    assert Decimal(account["available_capital"]) == Decimal(account["buying_power"]) - 10000
    assert Decimal(account["available_capital"]) < 0


# ---------------------------------------------------------------------- GET /portfolios
def test_portfolios_list_their_pnl_loss_limit_and_limits(desk: OMS) -> None:
    desk.create_portfolio("alpha", "2500")
    engine = desk.runtime.engine
    with Session(engine) as session:
        session.exec(
            update(Portfolio)
            .where(Portfolio.name == "alpha")
            .values(daily_loss_limit=Decimal("250"))
        )
        alpha_id = desk.runtime.portfolios.get("alpha").id
        session.add(
            PortfolioLimits(
                portfolio_id=alpha_id,
                allowed_symbols=["AAPL", "MSFT"],
                max_order_notional=Decimal("5000"),
            )
        )
        session.commit()
    trade(desk, "buy", "10", "100", portfolio="alpha")
    trade(desk, "sell", "4", "110", portfolio="alpha")
    desk.sim.control.set_price("AAPL", "105")

    listed = {p["name"]: p for p in ok(desk.get("/portfolios"))}

    assert list(listed) == ["alpha", "main"]
    row = listed["alpha"]
    assert (row["allocated_capital"], row["status"], row["daily_loss_limit"]) == (
        "2500",
        "active",
        "250",
    )
    assert (row["realized_pnl"], row["unrealized_pnl"], row["today_pnl"]) == ("40", "30", "70")
    assert row["limits"] == {
        "allowed_symbols": ["AAPL", "MSFT"],
        "denied_symbols": None,
        "max_order_notional": "5000",
        "max_position_value": None,
    }
    main = listed["main"]
    assert main["daily_loss_limit"] is None
    assert (main["realized_pnl"], main["unrealized_pnl"], main["today_pnl"]) == ("0", "0", "0")
    assert main["limits"] == dict.fromkeys(
        ("allowed_symbols", "denied_symbols", "max_order_notional", "max_position_value")
    )
    assert {"id", "created_at", "updated_at"} <= set(main)


# ---------------------------------------------------------------------- GET /positions
def outside_buy(oms: OMS, symbol: str, qty: int) -> None:
    """A trade made in Alpaca's dashboard: the OMS does not know it."""
    oms.sim.trading.submit_order(
        MarketOrderRequest(
            symbol=symbol, qty=qty, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
        )
    )


def test_positions_list_each_portfolios_share_and_the_unmanaged_rest(desk: OMS) -> None:
    control = desk.sim.control
    desk.create_portfolio("alpha")
    trade(desk, "buy", "10", "100")
    trade(desk, "buy", "2", "90", portfolio="alpha")
    outside_buy(desk, "AAPL", 3)  # at 90
    control.seed_positions([{"symbol": "MSFT", "qty": "7", "avg_entry_price": "300"}])
    control.set_price("AAPL", "110")
    control.set_price("MSFT", "310")
    control.reset_counters()

    rows = ok(desk.get("/positions"))

    assert control.counters() == {"GET /v2/positions": 1}
    assert all(set(row) == POSITION_KEYS for row in rows)
    table = [
        (r["symbol"], r["portfolio"], r["managed"], Decimal(r["qty"]), Decimal(r["market_value"]))
        for r in rows
    ]
    assert table == [
        ("AAPL", "alpha", True, 2, 220),
        ("AAPL", "main", True, 10, 1100),
        ("AAPL", None, False, 3, 330),  # bought in Alpaca's dashboard
        ("MSFT", None, False, 7, 2170),  # a transfer in: no portfolio holds any
    ]
    pnl = [Decimal(r["unrealized_pl"]) for r in rows]
    # The broker knows one average for all 15 AAPL: the unmanaged rest is costed at it.
    broker_average = Decimal(str(desk.sim.trading.get_open_position("AAPL").avg_entry_price))
    assert pnl == [40, 100, 330 - (3 * broker_average).quantize(Decimal("0.01")), 70]
    main = rows[1]
    assert main["side"] == "long" and Decimal(main["unrealized_plpc"]) == Decimal("0.1")


def test_positions_answer_503_when_the_broker_cannot_be_asked(desk: OMS) -> None:
    trade(desk, "buy", "1", "100")
    desk.sim.control.add_fault("GET /v2/positions", "status", status=503, count=None)

    assert error(desk.get("/positions"), 503)["code"] == "broker_unavailable"


# ---------------------------------------------------------------------- GET /pnl
@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"period": "year"}, 422, "malformed_request"),
        ({"period": ""}, 422, "malformed_request"),
        ({"portfolio": ""}, 422, "malformed_request"),
        ({"portfolio": "x" * 41}, 422, "malformed_request"),
        ({"portfolio": "nobody"}, 404, "portfolio_not_found"),
    ],
)
def test_pnl_refuses_an_unknown_period_or_portfolio(
    desk: OMS, params: dict[str, str], status: int, code: str
) -> None:
    desk.sim.control.reset_counters()
    assert error(desk.get("/pnl", params=params), status)["code"] == code
    assert desk.sim.control.counters() == {}


def test_day_pnl_has_hourly_points_with_realized_pnl_up_to_each(desk: OMS) -> None:
    trade(desk, "buy", "10", "100")  # at 15:00 UTC, the simulator's time
    trade(desk, "sell", "10", "112")

    desk.sim.control.reset_counters()

    series = ok(desk.get("/pnl", params={"period": "day", "portfolio": "main"}))

    assert desk.sim.control.counters() == {}  # nothing held at any point: no prices needed
    assert (series["portfolio"], series["period"]) == ("main", "day")
    assert series["since"] == "2026-11-18T05:00:00Z"  # midnight in New York
    times = [p["at"] for p in series["points"]]
    assert times[0] == "2026-11-18T05:00:00Z" and times[-1] == "2026-11-18T15:30:00Z"
    assert times[1:-1] == [f"2026-11-18T{hour:02d}:00:00Z" for hour in range(6, 16)]
    values = [(p["realized_pnl"], p["total_pnl"]) for p in series["points"]]
    assert values[:-2] == [("0", "0")] * (len(values) - 2)  # before the fills at 15:00
    assert values[-2:] == [("120", "120"), ("120", "120")]
    assert (series["realized_pnl"], series["unrealized_pnl"], series["total_pnl"]) == (
        "120",
        "0",
        "120",
    )


def test_the_desk_pnl_adds_every_portfolio(desk: OMS) -> None:
    desk.create_portfolio("alpha")
    trade(desk, "buy", "10", "100")
    trade(desk, "sell", "10", "112")  # +120
    trade(desk, "buy", "5", "100", portfolio="alpha")
    trade(desk, "sell", "5", "90", portfolio="alpha")  # -50

    series = ok(desk.get("/pnl", params={"period": "week"}))

    assert series["portfolio"] is None
    assert series["since"] == "2026-11-11T05:00:00Z"  # seven days before, midnight New York
    closes = [p["at"] for p in series["points"][1:-1]]
    # 16:00 New York on each weekday from the 11th to the 17th.
    assert closes == [f"2026-11-{day}T21:00:00Z" for day in (11, 12, 13, 16, 17)]
    assert [p["realized_pnl"] for p in series["points"]] == ["0"] * 6 + ["70"]
    assert series["total_pnl"] == "70"


def test_all_pnl_starts_at_the_first_fill_and_stays_within_400_points(desk: OMS) -> None:
    trade(desk, "buy", "1", "100")
    trade(desk, "sell", "1", "101")
    started = datetime(2020, 1, 6, 15, tzinfo=UTC)  # years before: a long history
    with Session(desk.runtime.engine) as session:
        session.exec(update(Fill).values(filled_at=started))
        session.commit()

    series = ok(desk.get("/pnl", params={"period": "all"}))

    assert series["since"] == "2020-01-06T05:00:00Z"
    assert 300 < len(series["points"]) <= 400
    times = [p["at"] for p in series["points"]]
    assert times == sorted(times) and times[-1] == "2026-11-18T15:30:00Z"
    assert series["points"][1]["realized_pnl"] == "1"  # the first close after the fills
    assert series["realized_pnl"] == "1"


def test_day_pnl_values_what_was_held_at_each_hours_close(desk: OMS) -> None:
    control = desk.sim.control
    control.advance(300)  # 15:05 UTC
    trade(desk, "buy", "10", "100")
    control.advance(3600)  # 16:05
    control.set_price("AAPL", "110")
    control.advance(3600)  # 17:05
    trade(desk, "sell", "4", "104")  # +16 realized; 6 left
    control.set_price("AAPL", "106")
    desk.runtime.pnl.now = lambda: T0 + timedelta(hours=2, minutes=10)
    control.reset_counters()

    series = ok(desk.get("/pnl", params={"period": "day"}))

    assert control.counters() == {"GET /v2/positions": 1, "GET /v2/stocks/bars": 1}
    points = {p["at"][11:16]: (p["realized_pnl"], p["total_pnl"]) for p in series["points"]}
    assert list(points)[-4:] == ["15:00", "16:00", "17:00", "17:10"]
    assert points["15:00"] == ("0", "0")  # bought at 15:05
    assert points["16:00"] == ("0", "0")  # 10 held, the 15:00 hour closed at 100
    assert points["17:00"] == ("0", "100")  # the 16:00 hour closed at 110
    assert points["17:10"] == ("16", "52")  # now: 6 held at 106
    assert (series["realized_pnl"], series["unrealized_pnl"], series["total_pnl"]) == (
        "16",
        "36",
        "52",
    )


def test_week_pnl_values_each_days_close_from_the_daily_bars(desk: OMS) -> None:
    control = desk.sim.control
    desk.create_portfolio("alpha")
    trade(desk, "buy", "10", "100", portfolio="alpha")  # Wednesday the 18th
    control.advance(24 * 3600)
    control.set_price("AAPL", "110")  # Thursday
    control.advance(24 * 3600)
    control.set_price("AAPL", "120")  # Friday, now
    desk.runtime.pnl.now = lambda: T0 + timedelta(days=2, minutes=30)

    series = ok(desk.get("/pnl", params={"period": "week", "portfolio": "alpha"}))

    assert series["since"] == "2026-11-13T05:00:00Z"
    totals = [(p["at"][:10], p["total_pnl"]) for p in series["points"]]
    assert totals == [
        ("2026-11-13", "0"),  # since: midnight in New York
        ("2026-11-13", "0"),  # Friday's close
        ("2026-11-16", "0"),
        ("2026-11-17", "0"),
        ("2026-11-18", "0"),  # bought at 100, closed at 100
        ("2026-11-19", "100"),  # closed at 110
        ("2026-11-20", "200"),  # now, at 120
    ]
    assert series["unrealized_pnl"] == "200" and series["realized_pnl"] == "0"


def test_pnl_over_time_answers_503_when_the_broker_cannot_be_asked(desk: OMS) -> None:
    trade(desk, "buy", "10", "100")
    desk.sim.control.add_fault("GET /v2/stocks/bars", "status", status=503, count=None)

    assert error(desk.get("/pnl", params={"period": "day"}), 503)["code"] == ("broker_unavailable")


def test_day_points_stay_an_hour_apart_when_the_clocks_change() -> None:
    # 8 March 2026: New York springs forward at 02:00; the day has 23 hours.
    now = datetime(2026, 3, 8, 17, 30, tzinfo=UTC)  # 13:30 New York (EDT)

    since, times, _ = timeline(Period.DAY, now, None)

    assert since == datetime(2026, 3, 8, 5, tzinfo=UTC)  # midnight EST
    assert [t.astimezone(UTC).hour for t in times] == list(range(5, 18))
    assert all((b - a) == timedelta(hours=1) for a, b in pairwise(times))

"""P&L from each portfolio's own fills, through the real OMS and the simulator (SQLite or
PostgreSQL): realized P&L by average cost (partial closes, shorts, partial fills, a book
crossing zero), unrealized at the broker's prices, today's P&L against the previous close, and
the positions list split into what the portfolios hold and what they do not."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import ClosePositionRequest, MarketOrderRequest

from oms_api.pnl.service import PortfolioPnl
from tests.conftest import T0
from tests.oms import OMS, wait_for

Step = tuple[str, str, str]  # side, qty, price


@pytest.fixture
def desk(oms: OMS) -> OMS:
    """The OMS with portfolio main; prices move only when a test sets them."""
    oms.sim.control.configure(max_step_bps=0)
    return oms


def trade(oms: OMS, side: str, qty: str, price: str, symbol: str = "AAPL", **body: Any) -> dict:
    oms.sim.control.set_price(symbol, price)
    response = oms.trade(symbol=symbol, side=side, qty=qty, **body)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "filled", response.json()
    return response.json()


def figures(oms: OMS, name: str = "main") -> PortfolioPnl:
    pnl = oms.runtime.pnl
    portfolio = oms.runtime.portfolios.get(name)
    return pnl.by_portfolio(pnl.broker_positions())[portfolio.id]


def listed(oms: OMS, name: str = "main") -> dict[str, Any]:
    response = oms.get("/portfolios")
    assert response.status_code == 200, response.text
    [row] = [p for p in response.json() if p["name"] == name]
    return row


# Each case: the portfolio's trades, then the realized P&L, the quantity left and its
# unrealized P&L once the price is 100.
CASES = [
    pytest.param(
        [("buy", "10", "100"), ("sell", "4", "110"), ("sell", "6", "90")],
        "-20",
        "0",
        "0",
        id="long closed in two sells: +40 then -60",
    ),
    pytest.param(
        [("buy", "10", "100"), ("buy", "10", "110"), ("sell", "5", "120")],
        "75",  # average 105: 5 x 15
        "15",
        "-75",  # 15 x (100 - 105)
        id="two buys average the cost, a partial close realizes against it",
    ),
    pytest.param(
        [("sell", "5", "50"), ("buy", "5", "40")],
        "50",
        "0",
        "0",
        id="a short opened and covered lower",
    ),
    pytest.param(
        [("sell", "6", "50"), ("buy", "2", "55"), ("sell", "3", "45")],
        "-10",  # 2 covered 5 above their entry
        "-7",  # 4 short at 50 and 3 at 45: cost -335
        "-365",  # worth -700 at 100
        id="a short partly covered at a loss, then added to",
    ),
]


@pytest.mark.parametrize(("steps", "realized", "qty", "unrealized"), CASES)
def test_realized_and_unrealized_pnl_by_average_cost(
    desk: OMS, steps: list[Step], realized: str, qty: str, unrealized: str
) -> None:
    for side, amount, price in steps:
        trade(desk, side, amount, price)
    desk.sim.control.set_price("AAPL", "100")

    result = figures(desk)

    assert result.realized_pnl == Decimal(realized)
    assert result.unrealized_pnl == Decimal(unrealized)
    [held] = desk.runtime.portfolios.holdings(desk.runtime.portfolios.get("main").id)
    assert held.qty == Decimal(qty)
    row = listed(desk)
    assert Decimal(row["realized_pnl"]) == Decimal(realized)
    assert Decimal(row["unrealized_pnl"]) == result.unrealized_pnl


def test_partial_fills_build_one_average_and_realize_against_it(desk: OMS) -> None:
    control = desk.sim.control
    control.configure(fill_parts=2, fill_interval_seconds="1")
    control.set_price("AAPL", "100")
    bought = desk.trade(symbol="AAPL", side="buy", qty="10")
    assert bought.status_code == 201, bought.text
    control.set_price("AAPL", "102")
    control.advance(1)  # the second half fills at 102
    wait_for(lambda: fills_of(desk, bought.json()["id"]) == 2, "the buy's second fill")

    control.set_price("AAPL", "110")
    sold = desk.trade(symbol="AAPL", side="sell", qty="10")
    assert sold.status_code == 201, sold.text
    control.set_price("AAPL", "108")
    control.advance(1)
    wait_for(lambda: fills_of(desk, sold.json()["id"]) == 2, "the sell's second fill")

    # Average 101; 5 sold at 110 (+45) and 5 at 108 (+35).
    assert figures(desk).realized_pnl == Decimal("80.00")
    assert Decimal(listed(desk)["realized_pnl"]) == 80


def fills_of(oms: OMS, trade_id: int) -> int:
    return len(oms.get(f"/trades/{trade_id}").json()["fills"])


def test_a_book_crossing_zero_closes_its_long_and_opens_a_short_at_that_price(
    desk: OMS,
) -> None:
    """alpha sells more than it holds (the broker still holds beta's shares): alpha's book
    closes its long, realizing on it, and is short the rest at the sale's price."""
    desk.create_portfolio("alpha")
    desk.create_portfolio("beta")
    trade(desk, "buy", "10", "100", portfolio="alpha")
    trade(desk, "buy", "10", "100", portfolio="beta")
    trade(desk, "sell", "15", "110", portfolio="alpha")

    alpha = figures(desk, "alpha")
    assert alpha.realized_pnl == Decimal("100.00")  # the 10 held: +10 each
    [held] = desk.runtime.portfolios.holdings(desk.runtime.portfolios.get("alpha").id)
    assert (held.qty, held.avg_entry_price) == (Decimal(-5), Decimal(110))

    trade(desk, "buy", "5", "104", portfolio="alpha")  # covers the short 6 below its price
    assert figures(desk, "alpha").realized_pnl == Decimal("130.00")
    assert figures(desk, "beta").realized_pnl == 0
    account = desk.get("/account").json()
    assert Decimal(account["total_realized_pnl"]) == Decimal("130")


def previous_close(oms: OMS, symbol: str) -> Decimal:
    position = oms.sim.trading.get_open_position(symbol)
    return Decimal(str(position.lastday_price))


def test_todays_pnl_is_value_now_less_value_at_the_close_less_cash_paid_today(
    desk: OMS,
) -> None:
    trade(desk, "buy", "10", "100")  # yesterday
    trade(desk, "buy", "3", "50", symbol="MSFT")  # yesterday; it closed at 50
    desk.sim.control.advance(24 * 3600)  # the next trading day, 10:00 in New York
    desk.runtime.pnl.now = lambda: T0 + timedelta(days=1)
    close = previous_close(desk, "AAPL")  # the broker position's lastday_price

    trade(desk, "sell", "4", "105")
    trade(desk, "buy", "2", "104")
    # All of MSFT sold today: the broker holds none, its close comes from yesterday's bar.
    trade(desk, "sell", "3", "52", symbol="MSFT")
    desk.sim.control.set_price("AAPL", "103")

    # Now 8 x 103; at the close 10 AAPL and 3 MSFT at 50; today's trades brought in
    # 4 x 105 - 2 x 104 + 3 x 52.
    expected = 8 * Decimal(103) - 10 * close - 3 * 50 + (420 - 208 + 156)
    assert figures(desk).today_pnl == expected.quantize(Decimal("0.01"))
    assert Decimal(listed(desk)["today_pnl"]) == expected


def test_todays_pnl_of_positions_opened_today_needs_no_previous_close(desk: OMS) -> None:
    desk.runtime.pnl.now = lambda: T0
    trade(desk, "buy", "10", "100")
    trade(desk, "sell", "4", "110")
    desk.sim.control.set_price("AAPL", "95")

    # 6 x 95 now, nothing at the close, 1,000 paid and 440 received today.
    assert figures(desk).today_pnl == Decimal("10.00")


def test_pnl_is_unknown_rather_than_wrong_when_the_broker_cannot_be_asked(desk: OMS) -> None:
    trade(desk, "buy", "10", "100")
    trade(desk, "sell", "4", "110")
    desk.sim.control.add_fault("GET /v2/positions", "status", status=503, count=None)

    row = listed(desk)

    assert Decimal(row["realized_pnl"]) == 40
    assert row["unrealized_pnl"] is None and row["today_pnl"] is None


def test_a_portfolio_holding_what_the_broker_does_not_has_no_unrealized_pnl(desk: OMS) -> None:
    trade(desk, "buy", "10", "100")
    desk.sim.trading.close_position("AAPL")  # sold at the broker, outside the portfolio
    wait_for(lambda: desk.sim.trading.get_all_positions() == [], "the broker to sell AAPL")

    result = figures(desk)

    assert result.realized_pnl == 0
    assert result.unrealized_pnl is None and result.today_pnl is None


# ---------------------------------------------------------------------- managed / unmanaged
def outside_buy(oms: OMS, symbol: str, qty: int) -> None:
    """A trade made in Alpaca's dashboard: the OMS does not know it."""
    oms.sim.trading.submit_order(
        MarketOrderRequest(
            symbol=symbol, qty=qty, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
        )
    )


def rows(oms: OMS) -> list[tuple[str, str | None, bool, Decimal]]:
    return [(p.symbol, p.portfolio, p.managed, p.qty) for p in oms.runtime.pnl.positions()]


def test_positions_split_into_the_portfolios_and_what_no_portfolio_holds(desk: OMS) -> None:
    desk.create_portfolio("alpha")
    trade(desk, "buy", "5", "100")
    trade(desk, "buy", "2", "100", portfolio="alpha")
    trade(desk, "buy", "3", "400", symbol="MSFT", portfolio="alpha")
    outside_buy(desk, "AAPL", 4)
    desk.sim.control.seed_positions([{"symbol": "NVDA", "qty": "7"}])  # e.g. a transfer in

    assert rows(desk) == [
        ("AAPL", "alpha", True, Decimal(2)),
        ("AAPL", "main", True, Decimal(5)),
        ("AAPL", None, False, Decimal(4)),
        ("MSFT", "alpha", True, Decimal(3)),
        ("NVDA", None, False, Decimal(7)),
    ]

    # Partly sold outside the app: the broker holds less than the books, the difference shows
    # as a negative unmanaged quantity (the books are not changed).
    desk.sim.trading.close_position("MSFT", ClosePositionRequest(qty="1"))
    wait_for(lambda: broker_qty(desk, "MSFT") == 2, "the broker to sell one MSFT")
    assert rows(desk)[3:5] == [
        ("MSFT", "alpha", True, Decimal(3)),
        ("MSFT", None, False, Decimal(-1)),
    ]


def broker_qty(oms: OMS, symbol: str) -> Decimal:
    held = {p.symbol: Decimal(p.qty) for p in oms.sim.trading.get_all_positions()}
    return held.get(symbol, Decimal(0))

"""Reading through the API: trade lists and details, portfolios and their books, and the
account, positions, quotes and market hours as the broker reports them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest
from sqlalchemy import update
from sqlmodel import Session

from oms_api.orders.models import Order
from tests.oms import OMS, wait_for


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def _buy(oms: OMS, symbol: str = "AAPL", qty: str = "1", **body: Any) -> dict[str, Any]:
    return _ok(oms.trade(symbol=symbol, qty=qty, **body), 201)


def _ids(page: dict[str, Any]) -> list[int]:
    return [t["id"] for t in page["trades"]]


# ---------------------------------------------------------------------- GET /trades
def test_trade_list_filters(oms):
    oms.create_portfolio("growth")
    oms.sim.control.set_price("AAPL", "190.00")
    aapl = _buy(oms, "AAPL", "2")
    msft = _buy(oms, "MSFT")
    growth = _buy(oms, "AAPL", portfolio="growth")
    sold = _buy(oms, "AAPL", side="sell")
    resting = _buy(oms, "AAPL", order_type="limit", limit_price="100")
    assert resting["status"] == "accepted"

    def ids(**params: Any) -> list[int]:
        return _ids(_ok(oms.get("/trades", params=params)))

    assert ids(portfolio="growth") == [growth["id"]]
    assert ids(portfolio="main") == [resting["id"], sold["id"], msft["id"], aapl["id"]]
    assert ids(symbol="msft") == [msft["id"]]
    assert ids(status="accepted") == [resting["id"]]
    assert ids(side="sell") == [sold["id"]]
    assert ids(portfolio="main", symbol="AAPL", side="buy", status="filled") == [aapl["id"]]
    assert ids(portfolio="nobody") == []
    assert _error(oms.get("/trades", params={"status": "sleeping"}), 422)["code"] == (
        "malformed_request"
    )


def _trades_on_three_days(oms) -> list[dict[str, Any]]:
    """Three trades, placed at noon UTC on the 1st of January, February and March."""
    trades = [_buy(oms) for _ in range(3)]
    days = [datetime(2026, month, 1, 12, tzinfo=UTC) for month in (1, 2, 3)]
    with Session(oms.runtime.engine) as session:
        for trade, day in zip(trades, days, strict=True):
            session.exec(update(Order).where(Order.id == trade["id"]).values(created_at=day))
        session.commit()
    return trades


def _listed_ids(oms, **params: Any) -> list[int]:
    return _ids(_ok(oms.get("/trades", params=params)))


def test_trade_list_since_and_until(oms):
    trades = _trades_on_three_days(oms)

    def ids(**params: Any) -> list[int]:
        return _listed_ids(oms, **params)

    assert ids(since="2026-01-15T00:00:00Z") == [trades[2]["id"], trades[1]["id"]]
    assert ids(until="2026-01-15T00:00:00Z") == [trades[0]["id"]]
    assert ids(since="2026-01-15T00:00:00Z", until="2026-02-15T00:00:00Z") == [trades[1]["id"]]
    # The boundary: since is inclusive, until exclusive.
    assert ids(since="2026-02-01T12:00:00Z", until="2026-03-01T12:00:00Z") == [trades[1]["id"]]


def test_trade_list_reads_naive_since_and_until_as_utc(oms):
    trades = _trades_on_three_days(oms)

    def ids(**params: Any) -> list[int]:
        return _listed_ids(oms, **params)

    # No offset, as most clients write it: the same as Z.
    assert ids(since="2026-01-15T00:00:00", until="2026-02-15T00:00:00") == [trades[1]["id"]]
    # 12:00 is 12:00 UTC, not some local time: since inclusive, until exclusive.
    assert ids(since="2026-02-01T12:00:00") == [trades[2]["id"], trades[1]["id"]]
    assert ids(since="2026-02-01T12:00:00.000001") == [trades[2]["id"]]
    assert ids(until="2026-02-01T12:00:00") == [trades[0]["id"]]
    assert ids(since="2026-02-01T12:00:00", until="2026-02-01T13:00:00+01:00") == []


def test_trade_list_pages_with_a_cursor(oms):
    placed = [_buy(oms)["id"] for _ in range(7)]

    first = _ok(oms.get("/trades", params={"limit": 3}))
    second = _ok(oms.get("/trades", params={"limit": 3, "cursor": first["next_cursor"]}))
    third = _ok(oms.get("/trades", params={"limit": 3, "cursor": second["next_cursor"]}))

    pages = [_ids(first), _ids(second), _ids(third)]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [i for page in pages for i in page] == sorted(placed, reverse=True)
    assert first["next_cursor"] and second["next_cursor"]
    assert third["next_cursor"] is None
    error = _error(oms.get("/trades", params={"cursor": "not-a-cursor!"}), 400)
    assert error["code"] == "invalid_cursor"


def test_trade_detail_shows_fills_and_history(oms):
    oms.sim.control.set_price("AAPL", "190.00")
    trade = _buy(oms, qty="4")

    detail = _ok(oms.get(f"/trades/{trade['id']}"))

    assert detail["id"] == trade["id"] and detail["status"] == "filled"
    assert detail["portfolio"] == "main"
    [fill] = detail["fills"]
    assert Decimal(fill["qty"]) == 4 and Decimal(fill["price"]) == Decimal("190")
    first, *rest = detail["events"]
    assert (first["from_status"], first["to_status"], first["source"]) == (
        None,
        "pending_submit",
        "api",
    )
    assert rest and rest[-1]["to_status"] == "filled"
    for before, after in zip(detail["events"], rest, strict=False):
        assert after["from_status"] == before["to_status"]


def test_unknown_trade_is_404(oms):
    error = _error(oms.get("/trades/424242"), 404)
    assert error["code"] == "trade_not_found"
    assert "424242" in error["message"]
    assert _error(oms.post("/trades/424242/cancel"), 404)["code"] == "trade_not_found"


# ---------------------------------------------------------------------- portfolios
def test_portfolios_list_create_and_update(oms):
    created = _ok(oms.post("/portfolios", {"name": "Swing", "allocated_capital": "2500.50"}), 201)
    assert created["name"] == "swing" and created["status"] == "active"
    assert Decimal(created["allocated_capital"]) == Decimal("2500.50")

    listed = _ok(oms.get("/portfolios"))
    assert [p["name"] for p in listed] == ["main", "swing"]

    changed = _ok(oms.patch("/portfolios/swing", {"allocated_capital": "3000"}))
    assert Decimal(changed["allocated_capital"]) == 3000 and changed["status"] == "active"

    duplicate = oms.post("/portfolios", {"name": "swing"})
    assert _error(duplicate, 409)["code"] == "portfolio_exists"
    for bad in ("has space", "x" * 41, "", "-leading"):
        assert _error(oms.post("/portfolios", {"name": bad}), 422)["code"] == "malformed_request"
    assert _error(oms.post("/portfolios", {"name": "neg", "allocated_capital": "-1"}), 422)
    assert _error(oms.patch("/portfolios/nobody", {"status": "paused"}), 404)["code"] == (
        "portfolio_not_found"
    )
    assert _error(oms.get("/portfolio/nobody"), 404)["code"] == "portfolio_not_found"


def test_paused_portfolio_refuses_trades_until_resumed(oms):
    paused = _ok(oms.patch("/portfolios/main", {"status": "paused"}))
    assert paused["status"] == "paused"
    oms.sim.control.reset_counters()

    refused = oms.trade(symbol="AAPL", qty="1")

    error = _error(refused, 409)
    assert error["code"] == "portfolio_paused"
    assert oms.sim.control.counters().get("POST /v2/orders", 0) == 0
    assert _ok(oms.get("/trades"))["trades"] == []

    assert _ok(oms.patch("/portfolios/main", {"status": "active"}))["status"] == "active"
    assert _buy(oms)["status"] == "filled"


def test_portfolio_book_values_positions_from_its_own_fills(oms):
    oms.sim.control.set_price("AAPL", "190.00")
    _buy(oms, qty="10")
    oms.sim.control.set_price("AAPL", "200.00")

    book = _ok(oms.get("/portfolio/main"))

    [aapl] = book["positions"]
    assert {k: Decimal(v) for k, v in aapl.items() if k != "symbol"} == {
        "qty": Decimal("10"),
        "avg_entry_price": Decimal("190"),
        "cost_basis": Decimal("1900.00"),
        "current_price": Decimal("200"),
        "market_value": Decimal("2000.00"),
        "unrealized_pl": Decimal("100.00"),
        "realized_pl": Decimal("0"),
        "broker_qty": Decimal("10"),
    }
    assert Decimal(book["market_value"]) == Decimal("2000.00")
    assert Decimal(book["unrealized_pl"]) == Decimal("100.00")
    assert book["name"] == "main" and book["status"] == "active"

    # Sell 4 at 210: 4 x (210 - 190) realized; 6 left at the same average cost.
    oms.sim.control.set_price("AAPL", "210.00")
    _buy(oms, qty="4", side="sell")
    [aapl] = _ok(oms.get("/portfolio/main"))["positions"]
    assert Decimal(aapl["qty"]) == 6
    assert Decimal(aapl["avg_entry_price"]) == Decimal("190")
    assert Decimal(aapl["cost_basis"]) == Decimal("1140.00")
    assert Decimal(aapl["realized_pl"]) == Decimal("80.00")
    assert Decimal(aapl["market_value"]) == Decimal("1260.00")
    assert Decimal(aapl["unrealized_pl"]) == Decimal("120.00")


def test_portfolio_book_shows_broker_qty_as_unknown_when_the_broker_cannot_be_asked(oms):
    oms.sim.control.set_price("AAPL", "190.00")
    _buy(oms, qty="10")
    oms.sim.control.add_fault("GET /v2/positions", "status", status=503, count=None)

    book = _ok(oms.get("/portfolio/main"))

    [aapl] = book["positions"]
    assert aapl["broker_qty"] is None  # unknown, not "the broker holds none"
    assert book["broker_positions_available"] is False
    [warning] = book["warnings"]
    assert "broker's positions could not be read" in warning and "broker_qty" in warning
    # The book itself is still there, priced from a quote.
    assert Decimal(aapl["qty"]) == 10 and Decimal(aapl["market_value"]) == Decimal("1900.00")


def test_portfolio_book_shows_broker_qty_0_when_the_broker_holds_none(oms):
    oms.sim.control.set_price("AAPL", "190.00")
    _buy(oms, qty="10")
    oms.sim.trading.close_position("AAPL")  # sold at the broker, outside this portfolio
    wait_for(lambda: oms.sim.trading.get_all_positions() == [], "the broker to sell AAPL")

    book = _ok(oms.get("/portfolio/main"))

    [aapl] = book["positions"]
    assert Decimal(aapl["qty"]) == 10 and Decimal(aapl["broker_qty"]) == 0
    assert (book["broker_positions_available"], book["warnings"]) == (True, [])


def test_two_portfolios_on_one_symbol_each_see_their_own_share(oms):
    oms.create_portfolio("growth")
    oms.sim.control.set_price("AAPL", "190.00")
    _buy(oms, qty="10")
    oms.sim.control.set_price("AAPL", "180.00")
    _buy(oms, qty="5", portfolio="growth")

    [main] = _ok(oms.get("/portfolio/main"))["positions"]
    [growth] = _ok(oms.get("/portfolio/growth"))["positions"]

    assert (Decimal(main["qty"]), Decimal(main["broker_qty"])) == (10, 15)
    assert (Decimal(growth["qty"]), Decimal(growth["broker_qty"])) == (5, 15)
    assert Decimal(main["avg_entry_price"]) == 190 and Decimal(growth["avg_entry_price"]) == 180
    assert Decimal(main["unrealized_pl"]) == Decimal("-100.00")
    assert Decimal(growth["unrealized_pl"]) == Decimal("0.00")


# ---------------------------------------------------------------------- account and market
def test_account_is_reported_with_exact_money(oms):
    oms.sim.control.set_price("AAPL", "190.00")
    _buy(oms, qty="10")

    account = _ok(oms.get("/account"))

    for key in ("equity", "cash", "buying_power", "portfolio_value"):
        assert isinstance(account[key], str), key
    assert Decimal(account["cash"]) == Decimal("98100")  # 100,000 - 10 x 190
    assert Decimal(account["equity"]) == Decimal("100000")
    assert account["mode"] == "SIMULATOR"
    assert account["currency"] == "USD"


def test_broker_positions_show_value_and_unrealized_pl(oms):
    oms.sim.control.set_price("AAPL", "190.00")
    _buy(oms, qty="10")
    oms.sim.control.set_price("AAPL", "195.50")

    [position] = _ok(oms.get("/positions"))

    assert position["symbol"] == "AAPL" and position["side"] == "long"
    assert Decimal(position["qty"]) == 10
    assert Decimal(position["avg_entry_price"]) == 190
    assert Decimal(position["current_price"]) == Decimal("195.50")
    assert Decimal(position["market_value"]) == Decimal("1955.00")
    assert Decimal(position["unrealized_pl"]) == Decimal("55.00")


def test_quote_and_market_status(oms):
    oms.sim.control.set_price("AAPL", "187.25")

    quote = _ok(oms.get("/quote/AAPL"))
    assert quote["symbol"] == "AAPL" and Decimal(quote["price"]) == Decimal("187.25")
    assert Decimal(_ok(oms.get("/quote/aapl"))["price"]) == Decimal("187.25")
    assert _error(oms.get("/quote/NOT$A$SYMBOL"), 400)["code"] == "invalid_symbol"
    assert _error(oms.get("/quote/ZZZZZ"), 400)["code"] == "invalid_symbol"

    status = _ok(oms.get("/market-status"))
    assert status == {
        "is_open": True,
        "timestamp": "2026-11-18T15:00:00Z",
        "next_open": "2026-11-19T14:30:00Z",
        "next_close": "2026-11-18T21:00:00Z",
    }


def test_reads_and_portfolio_changes_answer_503_when_the_database_is_down(oms, db_engine):
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    driver_error = db_engine.dialect.loaded_dbapi.OperationalError

    def refuse(*_args):
        raise OperationalError("SELECT", None, driver_error("database is unavailable"))

    event.listen(db_engine, "before_cursor_execute", refuse)
    try:
        answers = [
            oms.get("/trades"),
            oms.get("/portfolios"),
            oms.post("/portfolios", {"name": "other"}),
            oms.get("/portfolio/main"),
        ]
    finally:
        event.remove(db_engine, "before_cursor_execute", refuse)
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "database_unavailable"


def test_open_trades_are_listed_however_old_and_paged_to_the_last(oms):
    """Working orders placed long ago, behind many newer filled ones: `open=true` finds every
    one of them, page after page (a client filtering the newest page itself finds none)."""
    oms.sim.control.set_price("AAPL", "190.00")
    oms.sim.control.configure(max_step_bps=0)
    resting = [_buy(oms, order_type="limit", limit_price="150")["id"] for _ in range(12)]
    filled = [_buy(oms)["id"] for _ in range(15)]
    assert _ids(_ok(oms.get("/trades", params={"limit": 10}))) == filled[::-1][:10]

    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"open": "true", "limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = _ok(oms.get("/trades", params=params))
        seen += _ids(page)
        assert all(t["status"] == "accepted" for t in page["trades"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == resting[::-1]
    # Combined with the other filters, and refused when it is not a boolean.
    assert _ids(_ok(oms.get("/trades", params={"open": "true", "symbol": "MSFT"}))) == []
    assert _error(oms.get("/trades", params={"open": "sometimes"}), 422)


def test_every_portfolios_positions_come_from_one_call_and_one_broker_request(oms):
    control = oms.sim.control
    control.configure(max_step_bps=0)
    for symbol, price in (("AAPL", "100.00"), ("MSFT", "400.00"), ("NVDA", "50.00")):
        control.set_price(symbol, price)
    oms.create_portfolio("alpha")
    oms.create_portfolio("beta")
    _buy(oms, "AAPL", "2", portfolio="alpha")  # $200
    _buy(oms, "MSFT", "1", portfolio="alpha")  # $400
    _buy(oms, "NVDA", "10", portfolio="beta")  # $500
    _buy(oms, "AAPL", "1", portfolio="beta")  # $100
    # A trade made outside the OMS (Alpaca's dashboard): the broker holds more MSFT.
    oms.sim.trading.submit_order(
        MarketOrderRequest(symbol="MSFT", qty=3, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    control.set_price("AAPL", "110.00")  # +10 %
    control.set_price("MSFT", "380.00")  # -5 %
    control.reset_counters()

    books = _ok(oms.get("/positions/by-portfolio"))

    assert control.counters() == {"GET /v2/positions": 1}  # one broker request, nothing else
    assert books["broker_positions_available"] is True and books["warnings"] == []
    by_name = {p["name"]: p for p in books["portfolios"]}
    assert list(by_name) == ["alpha", "beta", "main"]
    alpha = by_name["alpha"]
    assert [p["symbol"] for p in alpha["positions"]] == ["MSFT", "AAPL"]  # $380 before $220
    msft, aapl = alpha["positions"]
    assert (msft["qty"], msft["market_value"], msft["unrealized_pl"]) == ("1", "380", "-20")
    assert Decimal(msft["unrealized_plpc"]) == Decimal("-0.05")
    assert (aapl["market_value"], aapl["unrealized_pl"], aapl["broker_qty"]) == ("220", "20", "3")
    assert Decimal(aapl["unrealized_plpc"]) == Decimal("0.1")
    assert (alpha["market_value"], alpha["unrealized_pl"]) == ("600", "0")
    assert [p["symbol"] for p in by_name["beta"]["positions"]] == ["NVDA", "AAPL"]
    assert by_name["main"]["positions"] == []
    [outside] = books["outside_portfolios"]
    assert (outside["symbol"], outside["qty"], outside["market_value"]) == ("MSFT", "3", "1140")


def test_positions_by_portfolio_still_answer_when_the_broker_cannot_be_asked(oms):
    oms.create_portfolio("alpha")
    _buy(oms, "AAPL", "2", portfolio="alpha")
    oms.sim.control.add_fault("GET /v2/positions", "status", status=503)
    oms.sim.control.reset_counters()

    books = _ok(oms.get("/positions/by-portfolio"))

    assert oms.sim.control.counters() == {"GET /v2/positions": 1}  # no quote per symbol
    assert books["broker_positions_available"] is False
    assert "could not be read" in books["warnings"][0]
    [aapl] = next(p for p in books["portfolios"] if p["name"] == "alpha")["positions"]
    assert aapl["qty"] == "2"
    assert aapl["current_price"] is None and aapl["broker_qty"] is None
    assert books["outside_portfolios"] == []

"""Pre-trade limits per portfolio: allowed and denied symbols, the largest order, the largest
position in one symbol. Set with PUT /portfolios/{name}/limits (strict input, audited before
and after); an order breaking one is a 403 with nothing written or sent. Through the real OMS
app and the simulator; on SQLite, and on PostgreSQL in the PostgreSQL pass."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.oms import OMS
from tests.risk_support import audit_entries, error_of, nothing_written, placed

UNSET = {
    "portfolio": "main",
    "allowed_symbols": None,
    "denied_symbols": None,
    "max_order_notional": None,
    "max_position_value": None,
    "updated_at": None,
}


@pytest.fixture
def main(oms_factory: Any) -> Iterator[OMS]:
    """Portfolio main with $50,000 of capital (the limits bite first); AAPL at $100."""
    with oms_factory() as running:
        running.create_portfolio("main", "50000")
        running.sim.control.set_price("AAPL", "100.00")
        running.sim.control.set_price("MSFT", "60.00")
        yield running


def put_limits(oms: OMS, name: str = "main", **body: Any) -> Any:
    return oms.client.put(f"/api/v1/portfolios/{name}/limits", json=body, headers=oms.headers)


def limits_of(oms: OMS, name: str = "main") -> dict[str, Any]:
    response = oms.get(f"/portfolios/{name}/limits")
    assert response.status_code == 200, response.text
    return response.json()


# ---------------------------------------------------------------------- the route
def test_a_portfolio_starts_with_no_limits(main: OMS) -> None:
    assert limits_of(main) == UNSET
    assert limits_of(main, "MAIN")["portfolio"] == "main"


def test_limits_are_set_kept_and_cleared_field_by_field(main: OMS) -> None:
    answer = put_limits(
        main,
        allowed_symbols=[" aapl", "MSFT", "AAPL", "brk.b"],
        max_order_notional="5000.5",
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["allowed_symbols"] == ["AAPL", "MSFT", "BRK.B"]  # upper-cased, once each
    assert body["max_order_notional"] == "5000.50"
    assert body["updated_at"] is not None

    changed = put_limits(main, denied_symbols=["tsla"], max_order_notional=None).json()
    assert changed["allowed_symbols"] == ["AAPL", "MSFT", "BRK.B"]  # left out: kept
    assert changed["denied_symbols"] == ["TSLA"]
    assert changed["max_order_notional"] is None  # null: cleared
    assert limits_of(main) == changed


def test_each_change_is_audited_with_before_and_after(main: OMS) -> None:
    who = {"requested_by": "U0ALICE", "requested_by_name": "alice"}
    assert put_limits(main, max_position_value="2000", **who).status_code == 200
    assert put_limits(main, denied_symbols=["GME"], max_position_value=None).status_code == 200

    second, first = audit_entries(main, action="portfolio_limits")
    assert (first["actor"], first["actor_name"], first["target"], first["result"]) == (
        "U0ALICE",
        "alice",
        "portfolio main",
        "ok",
    )
    nothing = {
        "allowed_symbols": None,
        "denied_symbols": None,
        "max_order_notional": None,
        "max_position_value": None,
    }
    assert first["details"] == {
        "before": nothing,
        "after": nothing | {"max_position_value": "2000.00"},
    }
    assert second["details"]["before"]["max_position_value"] == "2000.00"
    assert second["details"]["after"] == nothing | {"denied_symbols": ["GME"]}
    assert second["actor"] == "api"


def test_an_unknown_portfolio_is_a_404_recorded_as_refused(main: OMS) -> None:
    error_of(put_limits(main, "ghost", max_order_notional="10"), 404, "portfolio_not_found")
    error_of(main.get("/portfolios/ghost/limits"), 404, "portfolio_not_found")
    [entry] = audit_entries(main, target="portfolio ghost")
    assert (entry["action"], entry["result"]) == ("portfolio_limits", "refused")
    assert entry["details"] == {
        "refused": "portfolio_not_found",
        "asked": {"max_order_notional": "10.00"},
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"allowed_symbols": []}, "allowed_symbols"),
        ({"allowed_symbols": ["AAPL", "A1"]}, "allowed_symbols.1"),
        ({"denied_symbols": ["ms\u017fft"]}, "denied_symbols.0"),  # not ASCII: not MSFT
        ({"denied_symbols": "AAPL"}, "denied_symbols"),
        ({"denied_symbols": ["X"] * 501}, "denied_symbols"),
        ({"max_order_notional": "0"}, "max_order_notional"),
        ({"max_order_notional": "-1"}, "max_order_notional"),
        ({"max_order_notional": "10.001"}, "max_order_notional"),
        ({"max_position_value": "NaN"}, "max_position_value"),
        ({"max_position_value": True}, "max_position_value"),
        ({"max_loss": "10"}, "max_loss"),
    ],
)
def test_bad_limits_are_a_422_in_the_error_shape_and_change_nothing(
    main: OMS, body: dict[str, Any], field: str
) -> None:
    assert put_limits(main, max_order_notional="100").status_code == 200
    before_audit, before = audit_entries(main), limits_of(main)

    error = error_of(put_limits(main, **body), 422, "malformed_request")
    assert error["details"]["problems"][0]["field"] == field
    assert limits_of(main) == before
    assert audit_entries(main) == before_audit


def test_five_hundred_symbols_are_accepted(main: OMS) -> None:
    symbols = [f"{a}{b}{c}" for a in "ABCDEFGH" for b in "ABCDEFGH" for c in "ABCDEFGH"][:500]
    answer = put_limits(main, denied_symbols=symbols)
    assert answer.status_code == 200 and len(answer.json()["denied_symbols"]) == 500


def test_the_limits_route_needs_the_token(main: OMS) -> None:
    answer = main.client.put("/api/v1/portfolios/main/limits", json={})
    error_of(answer, 401, "unauthorized")
    assert main.client.get("/api/v1/portfolios/main/limits").status_code == 401


# ---------------------------------------------------------------------- the checks
def test_only_allowed_symbols_may_be_traded(main: OMS) -> None:
    assert put_limits(main, allowed_symbols=["AAPL"]).status_code == 200

    with nothing_written(main):
        error = error_of(main.trade(symbol="msft", qty="1"), 403, "symbol_not_allowed")
    assert error["message"] == (
        "portfolio main may only trade AAPL; MSFT is not among them — nothing was sent"
    )
    assert error["details"] == {"symbol": "MSFT", "allowed_symbols": ["AAPL"]}
    placed(main.trade(symbol="AAPL", qty="1"))
    with nothing_written(main):
        error_of(main.trade(symbol="MSFT", qty="1", side="sell"), 403, "symbol_not_allowed")


def test_denied_symbols_may_not_be_traded(main: OMS) -> None:
    assert put_limits(main, allowed_symbols=["AAPL", "MSFT"], denied_symbols=["MSFT"]).is_success

    with nothing_written(main):
        error = error_of(main.trade(symbol="MSFT", qty="1"), 403, "symbol_denied")
    assert error["details"] == {"symbol": "MSFT", "denied_symbols": ["MSFT"]}
    placed(main.trade(symbol="AAPL", qty="1"))


def test_an_order_at_under_and_over_the_largest_order(main: OMS) -> None:
    assert put_limits(main, max_order_notional="1000").status_code == 200

    placed(main.trade(symbol="AAPL", qty="10", order_type="limit", limit_price="100"))  # at
    placed(main.trade(symbol="AAPL", notional="999.99"))  # under
    with nothing_written(main):
        over = error_of(
            main.trade(symbol="AAPL", qty="10", order_type="limit", limit_price="100.01"),
            403,
            "order_notional_exceeded",
        )
    assert over["details"] == {"estimated_notional": "1000.10", "max_order_notional": "1000.00"}
    assert over["message"] == (
        "this order is worth about $1,000.10, more than portfolio main's limit of $1,000.00 "
        "per order — nothing was sent"
    )
    with nothing_written(main):  # a market order is valued at the latest price; sells too
        error_of(main.trade(symbol="AAPL", qty="11", side="sell"), 403, "order_notional_exceeded")


def test_a_position_at_under_and_over_the_largest_position(main: OMS) -> None:
    assert put_limits(main, max_position_value="2000").status_code == 200

    placed(main.trade(symbol="AAPL", qty="15"))  # $1,500: under
    placed(main.trade(symbol="AAPL", qty="5"))  # $2,000: at
    with nothing_written(main):
        over = error_of(main.trade(symbol="AAPL", qty="0.01"), 403, "position_limit_exceeded")
    assert over["details"] == {
        "symbol": "AAPL",
        "position_value_after": "2001.00",
        "max_position_value": "2000.00",
    }
    placed(main.trade(symbol="AAPL", qty="20", side="sell"))  # flat again

    # Short positions count as well: |qty after| x price.
    placed(main.trade(symbol="AAPL", qty="20", side="sell"))  # short $2,000: at
    with nothing_written(main):
        short = error_of(
            main.trade(symbol="AAPL", qty="1", side="sell"), 403, "position_limit_exceeded"
        )
    assert short["details"]["position_value_after"] == "2100.00"
    assert "(short)" in short["message"]


def test_an_order_that_makes_a_position_smaller_is_never_refused_for_its_size(
    main: OMS,
) -> None:
    placed(main.trade(symbol="AAPL", qty="30"))
    assert put_limits(main, max_position_value="1000").status_code == 200  # now $3,000 held

    with nothing_written(main):
        error_of(main.trade(symbol="AAPL", qty="1"), 403, "position_limit_exceeded")
    placed(main.trade(symbol="AAPL", qty="5", side="sell"))  # still over, but smaller
    held = main.get("/portfolio/main").json()["positions"][0]
    assert Decimal(held["qty"]) == 25


def test_other_portfolios_are_not_bound_by_these_limits(main: OMS) -> None:
    main.create_portfolio("other", "10000")
    assert put_limits(main, denied_symbols=["AAPL"]).status_code == 200
    placed(main.trade(portfolio="other", symbol="AAPL", qty="1"))


def test_an_emergency_sell_is_not_held_back_by_the_limits(main: OMS) -> None:
    placed(main.trade(symbol="AAPL", qty="30"))
    assert put_limits(main, denied_symbols=["AAPL"], max_order_notional="10").status_code == 200

    closed = main.post("/positions/AAPL/close", {"portfolio": "main", "reason": "cut it"})
    assert closed.status_code == 201, closed.text
    assert closed.json()["status"] == "filled" and Decimal(closed.json()["qty"]) == 30

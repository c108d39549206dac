"""Bad trade requests: each is answered with a clear error, writes no order row and sends no
order to the broker. Malformed bodies are 422 (`malformed_request`); bodies that are well formed
but break a trading rule are 400 (409 for a paused portfolio)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.oms import OMS

POST_ORDERS = "POST /v2/orders"
DROP = object()  # marks a field to leave out of the request body


def trade(**changes: Any) -> dict[str, Any]:
    """A valid market buy, with some fields changed (or dropped with DROP)."""
    body: dict[str, Any] = {"portfolio": "main", "symbol": "AAPL", "side": "buy", "qty": "1"}
    body.update(changes)
    return {key: value for key, value in body.items() if value is not DROP}


def bracket(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "qty": "2",
        "take_profit": {"limit_price": "250"},
        "stop_loss": {"stop_price": "150"},
    }
    values.update(changes)
    return trade(**values)


# Each case: (request, expected HTTP status, error code ("" = malformed_request), a fragment
# of the message). A request is a dict sent as JSON, raw bytes, or {"body", "headers"}.

MALFORMED: list[Any] = [
    pytest.param(
        b'{"portfolio": "main", "symbol": ', 422, "", "body is not valid json", id="bad_json"
    ),
    pytest.param(b"", 422, "", "body: body must be a JSON object", id="empty_body"),
    pytest.param(
        b'{"portfolio": "main", "symbol": "AAPL", "side": "buy", "qty": 2, "qty": 3}',
        422,
        "",
        "duplicate field 'qty'",
        id="duplicate_key",
    ),
    pytest.param(
        b'["AAPL", "buy", 1]', 422, "", "body: body must be a JSON object", id="json_array"
    ),
    pytest.param(b'"buy AAPL"', 422, "", "body: body must be a JSON object", id="json_string"),
    pytest.param(
        b'{"portfolio": "main", "symbol": "AAPL", "side": "buy", "qty": NaN}',
        422,
        "",
        "finite",
        id="qty_bare_nan",
    ),
    pytest.param(trade(portfolio=DROP), 422, "", "portfolio", id="missing_portfolio"),
    pytest.param(trade(symbol=DROP), 422, "", "symbol", id="missing_symbol"),
    pytest.param(trade(side=DROP), 422, "", "side", id="missing_side"),
    pytest.param(trade(price="190"), 422, "", "price", id="unknown_field"),
    pytest.param(trade(side="hold"), 422, "", "side", id="side_hold"),
    pytest.param(trade(qty="abc"), 422, "", "qty", id="qty_not_a_number"),
    pytest.param(trade(qty=[1]), 422, "", "qty", id="qty_a_list"),
    pytest.param(trade(qty=True), 422, "", "qty", id="qty_boolean"),
    pytest.param(trade(qty="NaN"), 422, "", "qty: input should be a finite number", id="qty_nan"),
    pytest.param(trade(qty="Infinity"), 422, "", "finite", id="qty_infinity"),
    pytest.param(trade(extended_hours="yes please"), 422, "", "extended_hours", id="ext_not_bool"),
    pytest.param(trade(symbol="   "), 422, "", "symbol", id="symbol_blank"),
    pytest.param(trade(symbol=None), 422, "", "symbol", id="symbol_null"),
    pytest.param(trade(portfolio="p" * 41), 422, "", "portfolio", id="portfolio_over_40_chars"),
    pytest.param(trade(order_type="trailing"), 422, "", "order_type", id="order_type_unknown"),
    pytest.param(trade(time_in_force="week"), 422, "", "time_in_force", id="tif_unknown"),
    pytest.param(trade(reason="x" * 501), 422, "", "reason", id="reason_over_500_chars"),
    pytest.param(trade(symbol="A" * 30), 422, "", "symbol", id="symbol_over_21_chars"),
    pytest.param(trade(portfolio=""), 422, "", "portfolio", id="portfolio_empty"),
    pytest.param(
        bracket(take_profit={"limit_price": "250", "size": 2}),
        422,
        "",
        "take_profit",
        id="bracket_unknown_field",
    ),
    pytest.param(
        {"body": trade(), "headers": {"Idempotency-Key": "k" * 201}},
        422,
        "",
        "idempotency",
        id="idempotency_key_over_200_chars",
    ),
    # PostgreSQL refuses NUL in text: refused here, naming the field, not when written.
    pytest.param(
        trade(portfolio="ma\0in"), 422, "", "portfolio: must not contain a NUL", id="nul_portfolio"
    ),
    pytest.param(
        trade(symbol="AA\0PL"), 422, "", "symbol: must not contain a NUL", id="nul_symbol"
    ),
    pytest.param(trade(reason="why\0"), 422, "", "reason: must not contain a NUL", id="nul_reason"),
    pytest.param(
        trade(requested_by="U123\0"),
        422,
        "",
        "requested_by: must not contain a NUL",
        id="nul_requested_by",
    ),
    pytest.param(
        b'{"portfolio": "main", "symbol": "AAPL", "side": "buy", "qty": "1", "reason": "\\ud800"}',
        422,
        "",
        "reason: input should be a valid string",
        id="lone_surrogate_reason",
    ),
    pytest.param(
        trade(portfolio="m\u0101in"),
        422,
        "",
        "portfolio: portfolio names are ASCII",
        id="non_ascii_portfolio",
    ),
]

RULES: list[Any] = [
    pytest.param(
        trade(notional="100"), 400, "invalid_quantity", "exactly one", id="qty_and_notional"
    ),
    pytest.param(
        trade(qty=DROP), 400, "invalid_quantity", "exactly one", id="neither_qty_nor_notional"
    ),
    pytest.param(trade(qty="0"), 400, "invalid_quantity", "positive", id="qty_zero"),
    pytest.param(trade(qty="-5"), 400, "invalid_quantity", "positive", id="qty_negative"),
    pytest.param(
        trade(qty="0.0000000001"), 400, "invalid_quantity", "decimal places", id="qty_10_decimals"
    ),
    pytest.param(trade(qty="1000000000"), 400, "invalid_quantity", "at most", id="qty_huge"),
    pytest.param(
        trade(qty=DROP, notional="1e400"), 400, "invalid_notional", "at most", id="notional_huge"
    ),
    pytest.param(
        trade(qty=DROP, notional="0.50"),
        400,
        "invalid_notional",
        "at least $1",
        id="notional_half_dollar",
    ),
    pytest.param(
        trade(qty=DROP, notional="10.005"),
        400,
        "invalid_notional",
        "whole cents",
        id="notional_3_decimals",
    ),
    pytest.param(
        trade(qty=DROP, notional="-10"), 400, "invalid_notional", "positive", id="notional_negative"
    ),
    pytest.param(
        trade(order_type="limit"),
        400,
        "missing_price",
        "limit_price is required",
        id="limit_without_limit_price",
    ),
    pytest.param(
        trade(limit_price="190"),
        400,
        "unexpected_price",
        "limit_price is not allowed",
        id="market_with_limit_price",
    ),
    pytest.param(
        trade(stop_price="190"),
        400,
        "unexpected_price",
        "stop_price is not allowed",
        id="market_with_stop_price",
    ),
    pytest.param(
        trade(order_type="stop"),
        400,
        "missing_price",
        "stop_price is required",
        id="stop_without_stop_price",
    ),
    pytest.param(
        trade(order_type="stop_limit", limit_price="190"),
        400,
        "missing_price",
        "stop_price is required",
        id="stop_limit_without_stop_price",
    ),
    pytest.param(
        trade(order_type="stop_limit", stop_price="190"),
        400,
        "missing_price",
        "limit_price is required",
        id="stop_limit_without_limit_price",
    ),
    pytest.param(
        trade(order_type="limit", limit_price="190.001"),
        400,
        "invalid_price",
        "too many decimals",
        id="limit_price_sub_penny",
    ),
    pytest.param(
        trade(order_type="limit", limit_price="0.12345"),
        400,
        "invalid_price",
        "too many decimals",
        id="limit_price_5_decimals_below_1",
    ),
    pytest.param(
        trade(order_type="limit", limit_price="-190"),
        400,
        "invalid_price",
        "positive",
        id="limit_price_negative",
    ),
    pytest.param(
        trade(order_type="stop", stop_price="0"),
        400,
        "invalid_price",
        "positive",
        id="stop_price_zero",
    ),
    pytest.param(
        trade(qty="1.5", time_in_force="gtc"),
        400,
        "invalid_time_in_force",
        "day orders",
        id="fractional_qty_gtc",
    ),
    pytest.param(
        trade(qty=DROP, notional="100", order_type="stop", stop_price="200"),
        400,
        "invalid_order_type",
        "market or limit",
        id="notional_stop_order",
    ),
    pytest.param(
        trade(extended_hours=True),
        400,
        "invalid_extended_hours",
        "day limit",
        id="extended_hours_market",
    ),
    pytest.param(
        trade(order_type="stop", stop_price="200", time_in_force="opg"),
        400,
        "invalid_time_in_force",
        "market or limit",
        id="opg_stop_order",
    ),
    pytest.param(
        bracket(stop_loss=DROP),
        400,
        "invalid_bracket",
        "both take_profit and stop_loss",
        id="bracket_only_take_profit",
    ),
    pytest.param(
        bracket(take_profit={"limit_price": "150"}, stop_loss={"stop_price": "160"}),
        400,
        "invalid_bracket",
        "above stop_loss",
        id="bracket_buy_tp_below_sl",
    ),
    pytest.param(
        bracket(take_profit={"limit_price": "150"}, stop_loss={"stop_price": "150"}),
        400,
        "invalid_bracket",
        "above stop_loss",
        id="bracket_buy_tp_equal_sl",
    ),
    pytest.param(
        bracket(time_in_force="ioc"), 400, "invalid_bracket", "day or gtc", id="bracket_ioc"
    ),
    pytest.param(
        bracket(qty=DROP, notional="500"),
        400,
        "invalid_bracket",
        "whole-share",
        id="bracket_notional",
    ),
    pytest.param(
        bracket(order_type="limit", limit_price="260"),
        400,
        "invalid_bracket",
        "limit_price",
        id="bracket_entry_outside_exits",
    ),
    pytest.param(trade(symbol="aa1"), 400, "invalid_symbol", "aa1", id="symbol_with_digit"),
    pytest.param(
        trade(symbol="ABCDEFG"), 400, "invalid_symbol", "1-5 letters", id="symbol_too_long"
    ),
    pytest.param(
        trade(symbol="BRK/B"), 400, "invalid_symbol", "1-5 letters", id="symbol_bad_class_separator"
    ),
    # str.upper() maps U+017F (long s) to S and U+0131 (dotless i) to I: not MSFT, not IBM.
    pytest.param(
        trade(symbol="m\u017fft"),
        400,
        "invalid_symbol",
        "1-5 letters A-Z",
        id="symbol_long_s_is_not_msft",
    ),
    pytest.param(
        trade(symbol="\u0131bm"),
        400,
        "invalid_symbol",
        "1-5 letters A-Z",
        id="symbol_dotless_i_is_not_ibm",
    ),
]

NEEDS_LOOKUP: list[Any] = [
    pytest.param(
        trade(portfolio="nope"), 400, "portfolio_not_found", "nope", id="unknown_portfolio"
    ),
    pytest.param(
        trade(portfolio="frozen"), 409, "portfolio_paused", "paused", id="paused_portfolio"
    ),
    pytest.param(trade(symbol="ZZZZ"), 400, "invalid_symbol", "zzzz", id="unknown_symbol"),
    pytest.param(
        trade(symbol="TWTR"), 400, "invalid_symbol", "not tradable", id="untradable_symbol"
    ),
    pytest.param(
        trade(symbol="GME", qty="1.5"),
        400,
        "invalid_quantity",
        "fractional",
        id="gme_fractional_qty",
    ),
    pytest.param(
        trade(symbol="GME", qty=DROP, notional="50"),
        400,
        "invalid_quantity",
        "fractional",
        id="gme_notional",
    ),
]
# Which of those may ask the broker about the asset (never to place an order).
ASSET_LOOKUPS = {
    "unknown_symbol",
    "untradable_symbol",
    "gme_fractional_qty",
    "gme_notional",
    # Whether a portfolio is active is checked in the statement that records the order (so a
    # pause from any worker takes effect at once): the asset and the clock are read first.
    "paused_portfolio",
}


@pytest.fixture
def oms(oms_factory: Any) -> Iterator[OMS]:
    with oms_factory(stream_enabled=False, background=False) as running:
        running.create_portfolio("main")
        running.create_portfolio("frozen")
        paused = running.patch("/portfolios/frozen", {"status": "paused"})
        assert paused.status_code == 200, paused.text
        running.sim.control.reset_counters()
        yield running


def count_rows(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


def send(oms: OMS, request: Any) -> Any:
    if isinstance(request, bytes):
        headers = {**oms.headers, "Content-Type": "application/json"}
        return oms.client.post("/api/v1/trade", content=request, headers=headers)
    if "headers" in request:
        return oms.post("/trade", request["body"], headers=request["headers"])
    return oms.post("/trade", request)


def check_refused(
    oms: OMS,
    engine: Engine,
    request: Any,
    status: int,
    code: str,
    fragment: str,
    broker_lookups_allowed: bool,
) -> None:
    response = send(oms, request)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == (code or "malformed_request")
    assert fragment.lower() in error["message"].lower(), error["message"]
    # Nothing written, nothing sent.
    assert count_rows(engine, "orders") == 0
    assert count_rows(engine, "order_events") == 0
    counters = oms.sim.control.counters()
    assert counters.get(POST_ORDERS, 0) == 0
    if not broker_lookups_allowed:
        assert counters == {}, counters  # refused before the broker was asked anything


@pytest.mark.parametrize(("request_", "status", "code", "fragment"), MALFORMED)
def test_malformed_request_is_422_and_nothing_is_written_or_sent(
    oms: OMS, db_engine: Engine, request_: Any, status: int, code: str, fragment: str
) -> None:
    check_refused(oms, db_engine, request_, status, code, fragment, False)


@pytest.mark.parametrize(("request_", "status", "code", "fragment"), RULES)
def test_rule_violation_is_400_and_nothing_is_written_or_sent(
    oms: OMS, db_engine: Engine, request_: Any, status: int, code: str, fragment: str
) -> None:
    check_refused(oms, db_engine, request_, status, code, fragment, False)


@pytest.mark.parametrize(("request_", "status", "code", "fragment"), NEEDS_LOOKUP)
def test_portfolio_or_asset_refusal_writes_and_sends_nothing(
    request: pytest.FixtureRequest,
    oms: OMS,
    db_engine: Engine,
    request_: Any,
    status: int,
    code: str,
    fragment: str,
) -> None:
    case_id = request.node.callspec.id
    check_refused(oms, db_engine, request_, status, code, fragment, case_id in ASSET_LOOKUPS)

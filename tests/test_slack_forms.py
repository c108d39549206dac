"""Modal submissions → TradeDraft or field errors; metadata round trips; /trade text."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from slack_bot import forms
from slack_bot.blocks import ids
from slack_bot.forms import TradeDraft


def text(value: str | None) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def select(value: str | None) -> dict[str, Any]:
    return {"selected_option": {"value": value} if value is not None else None}


def trade_values(**fields: str | None) -> dict[str, Any]:
    """Slack's view.state.values for the trade form: a valid market buy of 10 AAPL, changed
    by `fields` (None = empty)."""
    chosen: dict[str, str | None] = {
        "portfolio": "main",
        "symbol": "AAPL",
        "side": "buy",
        "amount_kind": "qty",
        "amount": "10",
        "order_type": "market",
        "time_in_force": "day",
        "limit_price": None,
        "stop_price": None,
        "take_profit": None,
        "stop_loss": None,
        "reason": None,
        "extended_hours": None,
    }
    chosen.update(fields)
    selects = {"portfolio", "side", "amount_kind", "order_type", "time_in_force"}
    values: dict[str, Any] = {}
    for block_id, value in chosen.items():
        if block_id == "extended_hours":
            options = [{"value": "true"}] if value else []
            values[block_id] = {block_id: {"selected_options": options}}
        elif block_id in selects:
            values[block_id] = {block_id: select(value)}
        else:
            values[block_id] = {block_id: text(value)}
    return values


def test_good_market_order() -> None:
    draft = forms.parse_trade_form(trade_values(symbol=" aapl ", reason="  rebalance  "))
    assert draft == TradeDraft(
        portfolio="main",
        symbol="AAPL",
        side="buy",
        qty=Decimal("10"),
        notional=None,
        order_type="market",
        time_in_force="day",
        limit_price=None,
        stop_price=None,
        take_profit=None,
        stop_loss=None,
        extended_hours=False,
        reason="rebalance",
    )


@pytest.mark.parametrize(
    ("fields", "check"),
    [
        (
            {"order_type": "limit", "limit_price": "$1,150.25"},
            lambda d: d.limit_price == Decimal("1150.25"),
        ),
        (
            {"order_type": "stop_limit", "limit_price": "139.5", "stop_price": "140"},
            lambda d: (d.limit_price, d.stop_price) == (Decimal("139.5"), Decimal("140")),
        ),
        ({"amount_kind": "notional", "amount": "500.50"}, lambda d: d.notional == Decimal("500.5")),
        ({"amount": "0.123456789"}, lambda d: d.qty == Decimal("0.123456789")),
        (
            {"order_type": "limit", "limit_price": "0.1234", "symbol": "BRK.B"},
            lambda d: d.limit_price == Decimal("0.1234") and d.symbol == "BRK.B",
        ),
        (
            {"take_profit": "200", "stop_loss": "170", "time_in_force": "gtc"},
            lambda d: (d.take_profit, d.stop_loss) == (Decimal("200"), Decimal("170")),
        ),
        (
            {
                "side": "sell",
                "order_type": "limit",
                "limit_price": "180",
                "take_profit": "170",
                "stop_loss": "190",
            },
            lambda d: d.side == "sell" and d.is_bracket,
        ),
        (
            {"order_type": "limit", "limit_price": "150", "extended_hours": "yes"},
            lambda d: d.extended_hours is True,
        ),
    ],
)
def test_good_inputs(fields: dict[str, str], check: Any) -> None:
    draft = forms.parse_trade_form(trade_values(**fields))
    assert isinstance(draft, TradeDraft), draft
    assert check(draft)


@pytest.mark.parametrize(
    ("fields", "block_id", "message"),
    [
        ({"portfolio": None}, ids.PORTFOLIO, "Choose a portfolio."),
        ({"symbol": None}, ids.SYMBOL, "Enter a ticker, e.g. AAPL."),
        ({"symbol": "AAPL1"}, ids.SYMBOL, "Enter a ticker of 1-10 letters, e.g. AAPL or BRK.B."),
        ({"symbol": "ABCDEFGHIJK"}, ids.SYMBOL, "1-10 letters"),
        ({"side": None}, ids.SIDE, "Choose buy or sell."),
        ({"amount": None}, ids.AMOUNT, "Enter how many shares (or dollars) to trade."),
        ({"amount": "ten"}, ids.AMOUNT, "Enter the amount as a number, e.g. 10 or 0.5."),
        ({"amount": "0"}, ids.AMOUNT, "The quantity must be more than zero."),
        ({"amount": "-5"}, ids.AMOUNT, "The quantity must be more than zero."),
        ({"amount": "NaN"}, ids.AMOUNT, "Enter the amount as a number"),
        ({"amount": "0.1234567891"}, ids.AMOUNT, "Use at most 9 decimals for the quantity."),
        ({"amount": "2000000"}, ids.AMOUNT, "at most 1,000,000 shares"),
        (
            {"amount_kind": "notional", "amount": "10.123"},
            ids.AMOUNT,
            "Use whole cents for a dollar amount (at most 2 decimals).",
        ),
        ({"amount_kind": "notional", "amount": "0.5"}, ids.AMOUNT, "at least $1"),
        (
            {"amount_kind": "notional", "order_type": "limit", "limit_price": "10"},
            ids.ORDER_TYPE,
            "Dollar amounts work with market orders only.",
        ),
        (
            {"amount_kind": "notional", "time_in_force": "gtc"},
            ids.TIME_IN_FORCE,
            "Dollar-amount orders must be day orders.",
        ),
        ({"order_type": "limit"}, ids.LIMIT_PRICE, "A limit order needs a limit price."),
        ({"order_type": "stop"}, ids.STOP_PRICE, "A stop order needs a stop price."),
        (
            {"order_type": "stop_limit", "stop_price": "10"},
            ids.LIMIT_PRICE,
            "A stop-limit order needs a limit price.",
        ),
        (
            {"order_type": "stop_limit", "limit_price": "10"},
            ids.STOP_PRICE,
            "A stop-limit order needs a stop price.",
        ),
        ({"limit_price": "10"}, ids.LIMIT_PRICE, "Leave the limit price empty for a market order."),
        ({"stop_price": "10"}, ids.STOP_PRICE, "Leave the stop price empty for a market order."),
        (
            {"order_type": "limit", "limit_price": "abc"},
            ids.LIMIT_PRICE,
            "Enter the limit price as a number, e.g. 150.25.",
        ),
        (
            {"order_type": "limit", "limit_price": "-1"},
            ids.LIMIT_PRICE,
            "The limit price must be more than zero.",
        ),
        (
            {"order_type": "limit", "limit_price": "150.123"},
            ids.LIMIT_PRICE,
            "Use at most 2 decimals for a limit price of $1 or more.",
        ),
        (
            {"order_type": "limit", "limit_price": "0.12345"},
            ids.LIMIT_PRICE,
            "Use at most 4 decimals for a limit price below $1.",
        ),
        (
            {"amount": "0.5", "time_in_force": "gtc"},
            ids.TIME_IN_FORCE,
            "Fractional-share orders must be day orders.",
        ),
        (
            {"amount": "0.5", "order_type": "stop", "stop_price": "10"},
            ids.ORDER_TYPE,
            "Fractional shares need a market or limit order.",
        ),
        ({"extended_hours": "yes"}, ids.EXTENDED_HOURS, "Extended hours needs a day limit order."),
        (
            {"time_in_force": "opg", "order_type": "stop", "stop_price": "10"},
            ids.TIME_IN_FORCE,
            "OPG orders must be market or limit orders.",
        ),
        ({"take_profit": "200"}, ids.STOP_LOSS, "A bracket needs a stop-loss price too."),
        ({"stop_loss": "170"}, ids.TAKE_PROFIT, "A bracket needs a take-profit price too."),
        (
            {"take_profit": "170", "stop_loss": "200"},
            ids.TAKE_PROFIT,
            "For a buy, take profit must be above the stop loss.",
        ),
        (
            {"side": "sell", "take_profit": "200", "stop_loss": "170"},
            ids.TAKE_PROFIT,
            "For a sell, take profit must be below the stop loss.",
        ),
        (
            {"order_type": "limit", "limit_price": "250", "take_profit": "200", "stop_loss": "170"},
            ids.LIMIT_PRICE,
            "For a buy bracket the limit price must be between stop loss and take profit.",
        ),
        (
            {"amount": "1.5", "take_profit": "200", "stop_loss": "170"},
            ids.AMOUNT,
            "Bracket orders need a whole number of shares.",
        ),
        (
            {"take_profit": "200", "stop_loss": "170", "time_in_force": "ioc"},
            ids.TIME_IN_FORCE,
            "Bracket orders must be day or GTC.",
        ),
        ({"reason": "x" * 501}, ids.REASON, "Keep the reason within 500 characters."),
    ],
)
def test_bad_inputs_point_at_the_field(
    fields: dict[str, str | None], block_id: str, message: str
) -> None:
    errors = forms.parse_trade_form(trade_values(**fields))
    assert isinstance(errors, dict), errors
    assert block_id in errors, errors
    assert message in errors[block_id]


def test_several_errors_at_once_and_slack_limits() -> None:
    errors = forms.parse_trade_form(trade_values(symbol="1", amount="x", portfolio=None))
    assert isinstance(errors, dict)
    assert set(errors) == {ids.SYMBOL, ids.AMOUNT, ids.PORTFOLIO}
    assert all(len(message) < 150 for message in errors.values())


def test_empty_submission_does_not_crash() -> None:
    errors = forms.parse_trade_form({})
    assert isinstance(errors, dict)
    assert {ids.PORTFOLIO, ids.SYMBOL, ids.SIDE, ids.AMOUNT} <= set(errors)


# ---------------------------------------------------------------- OMS body


def test_to_oms_body_bracket_limit() -> None:
    draft = forms.parse_trade_form(
        trade_values(
            order_type="limit",
            limit_price="180",
            take_profit="200",
            stop_loss="170",
            reason="earnings",
        )
    )
    assert isinstance(draft, TradeDraft)
    assert draft.to_oms_body("slack:U1") == {
        "portfolio": "main",
        "symbol": "AAPL",
        "side": "buy",
        "qty": "10",
        "order_type": "limit",
        "limit_price": "180",
        "time_in_force": "day",
        "take_profit": {"limit_price": "200"},
        "stop_loss": {"stop_price": "170"},
        "extended_hours": False,
        "reason": "earnings",
        "requested_by": "slack:U1",
    }


def test_to_oms_body_notional() -> None:
    draft = forms.parse_trade_form(trade_values(amount_kind="notional", amount="500"))
    assert isinstance(draft, TradeDraft)
    body = draft.to_oms_body("slack:U1")
    assert body["notional"] == "500" and "qty" not in body
    assert "take_profit" not in body and "limit_price" not in body


# ---------------------------------------------------------------- sell form

POSITIONS = [
    {"symbol": "AAPL", "qty": "10", "portfolio": "main"},
    {"symbol": "MSFT", "qty": "2.5", "portfolio": None},
]


def sell_values(position: dict[str, Any] | None, **fields: str | None) -> dict[str, Any]:
    chosen = {"qty": None, "order_type": "market", "time_in_force": "day"}
    chosen.update(fields)
    values: dict[str, Any] = {
        "position": {
            "position": select(
                forms.position_option_value(
                    position["symbol"], position["qty"], position["portfolio"]
                )
                if position
                else None
            )
        },
        "qty": {"qty": text(chosen["qty"])},
        "order_type": {"order_type": select(chosen["order_type"])},
        "time_in_force": {"time_in_force": select(chosen["time_in_force"])},
        "reason": {"reason": text(fields.get("reason"))},
    }
    for price in ("limit_price", "stop_price"):
        values[price] = {price: text(fields.get(price))}
    return values


def test_sell_defaults_to_the_whole_position() -> None:
    draft = forms.parse_sell_form(sell_values(POSITIONS[0]), POSITIONS)
    assert isinstance(draft, TradeDraft)
    assert (draft.side, draft.symbol, draft.qty, draft.portfolio) == (
        "sell",
        "AAPL",
        Decimal("10"),
        "main",
    )


def test_sell_part_with_limit() -> None:
    draft = forms.parse_sell_form(
        sell_values(POSITIONS[0], qty="4", order_type="limit", limit_price="190"), POSITIONS
    )
    assert isinstance(draft, TradeDraft)
    assert (draft.qty, draft.limit_price) == (Decimal("4"), Decimal("190"))


@pytest.mark.parametrize(
    ("position", "fields", "block_id", "message"),
    [
        (None, {}, ids.POSITION, "Choose the position to sell."),
        (POSITIONS[0], {"qty": "11"}, ids.QTY, "You hold 10 shares; sell at most that."),
        (POSITIONS[0], {"qty": "0"}, ids.QTY, "The quantity must be more than zero."),
        (POSITIONS[0], {"qty": "abc"}, ids.QTY, "Enter the number of shares as a number"),
        (POSITIONS[0], {"order_type": "limit"}, ids.LIMIT_PRICE, "needs a limit price"),
        (
            {"symbol": "NVDA", "qty": "5", "portfolio": "main"},
            {},
            ids.POSITION,
            "You no longer hold NVDA",
        ),
        (POSITIONS[1], {}, ids.POSITION, "This position has no portfolio"),
        (
            POSITIONS[1],
            {"time_in_force": "gtc"},
            ids.TIME_IN_FORCE,
            "Fractional-share orders must be day orders.",
        ),
    ],
)
def test_sell_bad_inputs(
    position: dict[str, Any] | None, fields: dict[str, str], block_id: str, message: str
) -> None:
    errors = forms.parse_sell_form(sell_values(position, **fields), POSITIONS)
    assert isinstance(errors, dict), errors
    assert message in errors.get(block_id, ""), errors


def test_sell_position_without_portfolio_uses_the_default() -> None:
    draft = forms.parse_sell_form(sell_values(POSITIONS[1]), POSITIONS, default_portfolio="main")
    assert isinstance(draft, TradeDraft)
    assert (draft.portfolio, draft.qty) == ("main", Decimal("2.5"))


def test_sell_checks_the_current_position_not_the_stale_option() -> None:
    stale = {"symbol": "AAPL", "qty": "50", "portfolio": "main"}
    errors = forms.parse_sell_form(sell_values(stale, qty="20"), POSITIONS)
    assert errors == {ids.QTY: "You hold 10 shares; sell at most that."}


# ---------------------------------------------------------------- metadata


ISSUED_AT = 1_795_000_000  # a confirmation's shown-at time (epoch seconds)


def _draft() -> TradeDraft:
    draft = forms.parse_trade_form(trade_values(reason='quotes " and \\ and émoji 🚀' * 15))
    assert isinstance(draft, TradeDraft)
    return draft


def test_metadata_round_trip_and_size() -> None:
    token = forms.new_token()
    draft = _draft()
    encoded = forms.encode_metadata(token, draft, "C1", "U1", "trade", issued_at=ISSUED_AT)
    assert len(encoded) < 3000
    decoded = forms.decode_metadata(encoded)
    assert decoded == forms.ConfirmMetadata(token, draft, "C1", "U1", "trade", ISSUED_AT)


def test_worst_case_metadata_fits() -> None:
    draft = forms.parse_trade_form(trade_values(reason='"\\' * 250, portfolio="p" * 40))
    assert isinstance(draft, TradeDraft)
    encoded = forms.encode_metadata(
        forms.new_token(), draft, "C" * 20, "U" * 20, "trade", issued_at=9_999_999_999
    )
    assert len(encoded) < 3000


def _tampered(change: Any) -> str:
    data = json.loads(
        forms.encode_metadata(forms.new_token(), _draft(), "C1", "U1", "trade", issued_at=ISSUED_AT)
    )
    change(data)
    return json.dumps(data)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not json",
        "[]",
        _tampered(lambda d: d.update(token="abc")),
        _tampered(lambda d: d.update(flow="withdraw")),
        _tampered(lambda d: d.update(extra=1)),
        _tampered(lambda d: d["draft"].update(qty="-5")),
        _tampered(lambda d: d["draft"].update(qty="lots")),
        _tampered(lambda d: d["draft"].update(qty=5)),
        _tampered(lambda d: d["draft"].update(order_type="limit")),
        _tampered(lambda d: d["draft"].pop("reason")),
        _tampered(lambda d: d.update(channel_id=None)),
        _tampered(lambda d: d.update(flow="sell")),  # a "sell" flow must sell
        _tampered(lambda d: d.pop("issued_at")),  # shown before confirmations expired
        _tampered(lambda d: d.update(issued_at="1700000000")),
        _tampered(lambda d: d.update(issued_at=True)),
        _tampered(lambda d: d.update(issued_at=-1)),
    ],
)
def test_decode_metadata_rejects_tampering(bad: str) -> None:
    with pytest.raises(ValueError):
        forms.decode_metadata(bad)


def test_encode_metadata_rejects_unknown_flow() -> None:
    with pytest.raises(ValueError):
        forms.encode_metadata(
            forms.new_token(), _draft(), "C1", "U1", "deposit", issued_at=ISSUED_AT
        )


# ---------------------------------------------------------------- /trade text


@pytest.mark.parametrize(
    ("text", "prefill", "problems"),
    [
        ("", {}, 0),
        ("AAPL buy 10", {"symbol": "AAPL", "side": "buy", "qty": "10"}, 0),
        ("10 SELL msft", {"symbol": "MSFT", "side": "sell", "qty": "10"}, 0),
        ("brk.b buy 0.5", {"symbol": "BRK.B", "side": "buy", "qty": "0.5"}, 0),
        ("aapl $500", {"symbol": "AAPL", "notional": "500"}, 0),
        ("aapl buy 10 please!", {"symbol": "AAPL", "side": "buy", "qty": "10"}, 1),
        ("aapl msft", {"symbol": "AAPL"}, 1),
        ("aapl -5", {"symbol": "AAPL"}, 1),
        ("aapl 10 $500", {"symbol": "AAPL", "qty": "10"}, 1),
    ],
)
def test_parse_trade_text(text: str, prefill: dict[str, str], problems: int) -> None:
    got_prefill, got_problems = forms.parse_trade_text(text)
    assert got_prefill == prefill
    assert len(got_problems) == problems, got_problems


def test_parse_trade_text_explains_what_it_ignored() -> None:
    _, problems = forms.parse_trade_text("AAPL buy 10 please!")
    assert problems == ["Ignored 'please!': expected /trade [SYMBOL] [buy|sell] [QTY]."]

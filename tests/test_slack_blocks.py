"""Block Kit builders: every view and message passes slack_sdk's model checks and says the
right thing to the user, including the worst cases (long text, many positions, LIVE mode)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from slack_bot import formatting
from slack_bot.blocks import (
    account,
    common,
    ids,
    market,
    orders,
    positions,
    results,
    sell_modal,
    trade_modal,
)
from slack_bot.blocks import help as help_blocks
from slack_bot.forms import TradeDraft, decode_metadata, encode_metadata, new_token

CLOSED = {
    "is_open": False,
    "timestamp": "2025-11-22T15:00:00Z",
    "next_open": "2025-11-24T14:30:00Z",
    "next_close": "2025-11-24T21:00:00Z",
}
OPEN = {**CLOSED, "is_open": True}
QUOTE = {
    "symbol": "AAPL",
    "price": "189.12",
    "bid": "189.10",
    "ask": "189.14",
    "timestamp": "2025-11-24T15:00:00Z",
}
LONG_REASON = "<@U123> & <!channel> " + "x" * 2000


def check_view(view: dict[str, Any]) -> str:
    """Validate a view through slack_sdk and return all its visible text."""
    View(**view).to_dict()
    return json.dumps(view, ensure_ascii=False)


def check_message(msg: dict[str, Any]) -> str:
    assert set(msg) == {"text", "blocks"}
    assert msg["text"]
    assert len(msg["blocks"]) <= 50
    for block in msg["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.to_dict()
    return json.dumps(msg, ensure_ascii=False)


def draft(**changes: Any) -> TradeDraft:
    base = dict(
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
        reason=None,
    )
    base.update(changes)
    return TradeDraft(**base)


def trade(**changes: Any) -> dict[str, Any]:
    base = {
        "id": 42,
        "client_order_id": "oms-42-abc",
        "broker_order_id": "b-9f1",
        "portfolio": "main",
        "symbol": "AAPL",
        "side": "buy",
        "qty": "10",
        "notional": None,
        "order_type": "market",
        "time_in_force": "day",
        "limit_price": None,
        "stop_price": None,
        "status": "filled",
        "filled_qty": "10",
        "filled_avg_price": "189.1234",
        "reason": None,
        "created_at": "2025-11-24T14:30:05Z",
        "updated_at": "2025-11-24T14:30:06Z",
        "market_open": True,
        "next_open": "2025-11-25T14:30:00Z",
        "mode": "paper",
    }
    base.update(changes)
    return base


# ---------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1234.56", "$1,234.56"),
        (Decimal("1234.5"), "$1,234.50"),
        ("-12.3", "-$12.30"),
        ("0.1234", "$0.1234"),
        ("0", "$0.00"),
        (None, "—"),
        ("abc", "—"),
        ("1e30", "$1,000,000,000,000,000,000,000,000,000,000.00"),
    ],
)
def test_money(value: object, expected: str) -> None:
    assert formatting.money(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("10", "10"), ("10.000", "10"), ("0.5", "0.5"), ("1000", "1,000"), ("-3", "-3")],
)
def test_qty(value: str, expected: str) -> None:
    assert formatting.qty(value) == expected


def test_pct_pnl_and_time() -> None:
    assert formatting.pct("0.02875") == "+2.9\u00a0%"
    assert formatting.pct("-0.1") == "-10.0\u00a0%"
    assert formatting.pct("0.0004") == "+0.04\u00a0%"  # a small change never reads as zero
    assert formatting.pct("0") == "0.0\u00a0%"
    assert formatting.pnl("12.3", "0.05") == ":chart_with_upwards_trend: +$12.30 (+5.0\u00a0%)"
    assert formatting.pnl("-12.3") == ":chart_with_downwards_trend: -$12.30"
    assert formatting.when("2025-11-24T14:30:00Z") == "Mon 24 Nov 14:30 UTC"
    assert formatting.when("2025-11-24T09:30:00-05:00") == "Mon 24 Nov 14:30 UTC"
    assert formatting.when("not a time") == "—"


def test_times_read_in_each_readers_zone_and_market_hours_in_et() -> None:
    # 1764081000 is 2025-11-25 14:30 UTC: Slack renders it in the reader's zone, and
    # clients that cannot (notifications) show the UTC fallback.
    assert formatting.slack_time("2025-11-25T14:30:00Z") == (
        "<!date^1764081000^{date_short_pretty} {time}|Tue 25 Nov 14:30 UTC>"
    )
    assert formatting.slack_time("2025-11-25T09:30:00-05:00", formatting.DAY_AND_TIME_SECS) == (
        "<!date^1764081000^{date_short_pretty} {time_secs}|Tue 25 Nov 14:30 UTC>"
    )
    assert formatting.slack_time(None) == "—"
    # New York's clock, daylight saving time included.
    assert formatting.market_time("2025-11-25T14:30:00Z") == "Tue 9:30 AM ET"
    assert formatting.market_time("2025-07-01T20:00:00Z") == "Tue 4:00 PM ET"
    line = common.market_line(OPEN)
    assert "closes <!date^1764018000^{date_short_pretty} {time}|Mon 24 Nov 21:00 UTC>" in line
    assert "(Mon 4:00 PM ET)" in line
    closed = common.market_line(CLOSED)
    assert "Next open: *<!date^1763994600^" in closed and "(Mon 9:30 AM ET)" in closed


def test_floats_are_refused_not_guessed() -> None:
    assert formatting.money(0.1) == "—"


# ---------------------------------------------------------------- common


def test_mode_badges() -> None:
    assert "LIVE — real money" in common.mode_badge("live")
    assert ":rotating_light:" in common.mode_badge("LIVE")
    assert "PAPER" in common.mode_badge("paper")
    simulator = common.mode_badge("simulator")
    assert "SIMULATOR" in simulator and "a local simulated broker" in simulator
    assert "no broker" not in simulator


def test_oms_unavailable_messages() -> None:
    trade = check_message(common.oms_unavailable_message())
    assert "OMS unavailable — nothing was sent. Try again in a minute." in trade
    read = check_message(common.oms_unavailable_message(read_only=True))
    assert "OMS unavailable — try again in a minute." in read


@pytest.mark.parametrize(
    ("tone", "emoji"),
    [
        ("success", ":white_check_mark:"),
        ("working", ":hourglass_flowing_sand:"),
        ("warning", ":warning:"),
        ("error", ":x:"),
    ],
)
def test_notices_are_marked_by_their_outcome(tone: str, emoji: str) -> None:
    [block] = common.notice_blocks("Something happened.", tone)
    assert block["text"]["text"] == f"{emoji} Something happened."


def test_user_text_is_escaped_and_truncated_without_half_entities() -> None:
    text = common.user_text("a" * 8 + "&&&&", 12)
    assert len(text) <= 12
    assert text.endswith("…")
    assert "&am…" not in text and "&a…" not in text
    assert common.user_text("<@U1>", 100) == "&lt;@U1&gt;"


def test_page_value_round_trip_and_rejects_junk() -> None:
    value = common.page_value("positions", 2)
    assert common.parse_page_value(value) == {"kind": "positions", "page": 2}
    for junk in ("", "[]", '{"kind":"x","page":-1}', '{"kind":"x","page":true}'):
        with pytest.raises(ValueError):
            common.parse_page_value(junk)


def test_who_placed_an_order() -> None:
    assert common.placed_by({"requested_by": "U123ABC"}) == "<@U123ABC>"
    assert common.placed_by({"requested_by": "risk-script <x>"}) == "risk-script &lt;x&gt;"
    assert common.placed_by({"requested_by": None, "external": True}) == "outside the OMS"


# ---------------------------------------------------------------- trade modal


def test_loading_view_truncates_long_titles() -> None:
    view = trade_modal.loading_view("A title far longer than twenty-four characters")
    check_view(view)
    assert len(view["title"]["text"]) <= 24


def test_trade_form_shows_price_closed_market_and_prefill() -> None:
    view = trade_modal.trade_form_view(
        ["main", "growth"], {"symbol": "AAPL", "side": "sell", "qty": "10"}, QUOTE, CLOSED, "paper"
    )
    text = check_view(view)
    assert view["callback_id"] == ids.TRADE_FORM
    assert "$189.12" in text
    assert "Market closed" in text and "Mon 24 Nov 14:30 UTC" in text
    by_id = {block.get("block_id"): block for block in view["blocks"]}
    for block_id in (
        ids.PORTFOLIO,
        ids.SYMBOL,
        ids.SIDE,
        ids.AMOUNT_KIND,
        ids.AMOUNT,
        ids.ORDER_TYPE,
        ids.LIMIT_PRICE,
        ids.STOP_PRICE,
        ids.TIME_IN_FORCE,
        ids.TAKE_PROFIT,
        ids.STOP_LOSS,
        ids.EXTENDED_HOURS,
        ids.REASON,
    ):
        assert by_id[block_id]["element"]["action_id"] == block_id
    assert by_id[ids.PORTFOLIO]["element"]["initial_option"]["value"] == "main"
    assert by_id[ids.SYMBOL]["element"]["initial_value"] == "AAPL"
    assert by_id[ids.SIDE]["element"]["initial_option"]["value"] == "sell"
    assert by_id[ids.AMOUNT]["element"]["initial_value"] == "10"
    assert by_id[ids.LIMIT_PRICE]["optional"] is True


def test_trade_form_open_market_error_and_no_portfolio() -> None:
    text = check_view(
        trade_modal.trade_form_view(["main"], {}, None, OPEN, "simulator", error="x" * 5000)
    )
    assert "Market open" in text and "SIMULATOR" in text
    empty = trade_modal.trade_form_view([], {}, None, None, "paper")
    assert "No portfolio is available" in check_view(empty)
    assert "submit" not in empty


def test_trade_form_with_dollar_prefill_and_long_portfolio_names() -> None:
    view = trade_modal.trade_form_view(
        ["p" * 200], {"notional": "500", "symbol": "X" * 40}, None, None, "live"
    )
    check_view(view)
    by_id = {block.get("block_id"): block for block in view["blocks"]}
    assert by_id[ids.AMOUNT_KIND]["element"]["initial_option"]["value"] == "notional"
    assert by_id[ids.AMOUNT]["element"]["initial_value"] == "500"


def test_trade_confirm_live_closed_market_and_estimate() -> None:
    limit = draft(order_type="limit", limit_price=Decimal("150"), reason=LONG_REASON[:500])
    metadata = encode_metadata(new_token(), limit, "C1", "U1", "trade", issued_at=1_795_000_000)
    view = trade_modal.trade_confirm_view(limit, QUOTE, CLOSED, "live", metadata)
    text = check_view(view)
    assert view["callback_id"] == ids.TRADE_CONFIRM
    assert view["submit"]["text"] == "Place order"
    assert ":rotating_light: *LIVE — real money*" in text
    assert "LIVE" in view["title"]["text"]
    assert "Buy 10 AAPL limit $150.00?" in text
    assert "Estimated cost: *$1,500.00*" in text
    assert "Market closed" in text and "Mon 24 Nov 14:30 UTC" in text
    assert "&lt;@U123&gt;" in text and "<@U123>" not in text.split("private_metadata")[0]
    assert decode_metadata(view["private_metadata"]).draft == limit


def test_trade_confirm_market_notional_bracket() -> None:
    market_order = draft()
    text = check_view(trade_modal.trade_confirm_view(market_order, QUOTE, OPEN, "paper", "{}"))
    assert "Buy 10 AAPL at market?" in text
    assert "Estimated cost: *$1,891.20*" in text
    dollars = draft(qty=None, notional=Decimal("500"))
    assert "Buy $500.00 of AAPL at market?" in check_view(
        trade_modal.trade_confirm_view(dollars, None, OPEN, "paper", "{}")
    )
    bracket = draft(take_profit=Decimal("210"), stop_loss=Decimal("170"), time_in_force="gtc")
    text = check_view(trade_modal.trade_confirm_view(bracket, None, OPEN, "paper", "{}"))
    assert "take profit $210.00, stop loss $170.00" in text
    assert "unknown (no latest price)" in text


def test_huge_numbers_still_fit() -> None:
    huge = draft(qty=Decimal("999999.123456789"), order_type="limit", limit_price=Decimal("999999"))
    text = check_view(trade_modal.trade_confirm_view(huge, QUOTE, OPEN, "paper", "{}"))
    assert "$999,998,123,457.67" in text


# ---------------------------------------------------------------- sell modal

POSITIONS = [
    {"symbol": "AAPL", "qty": "10", "side": "long", "portfolio": "main"},
    {"symbol": "MSFT", "qty": "2.5", "side": "long", "portfolio": None},
    {"symbol": "TSLA", "qty": "-3", "side": "short", "portfolio": "main"},
]


def test_sell_form_lists_long_positions_and_defaults_to_whole_position() -> None:
    selected = {"symbol": "AAPL", "qty": "10", "portfolio": "main"}
    view = sell_modal.sell_form_view(POSITIONS, selected, "paper", CLOSED)
    text = check_view(view)
    assert view["callback_id"] == ids.SELL_FORM
    by_id = {block.get("block_id"): block for block in view["blocks"]}
    options = by_id[ids.POSITION]["element"]["options"]
    assert [o["text"]["text"] for o in options] == ["AAPL — 10 sh (main)", "MSFT — 2.5 sh"]
    assert json.loads(options[0]["value"]) == {"symbol": "AAPL", "qty": "10", "portfolio": "main"}
    assert by_id[ids.POSITION]["element"]["initial_option"]["value"] == options[0]["value"]
    assert by_id[ids.QTY]["element"]["initial_value"] == "10"
    assert "Market closed" in text


def test_sell_form_without_positions_has_no_submit() -> None:
    view = sell_modal.sell_form_view([POSITIONS[2]], None, "paper", OPEN)
    assert "no positions to sell" in check_view(view)
    assert "submit" not in view


def test_sell_form_many_and_long_positions() -> None:
    many = [
        {"symbol": f"S{i}", "qty": "123456.123456789", "portfolio": "p" * 60} for i in range(150)
    ]
    view = sell_modal.sell_form_view(many, None, "paper", None)
    check_view(view)
    options = next(b for b in view["blocks"] if b.get("block_id") == ids.POSITION)["element"]
    assert len(options["options"]) == 100


def test_sell_confirm() -> None:
    sell = draft(side="sell", qty=Decimal("4"))
    view = sell_modal.sell_confirm_view(sell, Decimal("10"), QUOTE, "live", "{}", CLOSED)
    text = check_view(view)
    assert view["callback_id"] == ids.SELL_CONFIRM
    assert "Sell 4 AAPL at market?" in text
    assert "6 remain" in text
    assert "Estimated proceeds: *$756.48*" in text
    assert "LIVE — real money" in text
    assert "Market closed" in text
    whole = sell_modal.sell_confirm_view(draft(side="sell"), Decimal("10"), None, "paper", "{}")
    assert "Sells the whole position (10 shares)" in check_view(whole)


# ---------------------------------------------------------------- messages


def test_trade_result_message() -> None:
    filled = trade(filled_at="2025-11-24T14:30:06Z")
    text = check_message(results.trade_result_message(filled, "U123", "paper"))
    for expected in (
        "#42",
        "oms-42-abc",
        "b-9f1",
        ":white_check_mark: filled",
        "10 @ $189.12",
        "*Value*\\n$1,891.23",  # 10 x 189.1234, what the desk's books record
        "*Filled at*\\n<!date^1763994606^{date_short_pretty} {time_secs}|Mon 24 Nov 14:30 UTC>",
        "<@U123>",
        "PAPER",
        "Market open",
    ):
        assert expected in text
    # Without the trade's own time, the latest fill's; nothing filled says so.
    fills = [{"filled_at": "2025-11-24T14:30:01Z"}, {"filled_at": "2025-11-24T14:31:00Z"}]
    text = check_message(results.trade_result_message(trade(fills=fills), "U1", "paper"))
    assert "<!date^1763994660^" in text
    pending = trade(status="accepted", filled_qty="0", filled_avg_price=None)
    text = check_message(results.trade_result_message(pending, "U1", "paper"))
    assert "nothing filled yet" in text and "not filled yet" in text


def test_a_trade_result_never_shows_the_oms_internal_error_text() -> None:
    unsent = trade(
        status="not_sent",
        filled_qty="0",
        error_message="broker unavailable — nothing was sent (ConnectError: [Errno 111])",
    )
    text = check_message(results.trade_result_message(unsent, "U1", "paper"))
    assert "never reached the broker" in text and "Errno" not in text
    rejected = trade(status="rejected", filled_qty="0", error_message="insufficient buying power")
    assert "insufficient buying power" in check_message(
        results.trade_result_message(rejected, "U1", "paper")
    )


@pytest.mark.parametrize(
    ("changes", "tone", "words"),
    [
        ({}, "success", "Buy 10 AAPL at market: filled 10 @ $189.12 ($1,891.23). Order #42."),
        ({"status": "accepted", "filled_qty": "0"}, "working", "accepted — working at the broker"),
        ({"status": "rejected", "filled_qty": "0"}, "error", "Buy 10 AAPL at market: rejected."),
        ({"status": "unknown", "filled_qty": "0"}, "warning", "Do not place it again"),
        ({"status": "canceled", "filled_qty": "0"}, "info", "canceled. Order #42."),
    ],
)
def test_the_modal_notice_after_placing_matches_the_outcome(
    changes: dict[str, Any], tone: str, words: str
) -> None:
    got_tone, sentence = results.placement_notice(trade(**changes))
    assert got_tone == tone and words in sentence


def test_trade_result_pending_closed_market_and_long_reason() -> None:
    pending = trade(
        status="accepted",
        filled_qty="0",
        filled_avg_price=None,
        market_open=False,
        reason=LONG_REASON,
        order_type="limit",
        limit_price="150",
    )
    text = check_message(results.trade_result_message(pending, "U9", "live"))
    assert "Market closed" in text and "Tue 25 Nov 14:30 UTC" in text
    assert "nothing yet" in text
    assert "LIVE — real money" in text
    assert "Buy 10 AAPL limit $150.00" in text


def test_trade_error_message() -> None:
    msg = results.trade_error_message(
        "Insufficient buying power.", trade(status="rejected", filled_qty="0")
    )
    text = check_message(msg)
    assert msg["text"] == "Insufficient buying power."
    assert ":x: Insufficient buying power." in text
    assert "#42" in text and "rejected" in text
    check_message(results.trade_error_message("x" * 5000))


def _position(i: int, value: str = "1100", **changes: Any) -> dict[str, Any]:
    base = {
        "symbol": f"SYM{i}",
        "qty": "10",
        "side": "long",
        "avg_entry_price": "100",
        "current_price": "110",
        "market_value": value,
        "cost_basis": "1000",
        "unrealized_pl": "100",
        "unrealized_plpc": "0.1",
        "realized_pl": "0",
        "broker_qty": "10",
    }
    base.update(changes)
    return base


def _book(
    portfolios: dict[str, list[dict[str, Any]]],
    outside: Any = (),
    totals: dict[str, dict[str, Any]] | None = None,
    **changes: Any,
):
    """The OMS's /positions/by-portfolio; `totals`: a portfolio's own figures (the OMS's
    sums), by name."""
    book = {
        "portfolios": [
            {
                "name": name,
                "status": "active",
                "allocated_capital": "10000",
                "market_value": "0",
                "cost_basis": "0",
                "unrealized_pl": "0",
                "unrealized_plpc": None,
                "realized_pl": "12.5",
                "positions": positions,
                **(totals or {}).get(name, {}),
            }
            for name, positions in portfolios.items()
        ],
        "outside_portfolios": list(outside),
        "broker_positions_available": True,
        "warnings": [],
        "as_of": "2025-11-24T15:00:00Z",
    }
    book.update(changes)
    return book


MAIN_TOTALS = {
    "main": {
        "market_value": "1100",
        "cost_basis": "1000",
        "unrealized_pl": "100",
        "unrealized_plpc": "0.1",
    }
}


def test_positions_message_shows_values_pnl_and_sell_buttons() -> None:
    msg = positions.positions_message(_book({"main": [_position(1)]}, totals=MAIN_TOTALS), "paper")
    text = check_message(msg)
    assert "*SYM1* — 10 sh @ avg $100.00 · price $110.00" in text
    assert "Value $1,100.00 · unrealized :chart_with_upwards_trend: +$100.00 (+10.0\u00a0%)" in text
    assert (
        "*main* · value $1,100.00 · unrealized :chart_with_upwards_trend: +$100.00 (+10.0\u00a0%)"
        " · realized +$12.50"
    ) in text
    [button] = [b["accessory"] for b in msg["blocks"] if "accessory" in b]
    assert button["action_id"] == ids.POSITION_SELL
    assert json.loads(button["value"]) == {"symbol": "SYM1", "qty": "10", "portfolio": "main"}


def test_positions_are_grouped_by_portfolio_largest_first_then_outside() -> None:
    book = _book(
        {
            "alpha": [_position(1, "500"), _position(2, "-9000", side="short", qty="-10")],
            "beta": [_position(3, None, current_price=None, unrealized_pl=None), _position(4)],
        },
        outside=[_position(5, "50"), _position(6, "7000")],
    )
    msg = positions.positions_message(book, "paper")
    text = check_message(msg)
    order = [text.index(f"*SYM{i}*") for i in (2, 1, 4, 3, 6, 5)]
    assert order == sorted(order)  # by absolute value, unknown last, outside group at the end
    assert text.index("*alpha*") < text.index("*beta*") < text.index("*Unmanaged* · 2 positions")
    assert "1 without a price" in text and "price unknown" in text
    sells = [json.loads(b["accessory"]["value"]) for b in msg["blocks"] if "accessory" in b]
    # No Sell on a short (bought back) nor on what no portfolio owns.
    assert [(v["symbol"], v["portfolio"]) for v in sells] == [
        ("SYM1", "alpha"),
        ("SYM4", "beta"),
        ("SYM3", "beta"),
    ]


def test_positions_message_paginates_and_carries_only_the_page() -> None:
    book = _book(
        {"a": [_position(i) for i in range(50)], "b": [_position(i) for i in range(50, 60)]}
    )
    first = positions.positions_message(book, "paper")
    text = check_message(first)
    assert "Page 1 of 4" in text and "Positions (60)" in text
    actions = first["blocks"][-1]["elements"]
    assert [a["action_id"] for a in actions] == [ids.PAGE_NEXT]
    assert common.parse_page_value(actions[0]["value"]) == {"kind": "positions", "page": 1}
    last = positions.positions_message(book, "paper", page=3)
    text = check_message(last)
    assert "Page 4 of 4" in text and "*a* (continued)" in text and "*b* ·" in text
    assert [a["action_id"] for a in last["blocks"][-1]["elements"]] == [ids.PAGE_PREV]


def test_positions_without_prices_say_so_and_empty() -> None:
    unpriced = _position(1, None, current_price=None, unrealized_pl=None, unrealized_plpc=None)
    book = _book({"main": [unpriced]}, broker_positions_available=False, warnings=["internal"])
    text = check_message(positions.positions_message(book, "paper"))
    assert "Prices are unavailable" in text and "value unknown" in text
    assert "internal" not in text  # the OMS's warnings go to the log
    assert "No open positions" in check_message(positions.positions_message(_book({}), "paper"))


def test_positions_figures_are_the_oms_own_never_added_up_by_the_bot() -> None:
    # The OMS's totals differ from the rows' sum (e.g. it counts something the rows do not):
    # the bot shows the OMS's, so /positions always matches the API.
    totals = {
        "main": {
            "market_value": "2345.67",
            "unrealized_pl": "-12.34",
            "unrealized_plpc": "-0.0052",
            "realized_pl": "-7.5",
        }
    }
    book = _book(
        {"main": [_position(1), _position(2, "50.004")]},
        outside=[_position(3, "1234.5", qty="3", unrealized_pl="-4.5", unrealized_plpc="-0.01")],
        totals=totals,
    )
    text = check_message(positions.positions_message(book, "paper"))
    assert (
        "*main* · value $2,345.67 · unrealized :chart_with_downwards_trend: -$12.34 "
        "(-0.5\u00a0%) · realized -$7.50"
    ) in text
    assert "Value $50.00 · unrealized" in text  # a row: the OMS's value, rounded for people
    assert "*SYM3* — 3 sh" in text and "Value $1,234.50" in text
    assert "unrealized :chart_with_downwards_trend: -$4.50 (-1.0\u00a0%)" in text
    for made_up in ("$2,200", "$1,150", "$3,584", "Total "):
        assert made_up not in text


def test_unmanaged_positions_are_labelled_and_only_admins_may_sell_them() -> None:
    book = _book({"main": [_position(1)]}, outside=[_position(5, "330", qty="3")])
    trader = positions.positions_message(book, "paper")
    text = check_message(trader)
    assert "*Unmanaged* · 1 position\\n_Held at the broker beyond every portfolio" in text
    assert trader["text"] == "2 open positions, 1 unmanaged"
    assert "Close unmanaged" not in text
    admin = positions.positions_message(book, "paper", admin=True)
    [close] = [
        element
        for block in admin["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == ids.POSITION_CLOSE_ACCOUNT
    ]
    assert json.loads(close["value"]) == {"symbol": "SYM5", "qty": "3", "portfolio": None}
    assert close["style"] == "danger" and "confirm" in close


ACCOUNT = {
    "account_number": "PA123456789",
    "status": "ACTIVE",
    "currency": "USD",
    "equity": "100000.5",
    "cash": "25000",
    "buying_power": "50000",
    "portfolio_value": "100000.5",
    "mode": "paper",
    "allocated_capital": "30000",
    "available_capital": "20000",
    "total_realized_pnl": "1234.5",
    "daily_pnl": "-250.75",
}


def _field(msg: dict[str, Any], name: str) -> str:
    """What a section field shows under its bold `name`."""
    for block in msg["blocks"]:
        for field in block.get("fields") or []:
            title, _, value = field["text"].partition("\n")
            if title == f"*{name}*":
                return value
    raise AssertionError(f"no field {name!r}")


def test_account_message() -> None:
    msg = account.account_message(ACCOUNT, "paper")
    text = check_message(msg)
    assert _field(msg, "Equity") == "$100,000.50" and _field(msg, "Buying power") == "$50,000.00"
    assert "••••6789" in text and "PA123456789" not in text
    assert _field(msg, "Allocated capital") == "$30,000.00"
    assert _field(msg, "Available capital") == ":large_green_circle: $20,000.00"
    assert _field(msg, "Total realized P&L") == "+$1,234.50"
    assert _field(msg, "Today's P&L") == ":chart_with_downwards_trend: -$250.75"
    assert "20\u00a0% of buying power free" in text  # what the markers mean


@pytest.mark.parametrize(
    ("available", "marker"),
    [
        ("10000.01", ":large_green_circle: $10,000.01"),  # just over 20 % of $50,000
        ("10000", ":large_yellow_circle: $10,000.00"),
        ("0", ":large_yellow_circle: $0.00"),
        ("-0.01", ":red_circle: -$0.01"),
    ],
)
def test_available_capital_is_marked_by_how_much_buying_power_is_left(
    available: str, marker: str
) -> None:
    msg = account.account_message({**ACCOUNT, "available_capital": available}, "")
    check_message(msg)
    assert _field(msg, "Available capital") == marker


def test_an_oms_without_the_capital_figures_still_gives_the_account() -> None:
    older = {key: ACCOUNT[key] for key in ("equity", "cash", "buying_power", "portfolio_value")}
    msg = account.account_message({**older, "daily_pnl": None}, "paper")
    check_message(msg)
    assert _field(msg, "Equity") == "$100,000.50"
    for name in ("Allocated capital", "Available capital", "Total realized P&L", "Today's P&L"):
        assert _field(msg, name) == "—"


def test_orders_message_cancel_only_on_working_orders() -> None:
    trades = [
        trade(id=1, status="accepted", filled_qty="0"),
        trade(id=2, status="filled"),
        trade(id=3, status="partially_filled", filled_qty="4"),
        trade(id=4, status="pending_cancel"),
        trade(id=5, status="canceled"),
    ]
    msg = orders.orders_message(trades, orders.OrdersPage())
    text = check_message(msg)
    assert "Recent orders" in text and "filled 4 @ $189.12 = $756.49" in text
    buttons = {
        block["accessory"]["value"]: block["accessory"]
        for block in msg["blocks"]
        if "accessory" in block
    }
    assert set(buttons) == {"1", "3"}
    assert buttons["1"]["style"] == "danger"
    assert buttons["1"]["action_id"] == ids.ORDER_CANCEL
    assert "Cancel order #1" in buttons["1"]["confirm"]["text"]["text"]


def test_an_order_line_says_which_portfolio_and_who_placed_it() -> None:
    mine = trade(portfolio="growth", requested_by="U123ABC")
    text = check_message(orders.orders_message([mine], orders.OrdersPage()))
    assert "_growth_ · by <@U123ABC> · filled 10 @ $189.12 = $1,891.23" in text
    assert "<!date^1763994605^{date_short_pretty} {time}|Mon 24 Nov 14:30 UTC>" in text


def test_orders_pages_carry_the_oms_cursor_forward_and_back() -> None:
    page0 = orders.OrdersPage(open_only=True, symbol="AAPL")
    first = orders.orders_message([trade(id=i) for i in range(15)], page0, next_cursor="c1")
    check_message(first)
    [following] = first["blocks"][-1]["elements"]
    page1 = orders.OrdersPage.from_value(following["value"])
    assert page1 == orders.OrdersPage(True, "AAPL", 1, "c1", (None,))
    assert page1.oms_filters() == {"cursor": "c1", "open": True, "symbol": "AAPL"}
    second = orders.orders_message([trade(id=i) for i in range(15)], page1, next_cursor="c2")
    text = check_message(second)
    assert "Page 2 · orders 16 to 30" in text and "Open AAPL orders" in text
    back, forward = second["blocks"][-1]["elements"]
    assert orders.OrdersPage.from_value(back["value"]) == page0
    assert orders.OrdersPage.from_value(forward["value"]).back == (None, "c1")
    last = orders.orders_message([trade(id=1)], orders.OrdersPage.from_value(forward["value"]))
    assert [b["action_id"] for b in last["blocks"][-1]["elements"]] == [ids.PAGE_PREV]
    assert "No working orders" in check_message(orders.orders_message([], page0))


def test_orders_page_values_stay_within_slacks_limit_however_deep() -> None:
    where = orders.OrdersPage(cursor=None)
    for i in range(400):
        where = orders.OrdersPage.from_value(where.following(f"cursor-{i:06d}").to_value())
    value = where.following("next").to_value()
    assert len(value) <= common.BUTTON_VALUE_LIMIT
    assert where.page == 400 and 0 < len(where.back) < 400
    # Back as far as the value remembers, then to the newest page.
    for _ in range(len(where.back)):
        where = where.previous()
    assert where.previous() == orders.OrdersPage()
    for junk in (
        "",
        "{}",
        '{"kind":"orders","page":1,"open":false,"symbol":null,"cursor":null,"back":[null,null]}',
    ):
        with pytest.raises(ValueError):
            orders.OrdersPage.from_value(junk)


def test_quote_and_market_messages() -> None:
    text = check_message(market.quote_message(QUOTE, CLOSED))
    assert "*AAPL* latest price *$189.12*" in text and "Market closed" in text
    text = check_message(market.market_message(CLOSED))
    assert "Next open: <!date^1763994600^{date_short_pretty} {time}|Mon 24 Nov 14:30 UTC>" in text
    assert "(Mon 9:30 AM ET)" in text and "(Mon 4:00 PM ET)" in text
    assert "Market open" in check_message(market.market_message(OPEN))


def test_help_lists_every_command() -> None:
    text = check_message(help_blocks.help_message())
    for command in ("/trade", "/sell", "/positions", "/account", "/orders", "/quote", "/market"):
        assert command in text
    assert "/trade AAPL buy 10" in text


# ----------------------------------------------------------------------------- expiry, first run
def _initials(view: dict[str, Any]) -> dict[str, Any]:
    """{block_id: what the field shows} for the input blocks of a view."""
    shown: dict[str, Any] = {}
    for block in view["blocks"]:
        element = block.get("element") or {}
        if "initial_option" in element:
            shown[block["block_id"]] = element["initial_option"]["value"]
        elif "initial_options" in element:
            shown[block["block_id"]] = [o["value"] for o in element["initial_options"]]
        elif "initial_value" in element:
            shown[block["block_id"]] = element["initial_value"]
    return shown


def test_confirmations_expire_the_form_shown_again_holds_every_field_of_the_draft() -> None:
    from slack_bot.forms import prefill_from_draft

    bracket = draft(
        portfolio="growth",
        order_type="limit",
        time_in_force="gtc",
        limit_price=Decimal("150.00"),
        take_profit=Decimal("200"),
        stop_loss=Decimal("140.5"),
        reason="earnings <soon>",
    )
    warning = trade_modal.expired_confirmation_text(300)
    view = trade_modal.trade_form_view(
        ["main", "growth"], prefill_from_draft(bracket), QUOTE, OPEN, "paper", error=warning
    )
    text = check_view(view)
    assert "expired" in text and "5 minutes" in text and "Nothing was sent" in text
    assert _initials(view) == {
        ids.PORTFOLIO: "growth",
        ids.SYMBOL: "AAPL",
        ids.SIDE: "buy",
        ids.AMOUNT_KIND: "qty",
        ids.AMOUNT: "10",
        ids.ORDER_TYPE: "limit",
        ids.LIMIT_PRICE: "150",
        ids.TIME_IN_FORCE: "gtc",
        ids.TAKE_PROFIT: "200",
        ids.STOP_LOSS: "140.5",
        ids.REASON: "earnings <soon>",
    }
    hours = draft(order_type="limit", limit_price=Decimal("1.2345"), extended_hours=True)
    view = trade_modal.trade_form_view(["main"], prefill_from_draft(hours), None, None, "paper")
    check_view(view)
    assert _initials(view)[ids.EXTENDED_HOURS] == ["true"]
    assert _initials(view)[ids.LIMIT_PRICE] == "1.2345"
    dollars = draft(qty=None, notional=Decimal("500.50"))
    view = trade_modal.trade_form_view(["main"], prefill_from_draft(dollars), None, None, "paper")
    check_view(view)
    assert _initials(view)[ids.AMOUNT_KIND] == "notional"
    assert _initials(view)[ids.AMOUNT] == "500.5"


def test_confirmations_expire_the_sell_form_shown_again_keeps_the_order() -> None:
    view = sell_modal.sell_form_view(
        [
            {"symbol": "AAPL", "qty": "10", "portfolio": "main"},
            {"symbol": "MSFT", "qty": "3", "portfolio": "main"},
        ],
        {"symbol": "AAPL", "portfolio": "main"},
        "paper",
        OPEN,
        prefill={"qty": "4", "order_type": "stop", "stop_price": "150", "time_in_force": "gtc"},
        error=trade_modal.expired_confirmation_text(300),
    )
    text = check_view(view)
    assert "expired" in text
    shown = _initials(view)
    assert json.loads(shown[ids.POSITION])["symbol"] == "AAPL"
    assert shown[ids.QTY] == "4"
    assert shown[ids.ORDER_TYPE] == "stop" and shown[ids.STOP_PRICE] == "150"
    assert shown[ids.TIME_IN_FORCE] == "gtc"


def test_confirmations_expire_the_confirmation_says_how_long_it_is_valid() -> None:
    order = draft()
    meta = encode_metadata(new_token(), order, "C1", "U1", "trade", issued_at=1_795_000_000)
    view = trade_modal.trade_confirm_view(order, QUOTE, OPEN, "paper", meta, valid_for_seconds=90)
    assert "after 90 seconds this confirmation expires" in check_view(view)
    view = sell_modal.sell_confirm_view(
        draft(side="sell"), Decimal("10"), QUOTE, "paper", meta, valid_for_seconds=3600
    )
    assert "after 1 hour this confirmation expires" in check_view(view)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(1, "1 second"), (90, "90 seconds"), (60, "1 minute"), (300, "5 minutes"), (7200, "2 hours")],
)
def test_confirmations_expire_durations_read_naturally(seconds: int, words: str) -> None:
    assert formatting.duration(seconds) == words


def test_new_user_can_trade_at_once_no_portfolio_view_gives_the_exact_command() -> None:
    view = trade_modal.no_portfolio_view("http://oms.internal:8000", [])
    text = view["blocks"][0]["text"]["text"]
    check_view(view)
    assert "no portfolio" in text
    assert (
        "```curl -s -X POST http://oms.internal:8000/api/v1/portfolios "
        "-H \"Authorization: Bearer $OMS_API_TOKEN\" -H 'Content-Type: application/json' "
        '-d \'{"name": "main"}\'```'
    ) in text
    paused = trade_modal.no_portfolio_view("https://oms.example.com", ["alpha", "beta"])
    text = paused["blocks"][0]["text"]["text"]
    check_view(paused)
    assert "paused (alpha, beta)" in text
    assert "curl -s -X PATCH https://oms.example.com/api/v1/portfolios/alpha " in text
    assert '-d \'{"status": "active"}\'```' in text


def test_an_order_that_never_reached_the_broker_reads_not_sent():
    assert common.status_text("not_sent") == ":x: not sent"
    assert common.status_text("rejected") == ":x: rejected"

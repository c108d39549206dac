"""The /history message apart from Slack and the OMS: one line per trade as a trader says it
("SPY iron condor 17 Jan, 4 legs, credit $1.23, closed +$84.00"), a Legs button each, page
buttons with the OMS's cursors, the legs of one trade, and what /history understands —
always within Slack's limits and slack_sdk's checks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from slack_bot.blocks import ids
from slack_bot.blocks.history import (
    KIND,
    TRADES_PER_PAGE,
    history_message,
    leg_line,
    legs_message,
    trade_line,
)
from slack_bot.blocks.paging import CursorPage
from slack_bot.listeners.commands.history import checked_filters, parse_history_text
from slack_bot.listeners.common import UserFacingError
from tests.slack_harness import buttons

OPENED = "2025-01-02T15:00:00Z"
OPENED_TOKEN = "<!date^1735830000^{date_short_pretty} {time}|Thu 2 Jan 15:00 UTC>"


def check_message(msg: dict[str, Any]) -> str:
    assert set(msg) == {"text", "blocks"} and msg["text"]
    assert len(msg["blocks"]) <= 50
    for block in msg["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.to_dict()  # Slack's limits, checked by slack_sdk
    return json.dumps(msg, ensure_ascii=False)


def trade(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "trade_id": "tr_0123456789abcdef",
        "underlying": "SPY",
        "strategy": "iron_condor",
        "expiry": "2025-01-17",
        "legs": 4,
        "orders": 8,
        "state": "closed",
        "opened_at": OPENED,
        "closed_at": "2025-01-10T15:00:00Z",
        "net": {"kind": "credit", "price": "1.23", "amount": "123"},
        "realized_pnl": "84",
    }
    body.update(changes)
    return body


def leg(number: int | None, symbol: str, side: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "broker_order_id": f"b-{number}",
        "client_order_id": f"c-{number}",
        "parent_broker_order_id": "parent" if number else None,
        "leg_number": number,
        "trade_id": "tr_0123456789abcdef",
        "strategy": "iron_condor",
        "symbol": symbol,
        "underlying": "SPY",
        "asset_class": "us_option",
        "side": side,
        "position_intent": f"{side}_to_open",
        "qty": "1",
        "filled_qty": "1",
        "filled_avg_price": "2.1",
        "order_type": "limit",
        "order_class": "mleg",
        "time_in_force": "day",
        "limit_price": None,
        "stop_price": None,
        "status": "filled",
        "option": {"expiry": "2025-01-17", "strike": "500", "type": "call"},
        "submitted_at": OPENED,
        "filled_at": OPENED,
        "canceled_at": None,
        "expired_at": None,
        "updated_at": OPENED,
    }
    body.update(changes)
    return body


def test_a_trade_reads_the_way_a_trader_says_it() -> None:
    assert trade_line(trade()) == ("*SPY iron condor 17 Jan*, 4 legs, credit $1.23, closed +$84.00")
    assert trade_line(trade(realized_pnl="-12.5")) == (
        "*SPY iron condor 17 Jan*, 4 legs, credit $1.23, closed -$12.50"
    )
    vertical = trade(strategy="vertical_spread", expiry="2025-02-21", legs=2, state="working")
    assert trade_line(dict(vertical, net=None, realized_pnl=None)) == (
        "*SPY vertical spread 21 Feb*, 2 legs, working"
    )
    single = trade(strategy="single_leg", legs=1, state="open", realized_pnl=None)
    single["net"] = {"kind": "debit", "price": "2.1", "amount": "210"}
    assert trade_line(single) == "*SPY option 17 Jan*, 1 leg, debit $2.10, open"
    shares = trade(
        underlying="AAPL",
        strategy="equity",
        expiry=None,
        legs=1,
        state="filled",
        net={"kind": "debit", "price": "190", "amount": "1900"},
        realized_pnl=None,
    )
    assert trade_line(shares) == "*AAPL shares*, debit $1,900.00, filled"
    signed = dict(shares, net={"kind": "debit", "price": "-190", "amount": "-1900"})
    assert trade_line(signed) == "*AAPL shares*, debit $1,900.00, filled"
    unfilled = trade(state="unfilled", net=None, realized_pnl=None)
    assert trade_line(unfilled) == "*SPY iron condor 17 Jan*, 4 legs, not filled"
    # An expiry in another year than the trade's: the year too.
    assert trade_line(trade(expiry="2027-01-15")).startswith("*SPY iron condor 15 Jan 2027*")


def test_a_page_of_trades_with_legs_buttons_and_the_oms_cursor() -> None:
    trades = [trade(trade_id=f"tr_{n:016x}") for n in range(TRADES_PER_PAGE)]
    where = CursorPage(KIND, {"symbol": "SPY", "strategy": None})
    msg = history_message(trades, where, "cursor-2")
    text = check_message(msg)
    assert "SPY trade history" in text
    assert f"opened {OPENED_TOKEN}" in text and "8 orders" in text
    assert "Page 1 · trades 1 to 15, newest first · older trades on the next page" in text
    legs = buttons(msg, ids.HISTORY_LEGS)
    assert [b["value"] for b in legs] == [t["trade_id"] for t in trades]
    assert legs[0]["text"]["text"] == "Legs"
    [following] = buttons(msg, ids.PAGE_NEXT)
    page = CursorPage.from_value(following["value"], KIND)
    assert (page.page, page.cursor, page.filters) == (1, "cursor-2", where.filters)
    assert buttons(msg, ids.PAGE_PREV) == []
    shares = history_message([trade(strategy="equity", expiry=None)], where)
    assert buttons(shares, ids.HISTORY_LEGS)[0]["text"]["text"] == "Orders"


def test_no_trades_and_the_titles_say_what_was_asked() -> None:
    empty = history_message([], CursorPage(KIND, {"symbol": None, "strategy": "iron_condor"}))
    assert "*Iron condor history*\\nNo trades." in check_message(empty)
    both = CursorPage(KIND, {"symbol": "SPY", "strategy": "straddle"})
    assert "SPY straddle history" in check_message(history_message([trade()], both))


def test_the_legs_of_a_trade_in_leg_order_without_the_multi_leg_parent() -> None:
    members = [
        leg(None, "", "buy", order_class="mleg", option=None, qty="1"),
        leg(1, "SPY250117C00500000", "sell"),
        leg(
            2,
            "SPY250117C00510000",
            "buy",
            option={"expiry": "2025-01-17", "strike": "510", "type": "call"},
        ),
        leg(
            3,
            "SPY250117P00480000",
            "sell",
            filled_qty="0",
            filled_avg_price=None,
            status="canceled",
        ),
    ]
    msg = legs_message(dict(trade(), members=members))
    text = check_message(msg)
    assert msg["blocks"][0]["text"]["text"] == "SPY iron condor 17 Jan"
    assert (
        f"Leg 1 · *sell 1* `SPY250117C00500000` (call $500.00 17 Jan) to open · filled 1 @ "
        f"$2.10 · :white_check_mark: filled · {OPENED_TOKEN}"
    ) in text
    assert "Leg 2 · *buy 1* `SPY250117C00510000` (call $510.00 17 Jan) to open" in text
    assert "Leg 3 · *sell 1* `SPY250117P00480000`" in text and "nothing filled" in text
    assert "Order ·" not in text  # the parent holds no contract of its own
    assert "tr_0123456789abcdef" in text


def test_many_orders_in_one_trade_stay_within_slacks_limits() -> None:
    members = [leg(n, f"SPY250117C{n:08d}", "buy") for n in range(1, 300)]
    check_message(legs_message(dict(trade(), members=members)))
    assert len(leg_line(leg(1, "X" * 300, "buy"))) <= 400


@pytest.mark.parametrize(
    ("text", "symbol", "strategy"),
    [
        ("", None, None),
        ("aapl", "AAPL", None),
        ("SPY", "SPY", None),
        ("SPY250117C00500000", "SPY250117C00500000", None),
        ("brk.b", "BRK.B", None),
        ("iron_condor", None, "iron_condor"),
        ("iron condor", None, "iron_condor"),
        ("Iron-Condor", None, "iron_condor"),
        ("vertical", None, "vertical_spread"),
        ("straddle", None, "straddle"),
        ("strangle", None, "strangle"),
        ("single_leg", None, "single_leg"),
        ("options", None, "options"),
        ("equity", None, "equity"),
        ("SPY iron condor", "SPY", "iron_condor"),
    ],
)
def test_history_understands_a_symbol_or_a_strategy(
    text: str, symbol: str | None, strategy: str | None
) -> None:
    page = parse_history_text(text)
    assert page.filters == {"symbol": symbol, "strategy": strategy}
    assert checked_filters(CursorPage.from_value(page.to_value(), KIND)) == page


@pytest.mark.parametrize("text", ["butterfly", "SPY butterfly", "$$$", "AAPL MSFT", "a" * 80])
def test_anything_else_is_explained(text: str) -> None:
    with pytest.raises(UserFacingError) as caught:
        parse_history_text(text)
    assert "/history SPY" in str(caught.value) and "iron condor" in str(caught.value)


@pytest.mark.parametrize(
    "filters",
    [
        {"symbol": "SPY"},
        {"symbol": "spy;drop", "strategy": None},
        {"symbol": None, "strategy": "butterfly"},
        {"symbol": None, "strategy": None, "extra": 1},
    ],
)
def test_a_forged_page_button_is_refused(filters: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        checked_filters(CursorPage(KIND, filters))


@pytest.mark.parametrize(
    "value",
    [
        "",
        "[]",
        json.dumps({"kind": "orders", "page": 0, "filters": {}, "cursor": None, "back": []}),
        json.dumps({"kind": KIND, "page": 0, "filters": {}, "cursor": None, "back": [None]}),
        json.dumps({"kind": KIND, "page": 1, "filters": {}, "cursor": "x" * 501, "back": [None]}),
        json.dumps({"kind": KIND, "page": -1, "filters": {}, "cursor": None, "back": []}),
        json.dumps({"kind": KIND, "page": 0, "filters": [], "cursor": None, "back": []}),
    ],
)
def test_junk_page_values_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        CursorPage.from_value(value, KIND)


def test_a_long_way_back_keeps_the_button_within_slacks_limit() -> None:
    page = CursorPage(KIND, {"symbol": None, "strategy": None})
    for n in range(100):
        page = page.following(f"cursor-{n:040d}")
    value = page.to_value()
    assert len(value) <= 2000
    back = CursorPage.from_value(value, KIND)
    assert back.cursor == page.cursor and 0 < len(back.back) < 100

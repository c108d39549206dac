"""The trading controls' Block Kit builders and sentences, apart from Slack and the OMS: every
view and message passes slack_sdk's checks and Slack's limits (50 blocks, 3000 characters a
section), says what a user needs to see, and escapes what people typed."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from slack_bot import wording
from slack_bot.blocks import audit, controls, ids, positions, stop
from slack_bot.blocks import help as help_blocks
from slack_bot.blocks.status import daily_pl_text, status_message
from slack_bot.formatting import PERCENT_SPACE

SINCE = "2025-11-24T15:00:00Z"
SINCE_TOKEN = "<!date^1763996400^{date_short_pretty} {time}|Mon 24 Nov 15:00 UTC>"
NASTY = "<@U123> & <!channel> *bold*"


def check_view(view: dict[str, Any]) -> str:
    View(**view).to_dict()
    return json.dumps(view, ensure_ascii=False)


def check_message(msg: dict[str, Any]) -> str:
    assert set(msg) == {"text", "blocks"} and msg["text"]
    assert len(msg["blocks"]) <= 50
    for block in msg["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.to_dict()  # Slack's limits, checked by slack_sdk
    return json.dumps(msg, ensure_ascii=False)


def halted(**changes: Any) -> dict[str, Any]:
    state = {
        "state": "halted",
        "reason": "flash crash",
        "changed_by": "UADMIN1",
        "changed_by_name": "ada",
        "since": SINCE,
        "stop_id": None,
        "stop_running": False,
    }
    state.update(changes)
    return state


ACTIVE = {
    "state": "active",
    "reason": None,
    "changed_by": None,
    "changed_by_name": None,
    "since": "1970-01-01T00:00:00Z",
    "stop_id": None,
    "stop_running": False,
}


def symbol(name: str, outcome: str = "closed", **changes: Any) -> dict[str, Any]:
    row = {
        "symbol": name,
        "side": "long",
        "qty_before": "10",
        "close_trade_id": 7,
        "close_broker_order_id": "b-1",
        "close_client_order_id": "c-1",
        "filled_qty": "10" if outcome == "closed" else "0",
        "fill_price": "190.00" if outcome == "closed" else None,
        "outcome": outcome,
        "attempts": 1,
        "note": None,
    }
    row.update(changes)
    return row


def a_stop(status: str = "running", symbols: list[dict[str, Any]] | None = None, **changes: Any):
    body = {
        "id": 3,
        "status": status,
        "phase": "closing" if status == "running" else "done",
        "reason": "flash crash",
        "requested_by": "UADMIN1",
        "requested_by_name": "ada",
        "channel_id": "CTRADING1",
        "started_at": SINCE,
        "finished_at": None if status == "running" else "2025-11-24T15:01:05Z",
        "orders_canceled": 2,
        "broker_write_calls": 2,
        "error": None,
        "symbols": symbols if symbols is not None else [symbol("AAPL")],
        "already_running": False,
    }
    body.update(changes)
    return body


# ----------------------------------------------------------------------------- the stop's modal
def book(*portfolio_positions: dict[str, Any], outside: Any = ()) -> dict[str, Any]:
    return {
        "portfolios": [
            {"name": "main", "status": "active", "positions": list(portfolio_positions)}
        ],
        "outside_portfolios": list(outside),
    }


def test_the_stop_confirmation_counts_what_it_will_do() -> None:
    held = book(
        {"symbol": "AAPL", "qty": "10", "market_value": "1900.00"},
        {"symbol": "MSFT", "qty": "0", "market_value": "0"},  # closed already: not counted
        outside=[{"symbol": "TSLA", "qty": "3", "market_value": "-665.50"}],
    )
    view = controls.stop_confirm_view(
        open_orders=4,
        book=held,
        state=ACTIVE,
        mode="live",
        reason="flash  crash",
        metadata="{}",
    )
    text = check_view(view)
    assert view["callback_id"] == ids.STOP_CONFIRM and view["submit"]["text"] == "STOP EVERYTHING"
    assert "*Cancel all 4 open orders*" in text
    assert "*Close all 2 positions* (total market value *$1,234.50*) at market" in text
    assert "Keep trading *HALTED* until an admin runs /resume" in text
    assert "LIVE — real money" in text
    reason = next(b for b in view["blocks"] if b.get("block_id") == ids.REASON)
    assert reason["element"]["initial_value"] == "flash crash"
    assert "optional" not in reason or reason["optional"] is False
    confirm = next(b for b in view["blocks"] if b.get("block_id") == ids.CONFIRM)
    assert confirm["element"]["type"] == "checkboxes"
    assert "close every position now" in confirm["element"]["options"][0]["text"]["text"]


def test_the_stop_confirmation_never_waits_on_counts_it_could_not_get() -> None:
    view = controls.stop_confirm_view(
        open_orders=None,
        book=None,
        state=None,
        mode="paper",
        reason=None,
        metadata="{}",
        running_stop_id=9,
    )
    text = check_view(view)
    assert "Cancel every open order* (the OMS could not count them just now)" in text
    assert "*Close every position* at market (the positions could not be read)" in text
    assert "Emergency stop #9 is already running" in text
    assert view["submit"]["text"] == "STOP EVERYTHING"  # the admin can still stop


def test_one_open_order_and_one_position_read_as_such() -> None:
    view = controls.stop_confirm_view(
        open_orders=1,
        book=book({"symbol": "AAPL", "qty": "1", "market_value": None}),
        state=halted(),
        mode="simulator",
        reason="",
        metadata="{}",
    )
    text = check_view(view)
    assert "*Cancel all 1 open order*" in text
    assert "*Close all 1 position* (1 without a price)" in text
    assert f"Trading *HALTED* by <@UADMIN1> since {SINCE_TOKEN} — flash crash" in text


# ----------------------------------------------------------------------------- the stop's message
def test_a_running_stop_says_who_started_it_and_what_it_is_doing() -> None:
    text = check_message(stop.stop_message(a_stop(), "paper"))
    assert "Emergency stop #3 started by <@UADMIN1> " in text
    assert "*RUNNING* — closing positions" in text
    assert "Trading is *HALTED* while the stop runs" in text
    assert ids.CONTROLS_RESUME not in text  # nothing to resume yet


def test_a_flat_stop_shows_the_table_the_orders_canceled_and_that_trading_stays_halted() -> None:
    msg = stop.stop_message(a_stop("flat", [symbol("MSFT"), symbol("AAPL")]), "paper")
    text = check_message(msg)
    assert ":white_check_mark: *FLAT*" in text
    assert "*Orders canceled*\\n2" in text
    table = next(
        b["text"]["text"] for b in msg["blocks"] if "```" in (b.get("text") or {}).get("text", "")
    )
    lines = table.strip("`\n").splitlines()
    assert lines[0].split() == [
        "SYMBOL",
        "SIDE",
        "QTY",
        "BEFORE",
        "FILLED",
        "FILL",
        "PRICE",
        "OUTCOME",
    ]
    assert lines[1].split() == ["AAPL", "long", "10", "10", "$190.00", "closed"]
    assert lines[2].split()[0] == "MSFT"
    assert "Trading stays HALTED — an admin must /resume." in text
    [button] = [b["accessory"] for b in msg["blocks"] if "accessory" in b]
    assert button["action_id"] == ids.CONTROLS_RESUME
    assert msg["text"].startswith("Emergency stop #3 started by <@UADMIN1>: FLAT")


def test_an_incomplete_stop_lists_what_is_still_open_first() -> None:
    symbols = [
        symbol("AAPL"),
        symbol("MSFT", "open", qty_before="4", note="closing it on its own failed (attempt 3)"),
        symbol("TSLA", "failed", side="short", qty_before="-5", filled_qty="-2"),
    ]
    msg = stop.stop_message(a_stop("incomplete", symbols), "paper")
    text = check_message(msg)
    assert ":x: *INCOMPLETE — positions still open:* *TSLA* (short 3), *MSFT* (long 4)" in text
    assert "STILL OPEN" in text and "FAILED" in text
    assert "*MSFT* — closing it on its own failed (attempt 3)" in text
    assert "positions still open: TSLA, MSFT" in msg["text"]


def test_a_stop_queued_for_the_open_says_so() -> None:
    symbols = [symbol("AAPL", "queued"), symbol("MSFT", "queued")]
    text = check_message(stop.stop_message(a_stop("queued_for_open", symbols), "paper"))
    assert (
        "*QUEUED for the open* — the market is closed: the closing orders for *AAPL*, *MSFT*"
        in (text)
    )
    assert "Trading stays HALTED" in text


def test_an_already_running_stop_is_shown_as_that_stop() -> None:
    text = check_message(
        stop.stop_message(a_stop(already_running=True), "paper", already_running=True)
    )
    assert "Emergency stop #3 was already running — nothing new was started" in text


def test_a_huge_stop_stays_within_slacks_limits_and_escapes_what_people_typed() -> None:
    symbols = [
        symbol(f"S{i:04d}", "open" if i % 7 == 0 else "closed", note=NASTY * 20) for i in range(800)
    ]
    msg = stop.stop_message(a_stop("incomplete", symbols, reason=NASTY, error=NASTY), "live")
    text = check_message(msg)
    assert "<@U123>" not in text and "<!channel>" not in text
    assert "&lt;@U123&gt; &amp; &lt;!channel&gt;" in text
    assert "more symbols" in text and "and 95 more" in text


# ----------------------------------------------------------------------------- /desk
def status(**changes: Any) -> dict[str, Any]:
    body = {
        "mode": "paper",
        "trading": ACTIVE,
        "daily_pl": "-1234.50",
        "daily_loss_limit": "2000.00",
        "open_orders": 3,
        "broker_connected": True,
        "stream_connected": False,
        "running_stop_id": None,
    }
    body.update(changes)
    return body


def test_status_when_active() -> None:
    msg = status_message(status())
    text = check_message(msg)
    assert ":large_green_circle: Trading *ACTIVE*" in text
    assert f"-$1,234.50 of -$2,000.00 limit (61.7{PERCENT_SPACE}%)" in text
    assert "*Open orders*\\n3" in text
    assert "*Broker*\\n:large_green_circle: connected" in text
    assert "*Trade stream*\\n:red_circle: *not connected*" in text
    assert "*Emergency stop*\\nnone running" in text
    assert "*PAPER*" in text
    assert ids.CONTROLS_RESUME not in text


def test_status_when_halted_by_a_running_stop() -> None:
    state = halted(stop_id=3, stop_running=True)
    text = check_message(status_message(status(trading=state, running_stop_id=3, mode="live")))
    assert (
        f":octagonal_sign: Trading *HALTED* by <@UADMIN1> since {SINCE_TOKEN} "
        "(emergency stop #3, still running) — flash crash"
    ) in text
    assert ":rotating_light: #3 running" in text and "LIVE — real money" in text
    assert ids.CONTROLS_RESUME in text


@pytest.mark.parametrize(
    ("pl", "limit", "expected"),
    [
        ("-1234.50", "2000", f"-$1,234.50 of -$2,000.00 limit (61.7{PERCENT_SPACE}%)"),
        ("-1700", "2000", f":warning: -$1,700.00 of -$2,000.00 limit (85.0{PERCENT_SPACE}%)"),
        (
            "-2500",
            "2000",
            f":rotating_light: -$2,500.00 of -$2,000.00 limit (125.0{PERCENT_SPACE}%)",
        ),
        ("300", "2000", "+$300.00 (limit -$2,000.00)"),
        ("-12", None, "-$12.00 (no daily loss limit set)"),
        (None, "2000", ":grey_question: unknown (the broker could not be asked)"),
    ],
)
def test_todays_pl_against_the_limit(pl: Any, limit: Any, expected: str) -> None:
    assert daily_pl_text(pl, limit) == expected


def test_a_halt_by_the_oms_itself_or_an_api_client() -> None:
    assert "HALTED* by system since" in controls.trading_state_line(halted(changed_by="system"))
    line = controls.trading_state_line(halted(changed_by="api", changed_by_name=None))
    assert "HALTED* by api since" in line


# ----------------------------------------------------------------------------- /audit
def entry(n: int, **changes: Any) -> dict[str, Any]:
    row = {
        "id": n,
        "created_at": SINCE,
        "actor_kind": "slack_user",
        "actor": "UADMIN1",
        "actor_name": "ada",
        "action": "halt",
        "target": "trading",
        "details": {"reason": "news pending"},
        "result": "ok",
    }
    row.update(changes)
    return row


def test_audit_lines_say_when_who_what_result_and_why() -> None:
    entries = [
        entry(3),
        entry(
            2,
            actor="USTRANGER",
            action="refused_by_bot",
            target=None,
            result="refused",
            details={"attempted": "/stop", "reason": "user not allowed (admins only)"},
        ),
        entry(1, actor_kind="system", actor="system", action="emergency_stop", result="failed"),
        entry(0, actor_kind="api", actor="api", actor_name=None, action="trade", target="trade 9"),
    ]
    msg = audit.audit_message(entries, 20, more=False)
    text = check_message(msg)
    lines = msg["blocks"][1]["text"]["text"].splitlines()
    assert lines[0] == (
        "<!date^1763996400^{date_short_pretty} {time_secs}|Mon 24 Nov 15:00 UTC>"
        " · <@UADMIN1> · *halt* · trading · ok · reason: news pending"
    )
    assert lines[1].endswith(
        "· <@USTRANGER> · *refused_by_bot* · :no_entry: *REFUSED* · "
        "reason: user not allowed (admins only) · attempted: /stop"
    )
    assert "· system · *emergency_stop* · trading · :x: *FAILED*" in lines[2]
    assert "· api · *trade* · trade 9 · ok" in lines[3]
    assert "1 refused, 1 failed" in text


def test_a_hundred_long_audit_entries_fit() -> None:
    entries = [entry(i, details={"reason": NASTY * 50, "refused": "x" * 500}) for i in range(100)]
    text = check_message(audit.audit_message(entries, 100, more=True))
    assert "<@U123>" not in text and "older entries exist" in text
    assert text.count("*halt*") == 100


def test_an_empty_audit_trail() -> None:
    assert "The audit trail is empty" in check_message(audit.audit_message([], 20, more=False))


# ----------------------------------------------------------------------------- /positions
def position(name: str, qty: str = "10", **changes: Any) -> dict[str, Any]:
    row = {
        "symbol": name,
        "qty": qty,
        "side": "long",
        "avg_entry_price": "100",
        "current_price": "110",
        "market_value": str(Decimal(qty) * 110),
        "cost_basis": "1000",
        "unrealized_pl": "100",
        "unrealized_plpc": "0.1",
        "realized_pl": "0",
    }
    row.update(changes)
    return row


def book_of(groups: dict[str, list[dict[str, Any]]], outside: Any = (), **changes: Any):
    body = {
        "portfolios": [
            {
                "name": name,
                "status": "paused" if name.startswith("paused") else "active",
                "market_value": "0",
                "cost_basis": "0",
                "unrealized_pl": "0",
                "unrealized_plpc": None,
                "realized_pl": "0",
                "positions": rows,
            }
            for name, rows in groups.items()
        ],
        "outside_portfolios": list(outside),
        "broker_positions_available": True,
        "as_of": SINCE,
    }
    body.update(changes)
    return body


def actions_of(msg: dict[str, Any], action_id: str) -> list[dict[str, Any]]:
    return [
        element
        for block in msg["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == action_id
    ]


def test_every_position_of_a_portfolio_has_an_emergency_sell_behind_a_confirm() -> None:
    msg = positions.positions_message(
        book_of(
            {
                "main": [position("AAPL")],
                "paused-one": [position("MSFT", "-4", side="short")],
            },
            outside=[position("TSLA", "3")],
        ),
        "paper",
    )
    check_message(msg)
    sells = actions_of(msg, ids.POSITION_EMERGENCY_SELL)
    assert [json.loads(b["value"]) for b in sells] == [
        {"symbol": "AAPL", "qty": "10", "portfolio": "main"},
        {"symbol": "MSFT", "qty": "-4", "portfolio": "paused-one"},
    ]
    aapl, msft = sells
    assert aapl["style"] == "danger" and aapl["text"]["text"] == "Emergency sell"
    assert aapl["confirm"]["text"]["text"] == (
        "Sell all 10 AAPL of portfolio main at market now and pause main?"
    )
    assert aapl["confirm"]["style"] == "danger"
    # A short is bought back; a paused portfolio's holding can still be closed.
    assert msft["confirm"]["text"]["text"] == (
        "Buy back all 4 MSFT of portfolio paused-one at market now and pause paused-one?"
    )
    # Nothing outside the portfolios for a trader; the Sell buttons are unchanged.
    assert actions_of(msg, ids.POSITION_CLOSE_ACCOUNT) == []
    assert [b["accessory"]["action_id"] for b in msg["blocks"] if "accessory" in b] == [
        ids.POSITION_SELL
    ]


def test_admins_can_close_what_no_portfolio_owns() -> None:
    msg = positions.positions_message(
        book_of({"main": [position("AAPL")]}, outside=[position("TSLA", "3")]), "paper", admin=True
    )
    text = check_message(msg)
    [close] = actions_of(msg, ids.POSITION_CLOSE_ACCOUNT)
    assert json.loads(close["value"]) == {"symbol": "TSLA", "qty": "3", "portfolio": None}
    assert "Close the 3 TSLA no portfolio holds" in close["confirm"]["text"]["text"]
    assert "holdings of it stay as they are" in close["confirm"]["text"]["text"]
    assert "(Close unmanaged)" in text


def test_a_page_of_one_position_portfolios_without_prices_fits_in_50_blocks() -> None:
    groups = {f"p{i:02d}": [position(f"S{i:02d}", market_value=None)] for i in range(40)}
    msg = positions.positions_message(
        book_of(groups, broker_positions_available=False), "paper", page=1
    )
    text = check_message(msg)
    assert "Prices are unavailable" in text and "Page 2 of 3" in text
    assert len(actions_of(msg, ids.POSITION_EMERGENCY_SELL)) == positions.POSITIONS_PER_PAGE


# ----------------------------------------------------------------------------- results
TRADE = {
    "id": 41,
    "portfolio": "main",
    "symbol": "AAPL",
    "side": "sell",
    "qty": "10",
    "order_type": "market",
    "status": "filled",
    "filled_qty": "10",
    "filled_avg_price": "190.00",
    "client_order_id": "oms-41",
    "broker_order_id": "b-41",
    "reason": "emergency sell: emergency sell from Slack (/positions)",
    "created_at": SINCE,
    "updated_at": SINCE,
    "filled_at": SINCE,
}


def test_an_emergency_sell_result_names_the_order_the_fill_and_the_paused_portfolio() -> None:
    text = check_message(
        controls.emergency_sell_message(TRADE, "UTRADER1", "paper", portfolio="main")
    )
    assert ":rotating_light: *Emergency sell* of main's AAPL by <@UTRADER1>." in text
    assert "*Order*\\n#41" in text and "`b-41`" in text and "10 @ $190.00" in text
    assert "Portfolio *main* is paused — an admin can `/portfolio resume main`." in text
    whole = controls.emergency_sell_message(
        {**TRADE, "portfolio": None}, "UADMIN1", "paper", portfolio=None, whole_account=True
    )
    assert "the unmanaged AAPL position" in check_message(whole)
    assert "the portfolios' holdings are untouched" in check_message(whole)


def test_a_portfolio_stop_result_lists_what_was_done_and_what_was_not() -> None:
    result = {
        "portfolio": "growth",
        "paused": True,
        "canceled_trade_ids": [4, 5],
        "closing_trade_ids": [6],
        "problems": [f"MSFT: {NASTY}"],
    }
    text = check_message(controls.portfolio_stop_message(result, "UADMIN1", "risk", "paper"))
    assert "Portfolio *growth* stopped by <@UADMIN1>." in text
    assert "*Orders canceled:* 2 (#4, #5)" in text
    assert "*Closing orders placed:* 1 (#6; /orders shows their fills)" in text
    assert ":x: *Could not be done:*\\n• MSFT: &lt;@U123&gt;" in text


def test_halt_and_resume_confirmations() -> None:
    text = check_view(controls.halt_confirm_view(ACTIVE, "paper", "news", "{}"))
    assert "*Halt trading?*" in text and "Nothing is canceled or closed" in text
    view = controls.resume_confirm_view(halted(stop_id=2, stop_running=True), "paper", None, "{}")
    text = check_view(view)
    assert view["callback_id"] == ids.RESUME_CONFIRM and view["submit"]["text"] == "Resume trading"
    assert "Emergency stop #2 is still running" in text
    already = controls.resume_confirm_view(ACTIVE, "paper", None, "{}")
    assert "already *ACTIVE*" in check_view(already) and "submit" not in already


def test_help_shows_the_controls_to_admins_only() -> None:
    for_traders = check_message(help_blocks.help_message())
    for_admins = check_message(help_blocks.help_message(admin=True))
    assert "/desk" in for_traders and "/stop" not in for_traders
    for command in ("/stop", "/halt", "/resume", "/portfolio", "/audit"):
        assert command in for_admins


# ----------------------------------------------------------------------------- sentences
def test_a_trade_refused_while_halted_says_who_since_when_why_and_who_can_undo_it() -> None:
    details = {
        "halted_by": "UADMIN1",
        "halted_by_name": "ada",
        "reason": "flash crash",
        "since": SINCE,
        "stop_id": None,
    }
    assert wording.trade_error("trading_halted", "trading is halted (…)", details) == (
        "Trading is halted by ada since Mon 24 Nov 15:00 UTC: flash crash. Nothing was sent. "
        "An admin can /resume."
    )
    by_stop = {**details, "halted_by": "system", "halted_by_name": None, "stop_id": 3}
    assert wording.trade_error("trading_halted", "", by_stop).startswith(
        "Trading is halted by the OMS itself (emergency stop #3) since Mon 24 Nov 15:00 UTC"
    )


def test_control_refusals_read_as_one_sentence() -> None:
    assert wording.control_error("stop_running", "…", {"stop_id": 4}) == (
        "An emergency stop is still running (#4), so trading cannot be resumed yet: resume once "
        "it has finished (/desk shows it). Nothing was changed."
    )
    assert wording.control_error(
        "nothing_to_close", "x", {"portfolio": "main", "symbol": "AAPL"}
    ) == ("Portfolio main holds no AAPL any more — nothing was sent.")
    assert wording.control_error(
        "nothing_to_close", "the account holds no AAPL; nothing was sent", {}
    ) == ("The account holds no AAPL — nothing was sent.")
    assert wording.control_error("portfolio_not_found", "portfolio 'nope' does not exist", {}) == (
        "Portfolio 'nope' does not exist — nothing was changed."
    )

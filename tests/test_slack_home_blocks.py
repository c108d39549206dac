"""The App Home tab's dashboard builder, apart from Slack and the OMS: every view passes
slack_sdk's checks and stays within Slack's 100 blocks however big the desk, shows the
capital still available with the right colour, labels what no portfolio owns, and gives each
user only the buttons that are theirs."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from slack_bot.blocks import ids
from slack_bot.blocks.home import (
    GREEN,
    HOME_BLOCK_LIMIT,
    HOME_PORTFOLIO_PAUSE,
    HOME_PORTFOLIO_RESUME,
    RED,
    YELLOW,
    HomeData,
    capital_marker,
    capital_split,
    home_notice_view,
    home_view,
)

NASTY = "<@U123> & <!channel> *bold*"
AS_OF = 1_795_000_000.0


def check_view(view: dict[str, Any]) -> str:
    """slack_sdk's checks on the whole view and on each block (to_dict validates limits)."""
    assert view["type"] == "home"
    View(**view).to_dict()
    for block in view["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None
        assert parsed.to_dict() == block
    assert len(view["blocks"]) <= HOME_BLOCK_LIMIT
    return json.dumps(view, ensure_ascii=False)


def account(**changes: Any) -> dict[str, Any]:
    base = {
        "account_number": "PA1234567",
        "status": "ACTIVE",
        "currency": "USD",
        "equity": "105000.00",
        "cash": "60000.00",
        "buying_power": "100000.00",
        "portfolio_value": "105000.00",
        "mode": "paper",
        "allocated_capital": "70000.00",
        "available_capital": "30000.00",
        "total_realized_pnl": "1234.50",
        "daily_pnl": "-250.00",
    }
    base.update(changes)
    return base


def portfolio(name: str, capital: str = "10000", status: str = "active", **extra: Any) -> dict:
    base = {
        "id": 1,
        "name": name,
        "allocated_capital": capital,
        "status": status,
        "created_at": "2026-11-18T15:00:00Z",
        "updated_at": "2026-11-18T15:00:00Z",
        "daily_loss_limit": "500.00",
        "realized_pnl": "120.00",
        "unrealized_pnl": "-30.00",
        "today_pnl": "15.00",
        "limits": {
            "allowed_symbols": None,
            "denied_symbols": None,
            "max_order_notional": None,
            "max_position_value": None,
        },
    }
    base.update(extra)
    return base


def position(
    symbol: str, qty: str, value: str | None, portfolio: str | None, **extra: Any
) -> dict[str, Any]:
    base = {
        "symbol": symbol,
        "qty": qty,
        "side": "long",
        "avg_entry_price": "100.00",
        "current_price": "110.00",
        "market_value": value,
        "cost_basis": "1000.00",
        "unrealized_pl": "100.00",
        "unrealized_plpc": "0.1",
        "portfolio": portfolio,
        "managed": portfolio is not None,
    }
    base.update(extra)
    return base


def alert(n: int, **extra: Any) -> dict[str, Any]:
    base = {
        "id": n,
        "created_at": "2026-11-18T15:00:00Z",
        "kind": "order_filled",
        "severity": "info",
        "title": f"Order {n} filled",
        "state": "delivered",
    }
    base.update(extra)
    return base


HALTED = {
    "state": "halted",
    "reason": "news pending",
    "changed_by": "UADMIN1",
    "changed_by_name": "ada",
    "since": "2026-11-18T15:00:00Z",
    "stop_id": None,
    "stop_running": False,
}
ACTIVE = {**HALTED, "state": "active", "reason": None, "changed_by": None}


def desk(**changes: Any) -> HomeData:
    base: dict[str, Any] = {
        "account": account(),
        "portfolios": [portfolio("main", "50000"), portfolio("growth", "20000", "paused")],
        "positions": [
            position("AAPL", "10", "1900.00", "main"),
            position("MSFT", "5", "2000.00", "growth"),
            position("TSLA", "3", "750.00", None),
        ],
        "trading_state": ACTIVE,
        "alerts": [alert(1)],
        "mode": "paper",
        "as_of": AS_OF,
    }
    base.update(changes)
    return HomeData(**base)


def buttons(view: dict[str, Any], action_id: str) -> list[dict[str, Any]]:
    found = []
    for block in view["blocks"]:
        elements = [block.get("accessory") or {}, *(block.get("elements") or [])]
        found += [e for e in elements if e.get("action_id") == action_id]
    return found


def texts(view: dict[str, Any]) -> list[str]:
    """Each block's visible mrkdwn / plain text, fields joined."""
    out = []
    for block in view["blocks"]:
        parts = [(block.get("text") or {}).get("text") or ""]
        parts += [f.get("text", "") for f in block.get("fields") or []]
        parts += [e["text"] for e in block.get("elements") or [] if isinstance(e.get("text"), str)]
        out.append("\n".join(p for p in parts if p))
    return out


# ----------------------------------------------------------------------------- the whole view
def test_the_dashboard_shows_mode_state_account_portfolios_positions_and_alerts() -> None:
    view = home_view(desk(), admin=False, trader=True)
    text = check_view(view)
    shown = "\n".join(texts(view))
    assert ":page_facing_up: *PAPER*" in shown
    assert "<!date^1795000000^" in shown  # when it was read, in the reader's own time zone
    assert ":large_green_circle: Trading *ACTIVE*" in shown
    assert "*Account*\nPA1234567 (ACTIVE)" in shown
    assert "*Buying power*\n$100,000.00" in shown
    assert "*Allocated to portfolios*\n$70,000.00" in shown
    assert "*Available capital*\n:large_green_circle: $30,000.00 (30.0\u00a0% of buying power)" in (
        shown
    )
    assert "*Realized P&L (all portfolios)*\n+$1,234.50" in shown
    assert "*Today's P&L*\n-$250.00" in shown
    assert "Portfolios (2)" in text and "Positions (3)" in text
    assert (
        "*main* · :large_green_circle: active\nCapital $50,000.00 · daily loss limit $500.00\n"
        "P&L realized +$120.00 · unrealized -$30.00 · today +$15.00"
    ) in shown
    assert "*growth* · :double_vertical_bar: *paused*" in shown
    assert "*TSLA* · :warning: _Unmanaged_ (in no portfolio)" in shown
    assert "*AAPL* · main\n10 sh · value $1,900.00" in shown
    assert ":information_source: *Order 1 filled*" in shown


def test_halted_trading_says_who_halted_it_and_why() -> None:
    shown = "\n".join(texts(home_view(desk(trading_state=HALTED), admin=True, trader=True)))
    assert ":octagonal_sign: Trading *HALTED* by <@UADMIN1>" in shown
    assert "news pending" in shown


@pytest.mark.parametrize("mode, badge", [("live", "LIVE — real money"), ("simulator", "SIMULATOR")])
def test_the_mode_badge_says_where_orders_go(mode: str, badge: str) -> None:
    shown = "\n".join(texts(home_view(desk(mode=mode), admin=False, trader=True)))
    assert badge in shown


# ----------------------------------------------------------------------------- capital colour
@pytest.mark.parametrize(
    "available, marker",
    [
        ("20000.01", GREEN),  # more than 20 % of $100,000 still free
        ("20000.00", YELLOW),  # exactly 20 %: no longer comfortable
        ("0", YELLOW),
        ("-0.01", RED),  # the portfolios were given more than the account can buy
    ],
)
def test_available_capital_is_green_above_20_percent_yellow_down_to_zero_red_below(
    available: str, marker: str
) -> None:
    assert capital_marker(available, "100000.00") == marker
    view = home_view(desk(account=account(available_capital=available)), admin=False, trader=True)
    assert f"*Available capital*\n{marker} " in "\n".join(texts(view))


def test_without_the_oms_figures_the_capital_is_worked_out_from_the_portfolios() -> None:
    older = account(allocated_capital=None, available_capital=None)
    older.pop("allocated_capital")
    older.pop("available_capital")
    portfolios = [portfolio("main", "50000"), portfolio("growth", "45000", "paused")]
    assert capital_split(older, portfolios) == (Decimal("95000"), Decimal("5000.00"))
    shown = "\n".join(
        texts(home_view(desk(account=older, portfolios=portfolios), admin=False, trader=True))
    )
    assert "*Allocated to portfolios*\n$95,000.00" in shown
    assert f"*Available capital*\n{YELLOW} $5,000.00 (5.0\u00a0% of buying power)" in shown


# ----------------------------------------------------------------------------- buttons
def test_an_admin_gets_pause_resume_and_close_whole_position_a_trader_does_not() -> None:
    admin = home_view(desk(), admin=True, trader=True)
    trader = home_view(desk(), admin=False, trader=True)
    [pause] = buttons(admin, HOME_PORTFOLIO_PAUSE)
    [resume] = buttons(admin, HOME_PORTFOLIO_RESUME)
    assert (pause["value"], resume["value"]) == ("main", "growth")
    assert "Pause portfolio main?" in pause["confirm"]["text"]["text"]
    [close] = buttons(admin, ids.POSITION_CLOSE_ACCOUNT)
    assert json.loads(close["value"])["symbol"] == "TSLA" and close["confirm"]
    for action_id in (HOME_PORTFOLIO_PAUSE, HOME_PORTFOLIO_RESUME, ids.POSITION_CLOSE_ACCOUNT):
        assert buttons(trader, action_id) == []


def test_sell_and_emergency_sell_are_the_positions_buttons_with_their_confirmations() -> None:
    view = home_view(desk(), admin=False, trader=True)
    # growth is paused: the OMS would refuse a sell, so only main's AAPL has Sell.
    [sell] = buttons(view, ids.POSITION_SELL)
    assert json.loads(sell["value"]) == {"symbol": "AAPL", "qty": "10", "portfolio": "main"}
    emergency = buttons(view, ids.POSITION_EMERGENCY_SELL)
    assert [json.loads(b["value"])["portfolio"] for b in emergency] == ["growth", "main"]
    assert {b["style"] for b in emergency} == {"danger"}
    assert emergency[1]["confirm"]["text"]["text"] == (
        "Sell all 10 AAPL of portfolio main at market now and pause main?"
    )


def test_someone_who_may_not_trade_sees_no_trading_buttons() -> None:
    view = home_view(desk(), admin=False, trader=False)
    for action_id in (ids.POSITION_SELL, ids.POSITION_EMERGENCY_SELL):
        assert buttons(view, action_id) == []


# ----------------------------------------------------------------------------- a big desk
def big_desk() -> HomeData:
    portfolios = [portfolio(f"p{n:02d}", str(1000 * (n + 1))) for n in range(20)]
    positions = [
        position(f"S{chr(65 + n // 26)}{chr(65 + n % 26)}", "1", f"{100 + n}.00", f"p{n % 20:02d}")
        for n in range(45)
    ]
    positions += [position(f"U{chr(65 + n)}", "2", f"{10 + n}.00", None) for n in range(5)]
    return desk(portfolios=portfolios, positions=positions, alerts=[alert(n) for n in range(5)])


@pytest.mark.parametrize("admin", [True, False])
def test_50_positions_and_20_portfolios_fit_in_100_blocks_largest_first(admin: bool) -> None:
    view = home_view(big_desk(), admin=admin, trader=True, notice="Portfolio p01 paused.")
    check_view(view)
    assert len(view["blocks"]) <= 100
    shown = "\n".join(texts(view))
    assert "Portfolios (20)" in shown and "Positions (50)" in shown
    assert "5 more (smaller capital) — /portfolios lists them all." in shown
    assert "30 more (smaller market value) — /positions shows them all." in shown
    assert "*p19*" in shown and "*p04*" not in shown  # the largest capital first
    assert "*SBS*" in shown and "*SAA*" not in shown  # the largest market value first
    assert len(buttons(view, ids.POSITION_SELL)) == 20
    assert len(buttons(view, HOME_PORTFOLIO_PAUSE)) == (15 if admin else 0)
    assert shown.count("*Order ") == 5


# ----------------------------------------------------------------------------- failures
def test_a_part_the_oms_could_not_give_says_so_and_the_rest_is_shown() -> None:
    data = desk(
        positions=None,
        alerts=None,
        problems={"positions": "The broker could not be reached to read positions."},
    )
    view = home_view(data, admin=True, trader=True)
    check_view(view)
    shown = "\n".join(texts(view))
    assert ":warning: The broker could not be reached to read positions." in shown
    assert ":warning: The alerts could not be read just now." in shown
    assert "*Equity*\n$105,000.00" in shown


def test_the_notice_view_validates_and_escapes() -> None:
    view = home_notice_view(f"OMS unavailable {NASTY}", mode="live")
    text = check_view(view)
    assert "&lt;@U123&gt; &amp; &lt;!channel&gt;" in text and "LIVE" in text


def test_user_text_is_escaped_everywhere() -> None:
    data = desk(
        portfolios=[portfolio("main", limits=None)],
        positions=[position("AAPL", "1", "10", "main")],
        alerts=[alert(1, title=NASTY, state="failed")],
        account=account(account_number=NASTY),
    )
    view = home_view(data, admin=True, trader=True, notice=NASTY, tone="error")
    text = check_view(view)
    assert "<@U123>" not in text and "<!channel>" not in text
    assert "_not delivered to Slack_" in text


@pytest.mark.parametrize(
    "posted_in, where",
    [("CTRADING1", "<#CTRADING1>"), ("UTRADER1", "your messages with the app")],
)
def test_the_notice_says_where_the_result_was_posted(posted_in: str, where: str) -> None:
    view = home_view(
        desk(), admin=False, trader=True, notice="Sold.", tone="success", posted_in=posted_in
    )
    check_view(view)
    assert view["blocks"][1]["text"]["text"] == (
        f":white_check_mark: Sold — the result is in {where}."
    )

"""/positions (and /account) end to end, in both Slack modes, against the real OMS on the
simulator: one OMS request and one broker call per command and per page, positions grouped by
portfolio and sorted by market value, P&L in dollars and percent, what the broker holds beyond
every portfolio shown as its own group, "Unmanaged", and every figure the OMS's own."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest

from slack_bot import formatting
from slack_bot.blocks import ids
from tests.slack_harness import ADMIN, MODES, Bot, bot_on_real_oms, buttons, text_of, unpaced

SYMBOLS = ("AAPL", "MSFT", "GOOGL", "AMZN", "META", "NVDA", "TSLA", "NFLX", "AMD", "INTC")
SYMBOLS += ("CSCO", "ADBE", "PEP", "COST", "JPM", "BAC", "WMT", "KO", "DIS", "XOM")
PORTFOLIOS = ("alpha", "beta", "gamma")
POSITION = re.compile(r"^\*([A-Z.]+)\* — ")
VALUE = re.compile(r"\nValue \$([0-9,.]+) · unrealized ")
PNL = re.compile(r"unrealized :chart_with_upwards_trend: \+\$[0-9,.]+ \(\+[0-9.]+\u00a0%\)")


@pytest.fixture(params=MODES)
def bot(request: pytest.FixtureRequest, oms: Any) -> Iterator[Bot]:
    with bot_on_real_oms(unpaced(oms), request.param) as bot:
        yield bot


@pytest.fixture
def desk(bot: Bot) -> Bot:
    """60 positions in 3 portfolios (each symbol in each, sizes that differ), prices up since
    the buys, and 3 TSLA bought in Alpaca's dashboard (at the broker, in no portfolio)."""
    oms, control = bot.oms, bot.oms.sim.control  # type: ignore[attr-defined]
    control.set_cash("100000000")
    control.configure(max_step_bps=0)
    for name in PORTFOLIOS:
        oms.create_portfolio(name, capital="10000000")
    for i, symbol in enumerate(SYMBOLS):
        for j, name in enumerate(PORTFOLIOS):
            answer = oms.trade(portfolio=name, symbol=symbol, qty=str(1 + (i * 7 + j * 3) % 11))
            assert answer.status_code == 201, answer.text
    for symbol in SYMBOLS:
        price = Decimal(oms.get(f"/quote/{symbol}").json()["price"])
        control.set_price(symbol, str((price * Decimal("1.05")).quantize(Decimal("0.01"))))
    oms.sim.trading.submit_order(  # type: ignore[attr-defined]
        MarketOrderRequest(symbol="TSLA", qty=3, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    return bot


def groups(message: dict[str, Any]) -> list[tuple[str, list[tuple[str, Decimal | None]]]]:
    """[(group header, [(symbol, market value), ...]), ...] as the message shows them."""
    found: list[tuple[str, list[tuple[str, Decimal | None]]]] = []
    for block in message["blocks"]:
        text = (block.get("text") or {}).get("text") or ""
        position = POSITION.match(text)
        if position and " sh @ avg " in text:
            value = VALUE.search(text)
            amount = Decimal(value.group(1).replace(",", "")) if value else None
            found[-1][1].append((position.group(1), amount))
        elif text.startswith("*"):  # a group's header: `*alpha* · value …`, `*Unmanaged* · …`
            found.append((text.split("*")[1], []))
    return found


def broker_calls(bot: Bot) -> dict[str, int]:
    counters = bot.oms.sim.control.counters()  # type: ignore[attr-defined]
    return {route: n for route, n in counters.items() if " /v2/" in route and n}


def test_positions_one_request_one_broker_call_grouped_largest_first(desk: Bot) -> None:
    desk.oms.sim.control.reset_counters()  # type: ignore[attr-defined]
    desk.oms_traffic.clear()  # type: ignore[attr-defined]
    assert desk.command("/positions").status_code == 200
    first = desk.wait_reply("positions")

    assert desk.oms_traffic.paths() == ["/positions/by-portfolio"]  # type: ignore[attr-defined]
    assert broker_calls(desk).get("GET /v2/positions") == 1
    assert "GET /v2/account" not in broker_calls(desk)
    text = text_of(first)
    assert "Positions (61)" in text and "Page 1 of 5" in text
    assert PNL.search(text), "P&L in dollars and percent"

    pages, shown = [first], []
    while following := buttons(pages[-1], ids.PAGE_NEXT):
        desk.oms.sim.control.reset_counters()  # type: ignore[attr-defined]
        desk.oms_traffic.clear()  # type: ignore[attr-defined]
        desk.click_button(following[0])
        pages.append(desk.wait_reply("action", len(pages)))
        # Next: one OMS request, one broker call, never the whole list per portfolio again.
        assert desk.oms_traffic.paths() == ["/positions/by-portfolio"]  # type: ignore[attr-defined]
        assert broker_calls(desk).get("GET /v2/positions") == 1
    for page in pages:
        for header, rows in groups(page):
            values = [value for _, value in rows]
            assert values == sorted(values, reverse=True), f"{header}: largest value first"
            shown += [(header.removesuffix(" (continued)"), symbol) for symbol, _ in rows]

    assert len(shown) == len(set(shown)) == 61  # every position once, across 5 pages
    assert list(dict.fromkeys(name for name, _ in shown)) == [
        *PORTFOLIOS,
        "Unmanaged",
    ]
    assert shown[-1] == ("Unmanaged", "TSLA")
    last = text_of(pages[-1])
    assert "*Unmanaged* · 1 position" in last and "dashboard" in last
    assert buttons(pages[-1], ids.POSITION_SELL) == []  # no portfolio owns it: no Sell
    sells = buttons(first, ids.POSITION_SELL)
    assert len(sells) == 15 and all('"portfolio":"alpha"' in b["value"] for b in sells)


@pytest.fixture
def small_desk(bot: Bot) -> Bot:
    """alpha holds AAPL and MSFT, beta AAPL; 2 more AAPL and 3 TSLA were bought in Alpaca's
    dashboard (unmanaged); prices up since, and still."""
    oms, control = bot.oms, bot.oms.sim.control  # type: ignore[attr-defined]
    control.set_cash("1000000")
    control.configure(max_step_bps=0)
    oms.create_portfolio("alpha", capital="20000")
    oms.create_portfolio("beta", capital="20000")
    for name, symbol, qty in (
        ("alpha", "AAPL", "5"),
        ("alpha", "MSFT", "2"),
        ("beta", "AAPL", "4"),
    ):
        answer = oms.trade(portfolio=name, symbol=symbol, qty=qty)
        assert answer.status_code == 201, answer.text
    for symbol, qty in (("AAPL", 2), ("TSLA", 3)):
        oms.sim.trading.submit_order(  # type: ignore[attr-defined]
            MarketOrderRequest(
                symbol=symbol, qty=qty, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            )
        )
    for symbol in ("AAPL", "MSFT", "TSLA"):
        price = Decimal(oms.get(f"/quote/{symbol}").json()["price"])
        control.set_price(symbol, str((price * Decimal("1.03")).quantize(Decimal("0.01"))))
    return bot


def section_texts(message: dict[str, Any]) -> list[str]:
    return [(b.get("text") or {}).get("text") or "" for b in message["blocks"]]


def test_positions_shows_the_oms_figures_and_labels_the_unmanaged(small_desk: Bot) -> None:
    small_desk.command("/positions")
    shown = section_texts(small_desk.wait_reply("positions"))
    book = small_desk.oms.get("/positions/by-portfolio").json()  # type: ignore[attr-defined]

    holding = [p for p in book["portfolios"] if p["positions"]]
    assert [p["name"] for p in holding] == ["alpha", "beta"]
    for portfolio in holding:
        pnl = formatting.pnl(portfolio["unrealized_pl"], portfolio["unrealized_plpc"])
        header = (
            f"*{portfolio['name']}* · value {formatting.money(portfolio['market_value'])}"
            f" · unrealized {pnl} · realized {formatting.signed_money(portfolio['realized_pl'])}"
        )
        assert header in shown
    unmanaged = {row["symbol"]: row for row in book["outside_portfolios"]}
    assert {s: Decimal(r["qty"]) for s, r in unmanaged.items()} == {"AAPL": 2, "TSLA": 3}
    start = next(i for i, text in enumerate(shown) if text.startswith("*Unmanaged* · 2 positions"))
    rows = [text for text in shown[start + 1 :] if POSITION.match(text)]
    assert [POSITION.match(text).group(1) for text in rows] == [  # type: ignore[union-attr]
        row["symbol"] for row in book["outside_portfolios"]
    ]
    for text, row in zip(rows, book["outside_portfolios"], strict=True):
        assert f"— {formatting.qty(row['qty'])} sh @ avg " in text
        assert f"Value {formatting.money(row['market_value'])} · unrealized " in text
        pnl = formatting.pnl(row["unrealized_pl"], row["unrealized_plpc"])
        assert f"unrealized {pnl}" in text


def test_only_admins_get_the_sell_of_unmanaged_positions(small_desk: Bot) -> None:
    small_desk.command("/positions")
    assert buttons(small_desk.wait_reply("positions"), ids.POSITION_CLOSE_ACCOUNT) == []
    small_desk.command("/positions", user=ADMIN)
    closes = buttons(small_desk.wait_reply("positions", 2), ids.POSITION_CLOSE_ACCOUNT)
    assert sorted(json.loads(b["value"])["symbol"] for b in closes) == ["AAPL", "TSLA"]


def test_account_shows_the_oms_capital_and_pnl_figures(small_desk: Bot) -> None:
    small_desk.command("/account")
    reply = small_desk.wait_reply("account")
    account = small_desk.oms.get("/account").json()  # type: ignore[attr-defined]
    fields = {
        title.strip("*"): value
        for block in reply["blocks"]
        for field in block.get("fields") or []
        for title, _, value in [field["text"].partition("\n")]
    }
    assert fields["Equity"] == formatting.money(account["equity"])
    assert fields["Buying power"] == formatting.money(account["buying_power"])
    # An OMS without the capital figures yet shows "—" for them: format only, either way.
    assert fields["Allocated capital"] == formatting.money(account.get("allocated_capital"))
    assert fields["Available capital"].endswith(formatting.money(account.get("available_capital")))
    realized = formatting.signed_money(account.get("total_realized_pnl"))
    assert fields["Total realized P&L"] == realized
    assert fields["Today's P&L"] == formatting.pnl(account.get("daily_pnl"))

"""/positions end to end, in both Slack modes, against the real OMS on the simulator: one OMS
request and one broker call per command and per page, positions grouped by portfolio and
sorted by market value, P&L in dollars and percent, and what the broker holds beyond every
portfolio shown as its own group."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest

from slack_bot.blocks import ids
from tests.slack_harness import MODES, Bot, bot_on_real_oms, buttons, text_of, unpaced

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
        elif text.startswith("*") and " · value " in text:
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
        "Outside every portfolio",
    ]
    assert shown[-1] == ("Outside every portfolio", "TSLA")
    last = text_of(pages[-1])
    assert "*Outside every portfolio*" in last and "dashboard" in last
    assert buttons(pages[-1], ids.POSITION_SELL) == []  # no portfolio owns it: no Sell
    sells = buttons(first, ids.POSITION_SELL)
    assert len(sells) == 15 and all('"portfolio":"alpha"' in b["value"] for b in sells)

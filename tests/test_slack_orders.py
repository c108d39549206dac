"""/orders end to end, in both Slack modes (signed HTTP requests, and Socket Mode over a real
websocket), against the real OMS on the simulator: every order reachable page by page with
the OMS's cursor, working orders found however old, and each line saying which portfolio it
is in and who placed it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from slack_bot.blocks import ids
from tests.slack_harness import MODES, TRADER, Bot, bot_on_real_oms, buttons, text_of, unpaced

ORDER_ID = re.compile(r"\* · #(\d+)\n")


@pytest.fixture(params=MODES)
def bot(request: pytest.FixtureRequest, oms: Any) -> Iterator[Bot]:
    # Capital for the 130 one-share AAPL buys the tests place.
    assert oms.patch("/portfolios/main", {"allocated_capital": "50000"}).status_code == 200
    with bot_on_real_oms(unpaced(oms), request.param) as bot:
        yield bot


def shown_ids(message: dict[str, Any]) -> list[int]:
    """The order ids a /orders message lists, top to bottom."""
    found = []
    for block in message.get("blocks") or []:
        text = (block.get("text") or {}).get("text") or ""
        found += [int(match) for match in ORDER_ID.findall(text)]
    return found


def place(bot: Bot, count: int, **body: Any) -> list[int]:
    placed = []
    for _ in range(count):
        response = bot.oms.trade(symbol="AAPL", qty="1", **body)  # type: ignore[attr-defined]
        assert response.status_code == 201, response.text
        placed.append(response.json()["id"])
    return placed


def page_through(bot: Bot, first: dict[str, Any]) -> tuple[list[int], list[dict[str, Any]]]:
    """Press Next until there is none: every id shown, and every page (the first included).
    Each press must cost exactly one OMS request, for one page."""
    seen, pages = shown_ids(first), [first]
    while following := buttons(pages[-1], ids.PAGE_NEXT):
        bot.oms_traffic.clear()  # type: ignore[attr-defined]
        answer = bot.click_button(following[0])
        assert answer.status_code == 200
        page = bot.wait_reply("action", len(pages))
        assert page["replace_original"] is True
        [request] = bot.oms_traffic.requests  # type: ignore[attr-defined]
        assert (request.url.path, request.url.params["limit"]) == ("/api/v1/trades", "15")
        seen += shown_ids(page)
        pages.append(page)
    return seen, pages


def test_every_order_is_reachable_one_oms_page_per_click(bot: Bot) -> None:
    placed = place(bot, 120)  # more than one OMS page of 100, more than 8 Slack pages
    assert bot.command("/orders").status_code == 200
    first = bot.wait_reply("orders")

    seen, pages = page_through(bot, first)

    assert seen == placed[::-1]  # all 120, newest first, none twice
    assert "Page 1 · orders 1 to 15" in text_of(first)
    assert len(pages) == 8 and "Page 8 · orders 106 to 120" in text_of(pages[-1])
    assert "no older orders" in text_of(pages[-1])
    # Previous goes back one page, asking the OMS again at that page's cursor.
    bot.click_button(buttons(pages[-1], ids.PAGE_PREV)[0])
    back = bot.wait_reply("action", len(pages))
    assert shown_ids(back) == placed[::-1][90:105]


def test_open_orders_are_found_however_old(bot: Bot) -> None:
    bot.oms.sim.control.set_price("AAPL", "190.00")  # type: ignore[attr-defined]
    bot.oms.sim.control.configure(max_step_bps=0)  # type: ignore[attr-defined]
    resting = place(bot, 20, order_type="limit", limit_price="150", time_in_force="gtc")
    place(bot, 110)  # newer and filled: the newest 100 orders hold no working one

    bot.command("/orders", "open")
    first = bot.wait_reply("orders")
    assert "Open orders" in text_of(first)
    seen, pages = page_through(bot, first)

    assert seen == resting[::-1]
    assert [len(buttons(page, ids.ORDER_CANCEL)) for page in pages] == [15, 5]
    [asked] = [r for r in bot.oms_traffic.requests if r.url.path.endswith("/trades")]  # type: ignore[attr-defined]
    assert asked.url.params["open"] == "true"  # the OMS filters, however old the order

    bot.command("/orders", "open msft")
    assert "Open MSFT orders: none" in bot.wait_reply("orders", 2)["text"]


def test_order_lines_say_which_portfolio_and_who_placed_them(bot: Bot) -> None:
    bot.oms.create_portfolio("growth")  # type: ignore[attr-defined]
    bot.oms.sim.control.set_price("MSFT", "400.00")  # type: ignore[attr-defined]
    bot.oms.sim.control.configure(max_step_bps=0)  # type: ignore[attr-defined]
    mine = place(bot, 1, requested_by=TRADER)[0]
    script = bot.oms.trade(  # type: ignore[attr-defined]
        portfolio="growth", symbol="MSFT", qty="2", requested_by="rebalance-script"
    ).json()["id"]

    bot.command("/orders")
    lines = {
        int(ORDER_ID.findall(block["text"]["text"])[0]): block["text"]["text"]
        for block in bot.wait_reply("orders")["blocks"]
        if block["type"] == "section" and ORDER_ID.search(block["text"]["text"])
    }
    assert "\n_main_ · by <@UTRADER1> · filled 1 @ $" in lines[mine]
    assert "\n_growth_ · by rebalance-script · filled 2 @ $400.00 = $800.00" in lines[script]


def test_unreadable_orders_filter_is_explained(bot: Bot) -> None:
    bot.command("/orders", "AAPL MSFT")
    reply = bot.wait_reply("orders")
    assert "Use /orders, /orders open, /orders AAPL or /orders open AAPL." in text_of(reply)
    assert bot.oms_traffic.paths() == []  # type: ignore[attr-defined]

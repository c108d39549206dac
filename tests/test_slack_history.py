"""/history end to end with the OMS mocked in the contract's shapes (respx): the real bolt app
over signed HTTP requests (and Socket Mode), the fake Slack Web API. What the bot asks the OMS
for each argument, the trades as the user sees them, page by page, the Legs button, and the
sentences for what it does not understand."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx

from slack_bot.blocks import ids
from slack_bot.oms_client import OmsClient
from tests.oms import TOKEN
from tests.slack_harness import (
    MODES,
    OMS_URL,
    STRANGER,
    TRADER,
    Bot,
    buttons,
    mocked_oms_router,
    running_bot,
    text_of,
)
from tests.test_slack_history_blocks import leg, trade


@pytest.fixture
def mocked_oms() -> Iterator[respx.MockRouter]:
    with mocked_oms_router() as router:
        router.post("/audit/refusals").respond(201, json={"id": 1})
        yield router


@pytest.fixture(params=MODES)
def bot(request: pytest.FixtureRequest, mocked_oms: respx.MockRouter) -> Iterator[Bot]:
    with running_bot(OmsClient(OMS_URL, TOKEN), request.param) as bot:
        yield bot


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("", {}),
        ("spy", {"symbol": "SPY"}),
        ("SPY250117C00500000", {"symbol": "SPY250117C00500000"}),
        ("iron condor", {"strategy": "iron_condor"}),
        ("vertical", {"strategy": "vertical_spread"}),
        ("SPY straddle", {"symbol": "SPY", "strategy": "straddle"}),
    ],
)
def test_each_argument_asks_the_oms_for_its_trades(
    bot: Bot, mocked_oms: respx.MockRouter, text: str, query: dict[str, str]
) -> None:
    route = mocked_oms.get("/history").respond(200, json={"trades": [], "next_cursor": None})
    bot.command("/history", text, user=TRADER)
    answer = bot.wait_reply("history")
    assert answer["response_type"] == "ephemeral"
    assert "No trades." in text_of(answer)
    assert dict(route.calls.last.request.url.params) == {"view": "trades", "limit": "15", **query}


def test_trades_page_by_page_and_the_legs_of_one(bot: Bot, mocked_oms: respx.MockRouter) -> None:
    first = [trade(trade_id=f"tr_{n:04d}") for n in range(15)]
    route = mocked_oms.get("/history").mock(
        side_effect=[
            httpx.Response(200, json={"trades": first, "next_cursor": "cur-2"}),
            httpx.Response(200, json={"trades": [trade(trade_id="tr_last")], "next_cursor": None}),
        ]
    )
    bot.command("/history", "SPY", user=TRADER)
    answer = bot.wait_reply("history")
    text = text_of(answer)
    assert "SPY trade history" in text
    assert text.count("*SPY iron condor 17 Jan*, 4 legs, credit $1.23, closed +$84.00") == 15

    [following] = buttons(answer, ids.PAGE_NEXT)
    bot.click_button(following, user=TRADER)
    second = bot.wait_reply("action")
    assert second["replace_original"] is True
    assert "Page 2 · trades 16 to 16, newest first · no older trades" in text_of(second)
    assert dict(route.calls.last.request.url.params) == {
        "view": "trades",
        "limit": "15",
        "cursor": "cur-2",
        "symbol": "SPY",
    }

    members = [leg(1, "SPY250117C00500000", "sell"), leg(2, "SPY250117C00510000", "buy")]
    detail = mocked_oms.get("/history/trades/tr_last").respond(
        200, json=dict(trade(trade_id="tr_last"), members=members)
    )
    [legs] = buttons(second, ids.HISTORY_LEGS)
    bot.click_button(legs, user=TRADER)
    shown = bot.wait_reply("action", 2)
    assert shown.get("replace_original") in (None, False)  # the list stays
    assert "Leg 1 · *sell 1* `SPY250117C00500000` (call $500.00 17 Jan) to open" in text_of(shown)
    assert detail.called


def test_what_history_does_not_understand_or_cannot_find(
    bot: Bot, mocked_oms: respx.MockRouter
) -> None:
    route = mocked_oms.get("/history").respond(200, json={"trades": [], "next_cursor": None})
    bot.command("/history", "butterfly", user=TRADER)
    assert "I did not understand “butterfly”. Use /history, /history SPY" in text_of(
        bot.wait_reply("history")
    )
    assert not route.called

    mocked_oms.get("/history/trades/tr_gone").respond(
        404, json={"error": {"code": "trade_not_found", "message": "no trade tr_gone"}}
    )
    bot.click(ids.HISTORY_LEGS, "tr_gone", user=TRADER)
    assert "That trade is no longer in the broker history" in text_of(bot.wait_reply("action"))
    bot.click(ids.HISTORY_LEGS, "../../trades", user=TRADER)
    assert "from an older message" in text_of(bot.wait_reply("action", 2))

    bot.command("/history", user=STRANGER)
    assert "not allowed" in text_of(bot.wait_reply("history", 2))
    assert not route.called

    mocked_oms.get("/history").mock(side_effect=httpx.ConnectError("refused"))
    bot.command("/oms", "history SPY", user=TRADER)
    assert "OMS unavailable — try again in a minute." in text_of(bot.wait_reply("oms"))

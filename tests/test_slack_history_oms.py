"""/history end to end against the real OMS on the simulator: the real bolt app over signed
HTTP requests, the fake Slack Web API. An iron condor opened and closed at the broker, and a
share purchase, are mirrored by the OMS's sync, and /history shows them grouped as a trader
says them, filtered by symbol or strategy, with the condor's legs one click away."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from slack_bot.blocks import ids
from tests.oms import OMS
from tests.slack_harness import TRADER, Bot, bot_on_real_oms, buttons, text_of

OPEN = (
    ("SPY250117P00480000", "buy", "0.50"),
    ("SPY250117P00490000", "sell", "1.10"),
    ("SPY250117C00510000", "sell", "1.20"),
    ("SPY250117C00520000", "buy", "0.57"),
)
# Bought back for a debit of 0.39: (1.23 - 0.39) x 100 = $84.00 kept.
CLOSE = (
    ("SPY250117P00480000", "sell", "0.10"),
    ("SPY250117P00490000", "buy", "0.40"),
    ("SPY250117C00510000", "buy", "0.30"),
    ("SPY250117C00520000", "sell", "0.21"),
)


def condor_order(legs: tuple[tuple[str, str, str], ...], intent: str, net: str, at: str) -> dict:
    return {
        "client_order_id": f"condor-{intent}",
        "order_class": "mleg",
        "type": "limit",
        "limit_price": net,
        "qty": "1",
        "time_in_force": "day",
        "status": "filled",
        "filled_avg_price": net,
        "submitted_at": at,
        "legs": [
            {
                "symbol": symbol,
                "side": side,
                "ratio_qty": "1",
                "position_intent": f"{side}_to_{intent}",
                "filled_avg_price": price,
            }
            for symbol, side, price in legs
        ],
    }


def shares(at: str) -> dict[str, Any]:
    return {
        "client_order_id": "dashboard-aapl",
        "symbol": "AAPL",
        "side": "buy",
        "type": "market",
        "qty": "10",
        "time_in_force": "day",
        "status": "filled",
        "filled_avg_price": "190",
        "submitted_at": at,
    }


@pytest.fixture
def real_bot(oms: OMS) -> Iterator[Bot]:
    oms.sim.control.seed_orders(
        [
            condor_order(OPEN, "open", "-1.23", "2025-01-02T15:00:00Z"),
            condor_order(CLOSE, "close", "0.39", "2025-01-10T15:00:00Z"),
            shares("2025-01-13T15:00:00Z"),
        ]
    )
    synced = oms.post("/sync", {"full": True})
    assert synced.status_code == 200, synced.text
    with bot_on_real_oms(oms) as bot:
        yield bot


def test_history_groups_the_condor_and_shows_its_legs(real_bot: Bot) -> None:
    real_bot.command("/history", user=TRADER)
    answer = real_bot.wait_reply("history", timeout=30)
    text = text_of(answer)
    assert "Trade history" in text
    assert "*SPY iron condor 17 Jan*, 4 legs, credit $1.23, closed +$84.00" in text, text
    assert "*AAPL shares*, debit $1,900.00" in text, text
    # Newest first: the shares were bought after the condor was closed.
    assert text.index("AAPL shares") < text.index("SPY iron condor")

    condor = [b for b in buttons(answer, ids.HISTORY_LEGS) if b["text"]["text"] == "Legs"]
    assert len(condor) == 1
    real_bot.click_button(condor[0], user=TRADER)
    legs = text_of(real_bot.wait_reply("action", timeout=30))
    assert "Leg 1 · *buy 1* `SPY250117P00480000` (put $480.00 17 Jan) to open" in legs, legs
    assert "`SPY250117C00520000` (call $520.00 17 Jan) to close" in legs
    assert legs.count("filled 1 @ ") == 8


@pytest.mark.parametrize(
    ("text", "shown", "hidden"),
    [
        ("SPY", "SPY iron condor", "AAPL shares"),
        ("SPY250117C00510000", "SPY iron condor", "AAPL shares"),
        ("iron condor", "SPY iron condor", "AAPL shares"),
        ("equity", "AAPL shares", "SPY iron condor"),
        ("aapl", "AAPL shares", "SPY iron condor"),
    ],
)
def test_history_filters_by_symbol_or_strategy(
    real_bot: Bot, text: str, shown: str, hidden: str
) -> None:
    real_bot.command("/history", text, user=TRADER)
    answer = text_of(real_bot.wait_reply("history", timeout=30))
    assert shown in answer and hidden not in answer, answer


def test_a_strategy_without_trades_says_so(real_bot: Bot) -> None:
    real_bot.command("/history", "straddle", user=TRADER)
    assert "*Straddle history*\\nNo trades." in text_of(real_bot.wait_reply("history", timeout=30))

"""/reconcile end to end against the real OMS on the simulator: the real bolt app over signed
HTTP requests, the fake Slack Web API. An order placed in Alpaca's dashboard (outside the OMS)
shows up as a discrepancy in plain words; a trader sees no repair button and a trader's forged
click is refused and in the audit trail; an admin's Adopt brings the order into the OMS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from slack_bot.blocks import ids
from tests.oms import OMS
from tests.slack_harness import ADMIN, TRADER, Bot, bot_on_real_oms, buttons, text_of
from tests.waiting import wait_until


@pytest.fixture
def real_bot(oms_factory: Any) -> Iterator[Bot]:
    """The OMS without stream or poller (an order placed at the broker stays unknown to it
    until reconciled) and no grace period, with a portfolio "main"."""
    with oms_factory(stream_enabled=False, background=False, reconcile_grace_seconds=0) as oms:
        oms.create_portfolio("main")
        with bot_on_real_oms(oms) as bot:
            yield bot


def steady(oms: OMS, **prices: str) -> None:
    for symbol, price in prices.items():
        oms.sim.control.set_price(symbol, price)
    oms.sim.control.configure(max_step_bps=0)


def bought_outside_the_oms(oms: OMS, symbol: str, qty: int) -> str:
    """A market buy placed straight at the broker (as in Alpaca's dashboard): its id."""
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import MarketOrderRequest

    order = oms.sim.trading.submit_order(
        MarketOrderRequest(
            symbol=symbol, qty=qty, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
        )
    )
    return str(order.id)


def refusals(oms: OMS) -> list[dict[str, Any]]:
    return oms.get("/audit", params={"action": "refused_by_bot"}).json()["entries"]


def test_a_report_in_sync_then_an_order_from_outside_adopted_by_an_admin(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    steady(oms, AAPL="190.00", TSLA="250.00")
    placed = oms.trade(symbol="AAPL", qty="10")
    assert placed.status_code == 201, placed.text

    real_bot.command("/reconcile", user=TRADER)
    clean = real_bot.wait_reply("reconcile", timeout=30)
    text = text_of(clean)
    assert "in sync — the OMS and the broker agree." in text, text
    assert f"(run by <@{TRADER}>)" in text
    assert buttons(clean, ids.RECONCILE_REPAIR) == []

    oms.sim.control.advance(600)  # ten minutes later, someone uses the broker's dashboard
    broker_id = bought_outside_the_oms(oms, "TSLA", 3)
    real_bot.command("/reconcile", user=TRADER)
    seen = real_bot.wait_reply("reconcile", 2, timeout=30)
    text = text_of(seen)
    assert ":warning: *" in text and "discrepanc" in text, text
    assert "TSLA" in text and "missing in the OMS" in text, text
    assert "not in the OMS (placed outside the OMS) · _can be adopted_" in text
    assert "• *TSLA*: the broker holds *3*, portfolios hold *0* — 3 unmanaged" in text
    assert buttons(seen, ids.RECONCILE_REPAIR) == []  # a trader: no repair buttons
    assert "An OMS admin can repair some of these from /reconcile." in text

    real_bot.command("/reconcile", user=ADMIN)
    report = real_bot.wait_reply("reconcile", 3, timeout=30)
    adopt = [
        b for b in buttons(report, ids.RECONCILE_REPAIR) if b["text"]["text"].startswith("Adopt")
    ]
    assert [b["text"]["text"] for b in adopt] == ["Adopt 1 missing order"], text_of(report)
    assert adopt[0]["confirm"]["confirm"]["text"] == "Adopt 1"

    # The admin's button, forwarded to a trader and clicked: refused, recorded, nothing adopted.
    real_bot.click_button(adopt[0], user=TRADER)
    refused = text_of(real_bot.wait_reply("action"))
    assert "Sorry, only OMS admins may repair reconciliation discrepancies" in refused
    wait_until(lambda: len(refusals(oms)) == 1, what="the refusal in the audit trail")
    [entry] = refusals(oms)
    assert (entry["actor"], entry["result"]) == (TRADER, "refused")
    assert entry["details"]["attempted"] == f"button {ids.RECONCILE_REPAIR}"
    assert [t["symbol"] for t in oms.get("/trades").json()["trades"]] == ["AAPL"]

    real_bot.click_button(adopt[0], user=ADMIN)
    done = real_bot.wait_reply("action", 2, timeout=30)
    assert done["replace_original"] is True
    assert done["blocks"][0]["text"]["text"] == ":white_check_mark: Adopted 1 missing order.", (
        text_of(done)
    )
    assert f"adopted by <@{ADMIN}>" in text_of(done)
    trades = oms.get("/trades").json()["trades"]
    assert {t["symbol"] for t in trades} == {"TSLA", "AAPL"}
    assert any(t.get("broker_order_id") == broker_id for t in trades)

    # The same button once more: nothing is left to adopt, said in a new message.
    real_bot.click_button(adopt[0], user=ADMIN)
    again = real_bot.wait_reply("action", 3, timeout=30)
    assert "Nothing is left to repair in this report" in text_of(again)

    real_bot.command("/reconcile", user=ADMIN)
    after = text_of(real_bot.wait_reply("reconcile", 4, timeout=30))
    assert "missing in the OMS" not in after
    # Adopted as an order outside every portfolio: the 3 shares are still nobody's.
    assert "• *TSLA*: the broker holds *3*, portfolios hold *0* — 3 unmanaged" in after

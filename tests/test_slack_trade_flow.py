"""Trading from Slack end to end, in both Slack modes, against the real OMS on the simulator:
notices styled by their outcome, the result's total value and fill time, every time in the
reader's own zone (market hours in ET too), refusals in one human sentence, and Review asking
the OMS for the quote and the market's hours at once."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from oms_api.broker.budget import BrokerBudget, BudgetPolicy, MemoryBucket, Priority
from slack_bot.blocks import ids
from slack_bot.formatting import parse_time
from slack_bot.forms import TradeDraft, encode_metadata
from tests.slack_fakes import static_select
from tests.slack_harness import (
    CHANNEL,
    FORM_META,
    MODES,
    TRADER,
    Bot,
    bot_on_real_oms,
    text_of,
    trade_values,
)

SLACK_DATE = re.compile(r"<!date\^(\d+)\^\{[a-z_]+\}(?: \{[a-z_]+\})?\|[^>]+>")
# Leaks of the OMS's internal wording, never for traders' eyes.
INTERNAL_WORDS = ("budget", "slot", "client-side", "may wait", "Errno", "Exception")


@pytest.fixture(params=MODES)
def bot(request: pytest.FixtureRequest, oms: Any) -> Iterator[Bot]:
    with bot_on_real_oms(oms, request.param) as bot:
        yield bot


def steady_prices(bot: Bot) -> None:
    bot.oms.sim.control.set_price("AAPL", "190.00")  # type: ignore[attr-defined]
    bot.oms.sim.control.configure(max_step_bps=0)  # type: ignore[attr-defined]


def place_from_the_modal(bot: Bot, **fields: Any) -> tuple[dict, dict]:
    """Review, then Place order: (the ack of Place order, the modal's final notice)."""
    confirm = bot.submit(ids.TRADE_FORM, trade_values(**fields), FORM_META)["view"]
    placing = bot.submit(ids.TRADE_CONFIRM, {}, confirm["private_metadata"])
    bot.slack.wait_for("chat.postMessage")
    notice = bot.slack.wait_for("views.update", where=lambda c: c.args["view_id"] == "VMODAL1")
    return placing, notice[-1].args["view"]


def first_text(view: dict[str, Any]) -> str:
    return view["blocks"][0]["text"]["text"]


def draft(**changes: Any) -> TradeDraft:
    fields: dict[str, Any] = {
        "portfolio": "main",
        "symbol": "AAPL",
        "side": "buy",
        "qty": Decimal(1),
        "notional": None,
        "order_type": "market",
        "time_in_force": "day",
        "limit_price": None,
        "stop_price": None,
        "take_profit": None,
        "stop_loss": None,
        "extended_hours": False,
        "reason": None,
    }
    return TradeDraft(**{**fields, **changes})


def exhaust_the_broker_budget(bot: Bot) -> None:
    """The OMS's real budget with its clock stopped and its last slot taken: the next one is
    30 s away, so every broker request is refused (503 broker_busy, retry in 30 s)."""
    bucket = MemoryBucket(monotonic=lambda: 0.0)
    policy = BudgetPolicy(per_minute=2, burst=1)
    assert bucket.take(policy, policy.floor(Priority.CRITICAL)) == 0.0
    bot.oms.runtime.gateway.budget = BrokerBudget(policy, bucket)  # type: ignore[attr-defined]


# ------------------------------------------------------------------ 3. notices by outcome
def test_a_filled_order_is_told_as_a_success_and_a_resting_one_as_working(bot: Bot) -> None:
    steady_prices(bot)
    placing, notice = place_from_the_modal(bot)
    assert first_text(placing["view"]) == ":hourglass_flowing_sand: Placing your order…"
    assert first_text(notice).startswith(":white_check_mark: Buy 3 AAPL at market: filled 3 @ ")
    assert ":x:" not in text_of(notice)

    bot.slack.reset()
    _, notice = place_from_the_modal(
        bot, **{ids.ORDER_TYPE: static_select("limit"), ids.LIMIT_PRICE: "150"}
    )
    text = first_text(notice)
    assert text.startswith(":hourglass_flowing_sand: Buy 3 AAPL limit $150.00: accepted")
    assert "working at the broker" in text


# ------------------------------------------------------------------ 5. value and fill time
def test_the_result_shows_the_total_value_and_when_it_filled(bot: Bot) -> None:
    steady_prices(bot)
    place_from_the_modal(bot)
    [trade] = bot.oms.get("/trades").json()["trades"]  # type: ignore[attr-defined]
    total = Decimal(trade["filled_qty"]) * Decimal(trade["filled_avg_price"])
    filled_at = int(parse_time(trade["filled_at"]).timestamp())  # type: ignore[union-attr]
    posted = text_of(bot.slack.last("chat.postMessage").args)
    assert f"*Value*\\n${total:,.2f}" in posted
    assert f"*Filled at*\\n<!date^{filled_at}^{{date_short_pretty}} {{time_secs}}|" in posted


# ------------------------------------------------------------------ 4. times
def assert_times_read_in_each_zone(payload: dict[str, Any], *, at_least: int) -> None:
    """Every time a Slack date token (never in plain_text, where it would show raw); no
    hard-coded UTC outside the tokens' fallbacks."""
    tokens = 0

    def walk(node: Any) -> None:
        nonlocal tokens
        if isinstance(node, dict):
            if node.get("type") == "plain_text":
                assert "<!date" not in node["text"]
            elif node.get("type") == "mrkdwn":
                tokens += len(SLACK_DATE.findall(node["text"]))
                assert "UTC" not in SLACK_DATE.sub("", node["text"]), node["text"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(payload.get("blocks"))
    assert tokens >= at_least


def test_every_time_reads_in_the_readers_zone_and_market_hours_in_et(bot: Bot) -> None:
    steady_prices(bot)
    bot.command("/market")
    market = bot.wait_reply("market")
    assert_times_read_in_each_zone(market, at_least=3)  # next open, next close, as of
    assert re.search(r"\((Mon|Tue|Wed|Thu|Fri) 9:30 AM ET\)", text_of(market))
    assert re.search(r"\((Mon|Tue|Wed|Thu|Fri) 4:00 PM ET\)", text_of(market))

    bot.command("/trade", "AAPL buy 3")
    form = bot.slack.wait_for("views.update")[-1].args["view"]
    assert_times_read_in_each_zone(form, at_least=2)  # the quote's time, the market's close

    place_from_the_modal(bot)
    assert_times_read_in_each_zone(bot.slack.last("chat.postMessage").args, at_least=3)
    bot.command("/orders")
    assert_times_read_in_each_zone(bot.wait_reply("orders"), at_least=1)


# ------------------------------------------------------------------ 6. human sentences
def test_a_busy_broker_is_told_in_one_sentence_with_when_to_retry(bot: Bot) -> None:
    exhaust_the_broker_budget(bot)
    bot.command("/account")
    account = text_of(bot.wait_reply("account"))
    assert (
        "The broker is busy right now (Alpaca allows 200 requests a minute), so the account "
        "could not be read. Try again in 30 s."
    ) in account
    bot.command("/positions")
    positions = text_of(bot.wait_reply("positions"))
    assert "No open positions" in positions or "Prices are unavailable" in positions
    for words in INTERNAL_WORDS:
        assert words not in account and words not in positions

    review = bot.submit(ids.TRADE_FORM, trade_values(), FORM_META)
    assert review["response_action"] == "errors"
    assert "The broker is busy right now" in review["errors"][ids.SYMBOL]

    meta = encode_metadata("c" * 32, draft(), CHANNEL, TRADER, "trade", issued_at=bot.clock.now)
    bot.submit(ids.TRADE_CONFIRM, {}, meta)
    told = text_of(bot.slack.wait_for("chat.postEphemeral")[-1].args)
    assert "Nothing was sent — try again in 30 s." in told
    notice = bot.slack.wait_for("views.update")[-1].args["view"]
    assert first_text(notice).startswith(":x: The broker is busy right now")
    for words in INTERNAL_WORDS:
        assert words not in told
    assert bot.oms.get("/trades").json()["trades"] == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", MODES)
def test_an_order_whose_outcome_is_unknown_says_do_not_place_it_again(
    oms_factory: Any, mode: str
) -> None:
    # No trade stream: nothing but the lost answer and the failed look-ups tells the OMS.
    with oms_factory(stream_enabled=False) as oms, bot_on_real_oms(oms, mode) as bot:
        oms.create_portfolio("main")
        oms.sim.control.add_fault("POST /v2/orders", "drop_reply")  # placed; answer lost
        oms.sim.control.add_fault(
            "GET /v2/orders:by_client_order_id", "status", status=503, count=None
        )
        meta = encode_metadata("d" * 32, draft(), CHANNEL, TRADER, "trade", issued_at=0.0)
        bot.clock.now = 0.0
        bot.submit(ids.TRADE_CONFIRM, {}, meta)
        told = text_of(bot.slack.wait_for("chat.postEphemeral")[-1].args)
        notice = bot.slack.wait_for("views.update")[-1].args["view"]
    assert ":warning: The broker did not confirm this order" in told
    assert "Do not place it again" in told and "/orders" in told
    assert first_text(notice).startswith(":warning: The broker did not confirm")


def test_the_simulator_badge_says_what_it_is(bot: Bot) -> None:
    confirm = bot.submit(ids.TRADE_FORM, trade_values(), FORM_META)["view"]
    assert "*SIMULATOR* (a local simulated broker — no real orders)" in text_of(confirm)


# ------------------------------------------------------------------ 8. Review asks at once
def test_review_asks_for_the_quote_and_the_market_hours_at_once(bot: Bot) -> None:
    """The quote is held until the market-hours request has started too (or 2 s): asked one
    after the other, the quote would wait alone."""
    market_asked = threading.Event()
    overlapped: list[bool] = []

    def hold_the_quote(request: httpx.Request) -> None:
        if request.url.path.endswith("/market-status"):
            market_asked.set()
        elif "/quote/" in request.url.path:
            overlapped.append(market_asked.wait(2.0))

    bot.oms_traffic.before = hold_the_quote  # type: ignore[attr-defined]
    answer = bot.submit(ids.TRADE_FORM, trade_values(), FORM_META)
    assert answer["view"]["callback_id"] == ids.TRADE_CONFIRM
    assert "Market open" in text_of(answer["view"])
    assert overlapped == [True]

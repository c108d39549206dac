"""The trading controls from Slack, end to end: the real bolt app over signed HTTP requests (and
Socket Mode over a real websocket), the fake Slack Web API, and the real OMS on the simulator.
/stop, /halt, /resume, /desk, /portfolio, /audit, Emergency sell on /positions, and a trade
refused while trading is halted — each test asserts what the user sees in Slack and what the
OMS did. An emergency stop runs on the OMS's injected clock, and the bot's poll of it waits on
the stop itself (no real-time sleeps)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from oms_api.audit.service import Actor
from slack_bot.blocks import ids
from slack_bot.formatting import slack_time, when
from slack_bot.oms_client import OmsClient
from tests.oms import OMS, TOKEN
from tests.slack_fakes import checkboxes, form_values
from tests.slack_harness import (
    ADMIN,
    CHANNEL,
    FORM_META,
    MODES,
    OMS_URL,
    STRANGER,
    TRADER,
    Bot,
    bot_on_real_oms,
    buttons,
    mocked_oms_router,
    running_bot,
    text_of,
    trade_values,
)
from tests.waiting import wait_until

ADA = {"requested_by": ADMIN, "requested_by_name": "ada"}


# ----------------------------------------------------------------------------- helpers
class HeldStopClock:
    """The OMS stop's clock: its first sleep (while it verifies) is held until the test lets
    it go; every sleep moves this clock and the simulator's, never real time."""

    def __init__(self, oms: OMS) -> None:
        self.oms = oms
        self.now = 1000.0
        self.holding = threading.Event()
        self.release = threading.Event()
        oms.runtime.stops.monotonic = lambda: self.now
        oms.runtime.stops.sleep = self.sleep

    def sleep(self, seconds: float) -> None:
        if not self.holding.is_set():
            self.holding.set()
            self.release.wait(10)
        self.now += seconds
        self.oms.sim.control.advance(seconds)


class StopPolls:
    """The bot's sleep between two looks at the stop: the first waits until the OMS's stop is
    held mid-verification (so the bot sees it running), the next lets the stop finish and
    waits for it."""

    def __init__(self, oms: OMS, clock: HeldStopClock) -> None:
        self.oms, self.clock = oms, clock
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if len(self.calls) == 1:
            stops = self.oms.runtime.stops
            wait_until(
                lambda: self.clock.holding.is_set() or not stops.busy(),
                timeout=20,
                what="the OMS's stop to verify",
            )
        else:
            self.clock.release.set()
            self.oms.runtime.stops.join(timeout=30)


def steady(oms: OMS, **prices: str) -> None:
    for symbol, price in prices.items():
        oms.sim.control.set_price(symbol, price)
    oms.sim.control.configure(max_step_bps=0)


def buy(oms: OMS, symbol: str, qty: str, **extra: Any) -> dict[str, Any]:
    response = oms.trade(symbol=symbol, qty=qty, **extra)
    assert response.status_code == 201, response.text
    return response.json()


def modal(bot: Bot, callback_id: str, count: int = 1) -> tuple[str, dict[str, Any]]:
    """(view id, view) of the `count`-th `callback_id` modal filled after its loading view."""
    update = bot.slack.wait_for(
        "views.update", count, where=lambda c: c.args["view"].get("callback_id") == callback_id
    )[count - 1]
    return update.args["view_id"], update.args["view"]


def notice(bot: Bot, view_id: str) -> str:
    """The sentence a modal ends on (after the bot's work)."""
    return bot.slack.view(view_id)["blocks"][0]["text"]["text"]


def wait_notice(bot: Bot, view_id: str, starts: str) -> str:
    wait_until(
        lambda: notice(bot, view_id).startswith(starts), timeout=20, what=f"the modal: {starts}"
    )
    return notice(bot, view_id)


def reason_values(reason: str, *, confirm: bool | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {ids.REASON: reason}
    if confirm is not None:
        fields[ids.CONFIRM] = checkboxes(["yes"] if confirm else [])
    return form_values(fields)


def refusals(oms: OMS) -> list[dict[str, Any]]:
    return oms.get("/audit", params={"action": "refused_by_bot"}).json()["entries"]


def audit_of(oms: OMS, action: str) -> list[dict[str, Any]]:
    return oms.get("/audit", params={"action": action}).json()["entries"]


@pytest.fixture
def real_bot(oms: OMS) -> Iterator[Bot]:
    with bot_on_real_oms(oms) as bot:
        yield bot


# ----------------------------------------------------------------------------- /stop
def test_stop_by_a_non_admin_is_refused_recorded_and_changes_nothing(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    assert real_bot.command("/stop", "panic", user=TRADER).status_code == 200
    reply = text_of(real_bot.wait_reply("stop"))
    assert "Sorry, only OMS admins may start an emergency stop from Slack" in reply
    assert real_bot.slack.calls("views.open") == []
    wait_until(lambda: len(refusals(oms)) == 1, what="the refusal in the audit trail")
    [entry] = refusals(oms)
    assert (entry["actor"], entry["result"]) == (TRADER, "refused")
    assert entry["details"] == {
        "attempted": "/stop",
        "reason": "user not allowed (admins only)",
        "channel_id": CHANNEL,
    }
    assert oms.get("/emergency-stops").json()["stops"] == []
    assert oms.get("/trading-state").json()["state"] == "active"


@pytest.mark.parametrize("mode", MODES)
def test_an_admins_stop_confirms_with_the_counts_then_its_message_follows_it_to_flat(
    oms: OMS, mode: str
) -> None:
    steady(oms, AAPL="190.00", MSFT="410.00", NVDA="120.00")
    buy(oms, "AAPL", "10")
    buy(oms, "MSFT", "4")
    resting = buy(oms, "NVDA", "5", order_type="limit", limit_price="100.00")
    # The closing orders fill in two parts, a simulated second apart: the stop sees the first
    # part, and waits (on its clock, held by the test) for the second.
    oms.sim.control.configure(fill_parts=2, fill_interval_seconds="1")
    clock = HeldStopClock(oms)
    with bot_on_real_oms(oms, mode) as bot:
        polls = StopPolls(oms, clock)
        bot.deps.sleep = polls

        assert bot.command("/stop", "flash crash", user=ADMIN).status_code == 200
        [loading] = bot.slack.wait_for("views.open")
        assert "Loading" in text_of(loading.args["view"])
        view_id, confirm = modal(bot, ids.STOP_CONFIRM)
        shown = text_of(confirm)
        assert "*Cancel all 1 open order*" in shown
        assert "*Close all 2 positions* (total market value *$3,540.00*) at market" in shown
        assert "SIMULATOR" in shown and "Trading *ACTIVE*" in shown
        [reason] = [b for b in confirm["blocks"] if b.get("block_id") == ids.REASON]
        assert reason["element"]["initial_value"] == "flash crash"

        # Without the box ticked nothing starts.
        answer = bot.submit(
            ids.STOP_CONFIRM,
            reason_values("flash crash", confirm=False),
            confirm["private_metadata"],
            user=ADMIN,
            view_id=view_id,
        )
        assert answer["response_action"] == "errors" and ids.CONFIRM in answer["errors"]
        assert oms.get("/emergency-stops").json()["stops"] == []

        answer = bot.submit(
            ids.STOP_CONFIRM,
            reason_values("flash crash", confirm=True),
            confirm["private_metadata"],
            user=ADMIN,
            view_id=view_id,
        )
        assert answer["response_action"] == "update"
        assert "Starting the emergency stop" in text_of(answer["view"])

        [started] = bot.slack.wait_for("chat.postMessage")
        first = text_of(started.args)
        assert started.args["channel"] == CHANNEL
        assert "Emergency stop #" in first and f"started by <@{ADMIN}>" in first
        assert "*RUNNING*" in first and "*Why:* flash crash" in first
        assert "started: trading is halted" in wait_notice(bot, view_id, ":hourglass")

        # Seen while the stop verifies, then its result: the same message, updated in place.
        bot.slack.wait_for("chat.update", timeout=30, where=lambda c: "FLAT" in text_of(c.args))
        updates = bot.slack.calls("chat.update")
        progress, final = updates[0].args, updates[-1].args
        assert "*RUNNING* — checking that nothing is left open" in text_of(progress)
        assert {u.args["ts"] for u in updates} == {progress["ts"]}
        assert progress["channel"] == final["channel"] == CHANNEL
        result = text_of(final)
        assert ":white_check_mark: *FLAT* — every position is closed" in result
        assert "*Orders canceled*\\n1" in result
        table = next(
            b["text"]["text"]
            for b in final["blocks"]
            if "```" in (b.get("text") or {}).get("text", "")
        )
        rows = {line.split()[0]: line.split() for line in table.strip("`\n").splitlines()[1:]}
        assert rows["AAPL"] == ["AAPL", "long", "10", "10", "$190.00", "closed"]
        assert rows["MSFT"] == ["MSFT", "long", "4", "4", "$410.00", "closed"]
        assert "Trading stays HALTED — an admin must /resume." in result
        assert buttons(final, ids.CONTROLS_RESUME)
        assert len(bot.slack.calls("chat.postMessage")) == 1
        assert len(polls.calls) == 2

    [stop] = oms.get("/emergency-stops").json()["stops"]
    assert stop["status"] == "flat" and stop["reason"] == "flash crash"
    assert (stop["requested_by"], stop["channel_id"]) == (ADMIN, CHANNEL)
    assert oms.get(f"/trades/{resting['id']}").json()["status"] == "canceled"
    assert oms.get("/trading-state").json()["state"] == "halted"


def test_a_stop_while_one_runs_shows_that_stop_and_resume_waits_for_it(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    running = oms.runtime.stops.start(Actor.of(ADMIN, "ada"), "broker incident")  # not run yet

    real_bot.command("/stop", "again", user=ADMIN)
    view_id, confirm = modal(real_bot, ids.STOP_CONFIRM)
    assert f"Emergency stop #{running.id} is already running" in text_of(confirm)
    real_bot.submit(
        ids.STOP_CONFIRM,
        reason_values("again", confirm=True),
        confirm["private_metadata"],
        user=ADMIN,
        view_id=view_id,
    )
    told = real_bot.slack.wait_for("chat.postEphemeral")[-1].args
    assert told["user"] == ADMIN
    assert f"Emergency stop #{running.id} was already running — nothing new was started" in (
        text_of(told)
    )
    assert "*Why:* broker incident" in text_of(told)
    assert wait_notice(real_bot, view_id, ":warning:").startswith(
        f":warning: Emergency stop #{running.id} was already running"
    )
    assert real_bot.slack.calls("chat.postMessage") == []
    assert len(oms.get("/emergency-stops").json()["stops"]) == 1

    # /resume while it runs: the confirmation warns, and the OMS's refusal is one sentence.
    real_bot.command("/resume", "all clear", user=ADMIN)
    view_id, confirm = modal(real_bot, ids.RESUME_CONFIRM)
    assert f"Emergency stop #{running.id} is still running" in text_of(confirm)
    real_bot.submit(
        ids.RESUME_CONFIRM,
        reason_values("all clear"),
        confirm["private_metadata"],
        user=ADMIN,
        view_id=view_id,
    )
    sentence = (
        f"An emergency stop is still running (#{running.id}), so trading cannot be resumed "
        "yet: resume once it has finished (/desk shows it). Nothing was changed."
    )
    assert wait_notice(real_bot, view_id, ":x:") == f":x: {sentence}"
    assert sentence in text_of(real_bot.slack.wait_for("chat.postEphemeral", 2)[-1].args)
    assert oms.get("/trading-state").json()["state"] == "halted"

    # Once the stop has finished, the Resume button on its message resumes trading.
    oms.runtime.stops.run(running.id)
    real_bot.click(ids.CONTROLS_RESUME, "resume", user=ADMIN)
    view_id, confirm = modal(real_bot, ids.RESUME_CONFIRM, 2)
    assert "Trading *HALTED* by <@UADMIN1> since" in text_of(confirm)
    answer = real_bot.submit(
        ids.RESUME_CONFIRM,
        reason_values("positions checked"),
        confirm["private_metadata"],
        user=ADMIN,
        view_id=view_id,
    )
    assert "Resuming trading" in text_of(answer["view"])
    [posted] = real_bot.slack.wait_for("chat.postMessage")
    assert f"Trading *resumed* by <@{ADMIN}>" in text_of(posted.args)
    assert "*Why:* positions checked" in text_of(posted.args)
    state = oms.get("/trading-state").json()
    assert (state["state"], state["changed_by"], state["reason"]) == (
        "active",
        ADMIN,
        "positions checked",
    )


# ----------------------------------------------------------------------------- /halt
def test_halt_confirms_then_tells_the_channel_and_resume_is_for_admins_only(
    real_bot: Bot,
) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    real_bot.command("/halt", "news pending", user=ADMIN)
    view_id, confirm = modal(real_bot, ids.HALT_CONFIRM)
    assert "Nothing is canceled or closed" in text_of(confirm)
    real_bot.submit(
        ids.HALT_CONFIRM,
        reason_values("news pending"),
        confirm["private_metadata"],
        user=ADMIN,
        view_id=view_id,
    )
    [posted] = real_bot.slack.wait_for("chat.postMessage")
    assert f":octagonal_sign: Trading *HALTED* by <@{ADMIN}>" in text_of(posted.args)
    assert "*Why:* news pending" in text_of(posted.args)
    assert wait_notice(real_bot, view_id, ":white_check_mark:").endswith(
        "Trading is HALTED: every new order is refused until an admin runs /resume."
    )
    state = oms.get("/trading-state").json()
    assert (state["state"], state["changed_by"], state["reason"]) == (
        "halted",
        ADMIN,
        "news pending",
    )

    # A trader pressing the message's Resume button is refused (and recorded).
    [resume] = buttons(posted.args, ids.CONTROLS_RESUME)
    real_bot.click_button(resume, user=TRADER)
    assert "only OMS admins may resume trading" in text_of(real_bot.wait_reply("action"))
    wait_until(lambda: len(refusals(oms)) == 1, what="the refusal in the audit trail")
    assert refusals(oms)[0]["details"]["attempted"] == f"button {ids.CONTROLS_RESUME}"
    assert len(real_bot.slack.calls("views.open")) == 1  # the halt's own modal only


# ----------------------------------------------------------------------------- halted trading
def test_a_trade_refused_while_halted_says_who_halted_it_since_when_and_why(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    steady(oms, AAPL="190.00")
    halted = oms.post("/halt", {"reason": "flash crash", **ADA})
    assert halted.status_code == 200, halted.text
    since = halted.json()["since"]

    confirm = real_bot.submit(ids.TRADE_FORM, trade_values(), FORM_META)["view"]
    real_bot.submit(ids.TRADE_CONFIRM, {}, confirm["private_metadata"])
    told = text_of(real_bot.slack.wait_for("chat.postEphemeral")[-1].args)
    sentence = (
        f"Trading is halted by ada since {when(since)}: flash crash. Nothing was sent. "
        "An admin can /resume."
    )
    assert sentence in told
    notice_view = real_bot.slack.wait_for("views.update")[-1].args["view"]
    assert notice_view["blocks"][0]["text"]["text"] == f":x: {sentence}"
    assert oms.get("/trades").json()["trades"] == []


# ----------------------------------------------------------------------------- /desk
@pytest.mark.parametrize("mode", MODES)
def test_desk_shows_trading_state_active_then_halted(oms: OMS, mode: str) -> None:
    steady(oms, AAPL="190.00")
    buy(oms, "AAPL", "1", order_type="limit", limit_price="150.00")
    with bot_on_real_oms(oms, mode) as bot:
        assert bot.command("/desk", user=TRADER).status_code == 200
        active = bot.wait_reply("desk")
        assert active["response_type"] == "ephemeral"
        text = text_of(active)
        assert ":large_green_circle: Trading *ACTIVE*" in text
        assert "*Mode*\\n:test_tube: *SIMULATOR*" in text
        assert "*Open orders*\\n1" in text
        assert "*Broker*\\n:large_green_circle: connected" in text
        assert "*Trade stream*\\n:large_green_circle: connected" in text
        assert "*Emergency stop*\\nnone running" in text
        assert "*Today's P&L*\\n" in text
        assert buttons(active, ids.CONTROLS_RESUME) == []

        state = oms.post("/halt", {"reason": "news pending", **ADA}).json()
        bot.command("/desk", user=TRADER)
        text = text_of(bot.wait_reply("desk", 2))
        assert (
            f":octagonal_sign: Trading *HALTED* by <@{ADMIN}> since "
            f"{slack_time(state['since'])} — news pending"
        ) in text
        assert "New orders are refused until an admin runs /resume." in text

        bot.command("/desk", user=STRANGER)
        assert "not allowed" in text_of(bot.wait_reply("desk", 3))


# ----------------------------------------------------------------------------- emergency sell
def test_emergency_sell_from_positions_sells_at_market_and_pauses_the_portfolio(
    real_bot: Bot,
) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    steady(oms, AAPL="190.00")
    buy(oms, "AAPL", "10")
    oms.post("/halt", {"reason": "risk review", **ADA})  # an emergency sell still goes through

    real_bot.command("/positions", user=TRADER)
    listing = real_bot.wait_reply("positions")
    [button] = buttons(listing, ids.POSITION_EMERGENCY_SELL)
    assert button["style"] == "danger"
    assert button["confirm"]["text"]["text"] == (
        "Sell all 10 AAPL of portfolio main at market now and pause main?"
    )

    real_bot.click_button(button, user=TRADER)
    [posted] = real_bot.slack.wait_for("chat.postMessage", timeout=20)
    sold = oms.get("/trades").json()["trades"][0]  # newest first: the emergency sell
    assert (sold["side"], sold["status"], Decimal(sold["filled_qty"])) == ("sell", "filled", 10)
    assert sold["requested_by"] == TRADER
    text = text_of(posted.args)
    assert f":rotating_light: *Emergency sell* of main's AAPL by <@{TRADER}>." in text
    assert f"*Order*\\n#{sold['id']}" in text
    assert f"*Broker order id*\\n`{sold['broker_order_id']}`" in text
    assert "*Filled*\\n10 @ $190.00" in text
    assert "Portfolio *main* is paused — an admin can `/portfolio resume main`." in text
    assert {p["name"]: p["status"] for p in oms.get("/portfolios").json()} == {"main": "paused"}
    [entry] = audit_of(oms, "emergency_sell")
    assert (entry["actor"], entry["result"]) == (TRADER, "ok")

    # The same button again: nothing more is sent.
    real_bot.click_button(button, user=TRADER)
    assert "already sent from this message" in text_of(real_bot.wait_reply("action"))
    assert len(oms.get("/trades").json()["trades"]) == 2


def test_closing_a_position_outside_every_portfolio_is_for_admins(real_bot: Bot) -> None:
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import MarketOrderRequest

    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    steady(oms, TSLA="250.00")
    oms.sim.trading.submit_order(  # bought in Alpaca's dashboard: in no portfolio
        MarketOrderRequest(symbol="TSLA", qty=3, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    real_bot.command("/positions", user=TRADER)
    assert buttons(real_bot.wait_reply("positions"), ids.POSITION_CLOSE_ACCOUNT) == []
    real_bot.command("/positions", user=ADMIN)
    [close] = buttons(real_bot.wait_reply("positions", 2), ids.POSITION_CLOSE_ACCOUNT)

    real_bot.click_button(close, user=TRADER)  # a forwarded button is still refused
    assert "only OMS admins may close an unmanaged position" in text_of(
        real_bot.wait_reply("action")
    )

    real_bot.click_button(close, user=ADMIN)
    [posted] = real_bot.slack.wait_for("chat.postMessage", timeout=20)
    assert "*Emergency close of the unmanaged TSLA position* by <@UADMIN1>" in (
        text_of(posted.args)
    )
    assert oms.sim.trading.get_all_positions() == []


# ----------------------------------------------------------------------------- /portfolio
def test_portfolio_pause_resume_and_stop(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    steady(oms, AAPL="190.00")
    buy(oms, "AAPL", "3")
    resting = buy(oms, "AAPL", "1", order_type="limit", limit_price="150.00")

    real_bot.command("/portfolio", "pause main rebalancing", user=TRADER)
    assert "only OMS admins may pause portfolios" in text_of(real_bot.wait_reply("portfolio"))
    assert oms.get("/portfolios").json()[0]["status"] == "active"

    real_bot.command("/portfolio", "pause main rebalancing", user=ADMIN)
    paused = real_bot.wait_reply("portfolio", 2)
    assert paused["response_type"] == "in_channel"
    assert f"Portfolio *main* paused by <@{ADMIN}>.\\n*Why:* rebalancing" in text_of(paused)
    assert oms.get("/portfolios").json()[0]["status"] == "paused"
    [entry] = audit_of(oms, "portfolio_pause")
    assert (entry["actor"], entry["target"]) == (ADMIN, "portfolio main")
    assert entry["details"]["reason"] == "rebalancing"

    real_bot.command("/portfolio", "resume main", user=ADMIN)
    assert "Portfolio *main* resumed by" in text_of(real_bot.wait_reply("portfolio", 3))
    assert oms.get("/portfolios").json()[0]["status"] == "active"

    real_bot.command("/portfolio", "pause nope", user=ADMIN)
    assert "does not exist — nothing was changed" in text_of(real_bot.wait_reply("portfolio", 4))

    real_bot.command("/portfolio", "stop main strategy broken", user=ADMIN)
    view_id, confirm = modal(real_bot, ids.PORTFOLIO_STOP_CONFIRM)
    shown = text_of(confirm)
    assert "*Stop portfolio main?*" in shown and "*Cancel its 1 working order*" in shown
    assert "*Close its 1 holding* (market value *$570.00*) at market" in shown
    real_bot.submit(
        ids.PORTFOLIO_STOP_CONFIRM,
        reason_values("strategy broken"),
        confirm["private_metadata"],
        user=ADMIN,
        view_id=view_id,
    )
    [posted] = real_bot.slack.wait_for("chat.postMessage", timeout=20)
    text = text_of(posted.args)
    assert f"Portfolio *main* stopped by <@{ADMIN}>." in text
    assert f"*Orders canceled:* 1 (#{resting['id']})" in text
    assert "*Closing orders placed:* 1" in text
    assert wait_notice(real_bot, view_id, ":white_check_mark:").endswith(
        "Portfolio main stopped: paused, 1 orders canceled, 1 closing orders placed."
    )
    assert oms.get("/portfolios").json()[0]["status"] == "paused"
    assert oms.sim.trading.get_all_positions() == []


def test_portfolio_without_a_subcommand_explains_itself(real_bot: Bot) -> None:
    real_bot.command("/portfolio", "", user=ADMIN)
    assert "Use /portfolio pause NAME [reason]" in text_of(real_bot.wait_reply("portfolio"))


# ----------------------------------------------------------------------------- /audit
def test_audit_lists_the_latest_entries_newest_first_for_admins(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    real_bot.command("/halt", "probe", user=STRANGER)
    real_bot.wait_reply("halt")
    wait_until(lambda: len(refusals(oms)) == 1, what="the refusal in the audit trail")
    oms.post("/halt", {"reason": "news pending", **ADA})
    oms.post("/resume", {"reason": "news out", **ADA})

    real_bot.command("/audit", "2", user=ADMIN)
    listing = real_bot.wait_reply("audit")
    assert listing["response_type"] == "ephemeral"
    lines = listing["blocks"][1]["text"]["text"].splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(f"· <@{ADMIN}> · *resume* · trading · ok · reason: news out")
    assert lines[1].endswith(f"· <@{ADMIN}> · *halt* · trading · ok · reason: news pending")
    assert "older entries exist" in text_of(listing)

    real_bot.command("/audit", user=ADMIN)
    text = text_of(real_bot.wait_reply("audit", 2))
    assert (
        f"<@{STRANGER}> · *refused_by_bot* · :no_entry: *REFUSED* · reason: user not allowed "
        "(admins only) · attempted: /halt"
    ) in text

    real_bot.command("/audit", "500", user=ADMIN)
    assert "Use /audit or /audit N (1 to 100)" in text_of(real_bot.wait_reply("audit", 3))
    real_bot.command("/audit", user=TRADER)
    assert "only OMS admins may read the audit trail" in text_of(real_bot.wait_reply("audit", 4))


# ----------------------------------------------------------------------------- /oms help
def test_help_shows_the_controls_to_admins_only(real_bot: Bot) -> None:
    real_bot.command("/oms", "help", user=TRADER)
    for_trader = text_of(real_bot.wait_reply("oms"))
    real_bot.command("/oms", "help", user=ADMIN)
    for_admin = text_of(real_bot.wait_reply("oms", 2))
    assert "/desk" in for_trader and "/stop" not in for_trader
    assert "/stop [reason]" in for_admin and "/audit [N]" in for_admin
    real_bot.command("/oms", "status", user=TRADER)
    assert "Trading *ACTIVE*" in text_of(real_bot.wait_reply("oms", 3))


# ----------------------------------------------------------------------------- following a stop
def stop_body(status: str = "running", phase: str = "closing", **changes: Any) -> dict[str, Any]:
    body = {
        "id": 5,
        "status": status,
        "phase": phase,
        "reason": "flash crash",
        "requested_by": ADMIN,
        "requested_by_name": "uadmin1",
        "channel_id": CHANNEL,
        "started_at": "2025-11-24T15:00:00Z",
        "finished_at": None if status == "running" else "2025-11-24T15:00:30Z",
        "orders_canceled": 0,
        "broker_write_calls": 1,
        "error": None,
        "symbols": [],
        "already_running": False,
    }
    body.update(changes)
    return body


STOP_META = json.dumps({"channel_id": CHANNEL, "user_id": ADMIN})


def test_a_stop_the_bot_cannot_post_about_is_told_to_the_admin_when_it_ends() -> None:
    aapl = {
        "symbol": "AAPL",
        "side": "long",
        "qty_before": "10",
        "close_trade_id": 9,
        "close_broker_order_id": "b-9",
        "close_client_order_id": "c-9",
        "filled_qty": "0",
        "fill_price": None,
        "outcome": "open",
        "attempts": 3,
        "note": "the broker refused to close it",
    }
    with mocked_oms_router() as oms_api:
        started = oms_api.post("/emergency-stop").respond(202, json=stop_body(phase="halting"))
        oms_api.get("/emergency-stops/5").mock(
            side_effect=[
                httpx.ConnectError("the OMS restarts"),  # a failed look: the next one counts
                httpx.Response(200, json=stop_body("incomplete", "done", symbols=[aapl])),
            ]
        )
        with running_bot(OmsClient(OMS_URL, TOKEN)) as bot:
            slept: list[float] = []
            bot.deps.sleep = slept.append
            bot.slack.fail("chat.postMessage", "not_in_channel")
            bot.submit(
                ids.STOP_CONFIRM, reason_values("flash crash", confirm=True), STOP_META, ADMIN
            )
            told = bot.slack.wait_for(
                "chat.postEphemeral", where=lambda c: "INCOMPLETE" in text_of(c.args)
            )[-1].args
    assert json.loads(started.calls.last.request.content) == {
        "reason": "flash crash",
        "requested_by": ADMIN,
        "requested_by_name": ADMIN.lower(),
        "channel_id": CHANNEL,
    }
    assert told["user"] == ADMIN and bot.slack.calls("chat.update") == []
    text = text_of(told)
    assert ":x: *INCOMPLETE — positions still open:* *AAPL* (long 10). Check /positions." in text
    assert "STILL OPEN" in text and "the broker refused to close it" in text
    assert "Trading stays HALTED — an admin must /resume." in text
    assert slept == [bot.deps.stop_poll_interval] * 2


def test_a_stop_that_runs_too_long_is_no_longer_followed() -> None:
    with mocked_oms_router() as oms_api:
        oms_api.post("/emergency-stop").respond(202, json=stop_body())
        looks = oms_api.get("/emergency-stops/5").respond(200, json=stop_body(phase="verifying"))
        with running_bot(OmsClient(OMS_URL, TOKEN)) as bot:
            bot.deps.stop_poll_interval = 60
            bot.deps.stop_watch_seconds = 300
            bot.deps.sleep = bot.clock.advance  # each look is a simulated minute later
            bot.submit(
                ids.STOP_CONFIRM, reason_values("flash crash", confirm=True), STOP_META, ADMIN
            )
            [posted] = bot.slack.wait_for("chat.postMessage")
            last = bot.slack.wait_for(
                "chat.update", where=lambda c: "no longer updates" in text_of(c.args)
            )[-1].args
    assert posted.args["channel"] == CHANNEL
    assert {c.args["ts"] for c in bot.slack.calls("chat.update")} == {last["ts"]}
    assert "*RUNNING* — checking that nothing is left open" in text_of(last)
    assert "/desk shows whether it has finished" in text_of(last)
    assert looks.call_count == 5  # one look a minute for five minutes

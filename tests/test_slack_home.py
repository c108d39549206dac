"""The App Home tab end to end: a signed app_home_opened event reaches the real bolt app (over
HTTP, and over Socket Mode), the bot reads the real OMS on the simulator and views.publish
puts the desk's dashboard in the fake Slack's Home tab for that user. Admins get Pause /
Resume and Close unmanaged, traders Sell and Emergency sell; a click in the tab acts and
republishes it with the outcome on top; a stranger sees why not; an unreachable OMS is said."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from slack_bot.blocks import ids
from slack_bot.blocks.home import HOME_PORTFOLIO_PAUSE, HOME_PORTFOLIO_RESUME
from slack_bot.oms_client import OmsClient
from tests.oms import OMS, TOKEN
from tests.slack_fakes import app_home_opened_event, form_values, home_block_action, static_select
from tests.slack_harness import (
    ADMIN,
    CHANNEL,
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
)
from tests.waiting import wait_until

DESK_READS = ["/account", "/portfolios", "/positions", "/trading-state", "/alerts"]


# ----------------------------------------------------------------------------- helpers
def steady(oms: OMS, **prices: str) -> None:
    for symbol, price in prices.items():
        oms.sim.control.set_price(symbol, price)
    oms.sim.control.configure(max_step_bps=0)


def bought_outside_the_oms(oms: OMS, symbol: str, qty: int) -> None:
    """A market buy placed straight at the broker (as in Alpaca's dashboard)."""
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import MarketOrderRequest

    oms.sim.trading.submit_order(  # type: ignore[attr-defined]
        MarketOrderRequest(
            symbol=symbol, qty=qty, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
        )
    )


def publishes(bot: Bot, user: str) -> int:
    return len([c for c in bot.slack.calls("views.publish") if c.args.get("user_id") == user])


def wait_home(bot: Bot, user: str, count: int) -> dict[str, Any]:
    """The user's Home tab once it was published `count` times."""
    bot.slack.wait_for(
        "views.publish", count, timeout=20, where=lambda c: c.args.get("user_id") == user
    )
    return bot.slack.home_view(user)


def open_home(bot: Bot, user: str, tab: str = "home") -> dict[str, Any]:
    """`user` opens the app's Home tab: the event, signed (or as a Socket Mode envelope);
    the view published for it."""
    before = publishes(bot, user)
    event = app_home_opened_event(user, tab)
    if bot.mode == "http":
        answer = bot.server.post_signed(*bot.signer.event(event))  # type: ignore[union-attr]
        assert answer.status_code == 200, answer.text
    else:
        bot.socket.wait_for_ack(bot.socket.send("events_api", event), timeout=10)  # type: ignore[attr-defined]
    return wait_home(bot, user, before + 1)


def click_home(bot: Bot, button: dict[str, Any], user: str) -> dict[str, Any]:
    """`user` presses `button` in their Home tab as it stands; the tab republished after."""
    before = publishes(bot, user)
    payload = home_block_action(
        button["action_id"], button["value"], user, bot.slack.home_view(user)
    )
    answer = bot.server.post_signed(*bot.signer.interaction(payload))  # type: ignore[union-attr]
    assert answer.status_code == 200, answer.text
    return wait_home(bot, user, before + 1)


def notice_of(home: dict[str, Any]) -> str:
    """The sentence on top of the tab (after its header)."""
    return home["blocks"][1]["text"]["text"]


def audit_of(oms: OMS, action: str) -> list[dict[str, Any]]:
    return oms.get("/audit", params={"action": action}).json()["entries"]


@pytest.fixture
def held(oms: OMS) -> OMS:
    """main holds 10 AAPL at $190; 3 TSLA were bought at the broker, in no portfolio."""
    steady(oms, AAPL="190.00", TSLA="250.00")
    assert oms.trade(symbol="AAPL", qty="10").status_code == 201
    bought_outside_the_oms(oms, "TSLA", 3)
    return oms


@pytest.fixture
def real_bot(held: OMS) -> Iterator[Bot]:
    with bot_on_real_oms(held) as bot:
        yield bot


@pytest.fixture
def desk_bot(held: OMS) -> Iterator[Bot]:
    """The bot of a desk with an allowed channel: what is done in the Home tab is posted there."""
    with bot_on_real_oms(held, slack_allowed_channel_ids=[CHANNEL]) as bot:
        yield bot


# ----------------------------------------------------------------------------- opening
@pytest.mark.parametrize("mode", MODES)
def test_opening_the_home_tab_publishes_the_desk_for_that_user(held: OMS, mode: str) -> None:
    with bot_on_real_oms(held, mode) as bot:
        home = open_home(bot, TRADER)
        reads = bot.oms_traffic.paths()  # type: ignore[attr-defined]
    assert sorted(reads) == sorted(DESK_READS)  # each part read once, side by side
    [published] = bot.slack.calls("views.publish")
    assert published.args["user_id"] == TRADER and home["type"] == "home"
    text = text_of(home)
    assert ":test_tube: *SIMULATOR*" in text
    assert ":large_green_circle: Trading *ACTIVE*" in text
    assert "*Account*\\nPA3SIMULATOR (ACTIVE)" in text
    assert "*Allocated to portfolios*\\n$10,000.00" in text
    # $100,000 cash less the AAPL and TSLA bought, less main's $10,000.
    assert "*Available capital*\\n:large_green_circle: $87,350.00" in text
    assert "*main* · :large_green_circle: active\\nCapital $10,000.00" in text
    assert "*AAPL* · main\\n10 sh · value $1,900.00" in text
    assert "*TSLA* · :warning: _Unmanaged_ (in no portfolio)\\n3 sh · value $750.00" in text
    assert "*Trade 1 filled*" in text  # the latest alert
    [sell] = buttons(home, ids.POSITION_SELL)
    chosen = json.loads(sell["value"])
    assert (chosen["symbol"], Decimal(chosen["qty"]), chosen["portfolio"]) == ("AAPL", 10, "main")
    assert len(buttons(home, ids.POSITION_EMERGENCY_SELL)) == 1
    for admins_only in (HOME_PORTFOLIO_PAUSE, ids.POSITION_CLOSE_ACCOUNT):
        assert buttons(home, admins_only) == []


def test_an_admin_also_gets_pause_and_close_unmanaged(real_bot: Bot) -> None:
    home = open_home(real_bot, ADMIN)
    [pause] = buttons(home, HOME_PORTFOLIO_PAUSE)
    assert pause["value"] == "main" and pause["confirm"]
    [close] = buttons(home, ids.POSITION_CLOSE_ACCOUNT)
    assert json.loads(close["value"])["symbol"] == "TSLA"
    assert close["style"] == "danger"
    assert "no portfolio holds" in close["confirm"]["text"]["text"]


def test_opening_the_messages_tab_publishes_nothing(real_bot: Bot) -> None:
    answer = real_bot.server.post_signed(  # type: ignore[union-attr]
        *real_bot.signer.event(app_home_opened_event(TRADER, "messages"))
    )
    assert answer.status_code == 200
    open_home(real_bot, ADMIN)  # handled after the messages tab's event
    assert [c.args["user_id"] for c in real_bot.slack.calls("views.publish")] == [ADMIN]


def test_a_stranger_is_told_why_sees_no_account_data_and_is_audited(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    home = open_home(real_bot, STRANGER)
    text = text_of(home)
    assert "Sorry, you are not allowed to see the trading desk from Slack" in text
    assert "Equity" not in text and "AAPL" not in text
    wait_until(lambda: audit_of(oms, "refused_by_bot") != [], what="the refusal in the audit")
    [entry] = audit_of(oms, "refused_by_bot")
    assert entry["actor"] == STRANGER and entry["details"]["attempted"] == "app home"


def test_when_the_oms_cannot_be_reached_the_home_says_so() -> None:
    with mocked_oms_router() as oms_api:
        oms_api.route(host="oms.test").mock(side_effect=httpx.ConnectError("connection refused"))
        with running_bot(OmsClient(OMS_URL, TOKEN)) as bot:
            home = open_home(bot, TRADER)
    assert "The OMS cannot be reached right now" in text_of(home)
    assert len(home["blocks"]) == 2  # nothing stale, nothing made up


# ----------------------------------------------------------------------------- pause / resume
def test_pausing_from_home_pauses_the_portfolio_tells_the_desk_and_republishes(
    desk_bot: Bot,
) -> None:
    oms: OMS = desk_bot.oms  # type: ignore[attr-defined]
    [pause] = buttons(open_home(desk_bot, ADMIN), HOME_PORTFOLIO_PAUSE)

    paused = click_home(desk_bot, pause, ADMIN)
    assert {p["name"]: p["status"] for p in oms.get("/portfolios").json()} == {"main": "paused"}
    assert notice_of(paused) == (
        ":white_check_mark: Portfolio main paused: its new orders are refused until it is resumed."
    )
    assert "*main* · :double_vertical_bar: *paused*" in text_of(paused)
    assert buttons(paused, ids.POSITION_SELL) == []  # the OMS would refuse a paused one's sell
    [entry] = audit_of(oms, "portfolio_pause")
    assert (entry["actor"], entry["target"]) == (ADMIN, "portfolio main")
    [posted] = desk_bot.slack.wait_for("chat.postMessage")
    assert posted.args["channel"] == CHANNEL
    assert f"Portfolio *main* paused by <@{ADMIN}>." in text_of(posted.args)

    [resume] = buttons(paused, HOME_PORTFOLIO_RESUME)
    resumed = click_home(desk_bot, resume, ADMIN)
    assert oms.get("/portfolios").json()[0]["status"] == "active"
    assert notice_of(resumed).endswith("Portfolio main resumed: it accepts new orders again.")
    assert buttons(resumed, HOME_PORTFOLIO_PAUSE) != []


def test_resuming_beyond_the_available_capital_is_refused_on_the_tab(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    assert oms.patch("/portfolios/main", {"status": "paused"}).status_code == 200
    oms.sim.control.set_cash("5000")  # the account can no longer buy main's $10,000
    [resume] = buttons(open_home(real_bot, ADMIN), HOME_PORTFOLIO_RESUME)
    refused = click_home(real_bot, resume, ADMIN)
    assert notice_of(refused).startswith(":x: Capital $10,000.00 exceeds")
    assert oms.get("/portfolios").json()[0]["status"] == "paused"


def test_a_traders_forged_pause_is_refused_on_the_tab_and_audited(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    [pause] = buttons(open_home(real_bot, ADMIN), HOME_PORTFOLIO_PAUSE)
    open_home(real_bot, TRADER)
    refused = click_home(real_bot, pause, TRADER)
    assert notice_of(refused).startswith(":x: Sorry, only OMS admins may pause portfolios")
    assert oms.get("/portfolios").json()[0]["status"] == "active"
    wait_until(lambda: audit_of(oms, "refused_by_bot") != [], what="the refusal in the audit")
    [entry] = audit_of(oms, "refused_by_bot")
    assert entry["actor"] == TRADER
    assert entry["details"]["attempted"] == f"button {HOME_PORTFOLIO_PAUSE}"


# ----------------------------------------------------------------------------- sells
def test_emergency_sell_from_home_sells_pauses_posts_to_the_desk_and_republishes(
    desk_bot: Bot,
) -> None:
    oms: OMS = desk_bot.oms  # type: ignore[attr-defined]
    shown = open_home(desk_bot, TRADER)
    [emergency] = buttons(shown, ids.POSITION_EMERGENCY_SELL)
    assert emergency["confirm"]["text"]["text"] == (
        "Sell all 10 AAPL of portfolio main at market now and pause main?"
    )

    after = click_home(desk_bot, emergency, TRADER)
    sold = oms.get("/trades").json()["trades"][0]
    assert (sold["side"], sold["status"], Decimal(sold["filled_qty"])) == ("sell", "filled", 10)
    assert notice_of(after) == (
        f":white_check_mark: Emergency sell of main's AAPL sent at market and main paused — "
        f"the result is in <#{CHANNEL}>."
    )
    [posted] = desk_bot.slack.wait_for("chat.postMessage")
    assert posted.args["channel"] == CHANNEL
    assert f"*Emergency sell* of main's AAPL by <@{TRADER}>." in text_of(posted.args)
    text = text_of(after)
    assert "*AAPL* · main" not in text and "*main* · :double_vertical_bar: *paused*" in text

    # A second click on the tab as it was shown (a double click): nothing more is sent.
    again = home_block_action(emergency["action_id"], emergency["value"], TRADER, shown)
    desk_bot.server.post_signed(*desk_bot.signer.interaction(again))  # type: ignore[union-attr]
    assert "already sent" in notice_of(wait_home(desk_bot, TRADER, 3))
    assert len(oms.get("/trades").json()["trades"]) == 2


def test_close_unmanaged_from_home_is_for_admins(real_bot: Bot) -> None:
    oms: OMS = real_bot.oms  # type: ignore[attr-defined]
    [close] = buttons(open_home(real_bot, ADMIN), ids.POSITION_CLOSE_ACCOUNT)
    open_home(real_bot, TRADER)
    refused = click_home(real_bot, close, TRADER)
    assert "only OMS admins may close an unmanaged position" in notice_of(refused)

    closed = click_home(real_bot, close, ADMIN)
    assert notice_of(closed).endswith(
        "The unmanaged TSLA position is being closed at market — the result is in your "
        "messages with the app."
    )
    [posted] = real_bot.slack.wait_for("chat.postMessage")
    assert posted.args["channel"] == ADMIN  # no desk channel: the admin's DM with the app
    positions = {p.symbol for p in oms.sim.trading.get_all_positions()}  # type: ignore[attr-defined]
    assert positions == {"AAPL"}
    assert "*TSLA* ·" not in text_of(closed)


def test_sell_from_home_opens_the_sell_modal_and_the_sale_republishes_the_tab(
    desk_bot: Bot,
) -> None:
    oms: OMS = desk_bot.oms  # type: ignore[attr-defined]
    [sell] = buttons(open_home(desk_bot, TRADER), ids.POSITION_SELL)
    payload = home_block_action(
        sell["action_id"], sell["value"], TRADER, desk_bot.slack.home_view(TRADER)
    )
    desk_bot.server.post_signed(*desk_bot.signer.interaction(payload))  # type: ignore[union-attr]
    [update] = desk_bot.slack.wait_for("views.update")
    form = update.args["view"]
    assert form["callback_id"] == ids.SELL_FORM and "AAPL" in text_of(form)
    view_id = update.args["view_id"]

    values = form_values(
        {
            ids.POSITION: static_select(sell["value"]),
            ids.QTY: "4",
            ids.ORDER_TYPE: static_select("market"),
            ids.TIME_IN_FORCE: static_select("day"),
        }
    )
    answer = desk_bot.submit(ids.SELL_FORM, values, form["private_metadata"], view_id=view_id)
    assert answer["view"]["callback_id"] == ids.SELL_CONFIRM
    desk_bot.submit(ids.SELL_CONFIRM, {}, answer["view"]["private_metadata"], view_id=view_id)

    after = wait_home(desk_bot, TRADER, 2)
    [posted] = desk_bot.slack.wait_for("chat.postMessage")
    assert posted.args["channel"] == CHANNEL
    book = oms.get("/portfolio/main").json()
    assert [Decimal(p["qty"]) for p in book["positions"] if p["symbol"] == "AAPL"] == [6]
    assert "*AAPL* · main\\n6 sh" in text_of(after)


def test_a_sell_from_a_message_does_not_touch_the_home_tab(real_bot: Bot) -> None:
    real_bot.command("/positions", user=TRADER)
    [sell] = buttons(real_bot.wait_reply("positions"), ids.POSITION_SELL)
    real_bot.click_button(sell, user=TRADER)
    real_bot.slack.wait_for("views.update")
    assert real_bot.slack.calls("views.publish") == []

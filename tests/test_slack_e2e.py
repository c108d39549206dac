"""The Slack bot end to end, offline: the real bolt app behind its HTTP endpoint, requests
signed like Slack's, a local fake of Slack's Web API, and the OMS either real (on the
simulator) or mocked with respx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from slack_bot.app import build_app
from slack_bot.blocks import ids
from slack_bot.config import BotSettings
from slack_bot.oms_client import OmsClient
from tests.oms import TOKEN
from tests.slack_fakes import FakeSlackAPI, form_values, static_select
from tests.slack_harness import (
    CHANNEL,
    FORM_META,
    OMS_URL,
    STRANGER,
    TRADER,
    Bot,
    bot_on_real_oms,
    mocked_oms_router,
    running_bot,
    text_of,
    trade_values,
)


@pytest.fixture
def real_bot(oms) -> Iterator[Bot]:
    with bot_on_real_oms(oms) as bot:
        yield bot


@pytest.fixture
def mocked_oms() -> Iterator[respx.MockRouter]:
    with mocked_oms_router() as router:
        yield router


@pytest.fixture
def mocked_bot(mocked_oms) -> Iterator[Bot]:
    with running_bot(OmsClient(OMS_URL, TOKEN)) as bot:
        yield bot


# ----------------------------------------------------------------------------- /trade
def test_trade_command_acks_and_opens_the_modal_with_price_and_market(real_bot: Bot) -> None:
    response = real_bot.command("/trade", "AAPL buy 10")
    assert response.status_code == 200
    real_bot.slack.wait_for("views.open")
    real_bot.slack.wait_for("views.update")
    view = real_bot.last_view()
    assert view["callback_id"] == ids.TRADE_FORM
    text = text_of(view)
    assert "AAPL" in text and "10" in text
    assert "$" in text  # the latest price is shown
    assert "open" in text.lower()


def test_trade_confirm_step_then_double_submit_places_one_order(real_bot: Bot) -> None:
    answer = real_bot.submit(ids.TRADE_FORM, trade_values(), FORM_META)
    assert answer["response_action"] == "update"
    confirm = answer["view"]
    assert confirm["callback_id"] == ids.TRADE_CONFIRM
    assert "AAPL" in text_of(confirm) and "SIMULATOR" in text_of(confirm)
    assert real_bot.oms.get("/trades").json()["trades"] == []  # nothing sent before confirming

    for _ in range(2):  # a double click, or Slack retrying the submission
        again = real_bot.submit(ids.TRADE_CONFIRM, {}, confirm["private_metadata"])
        assert again["response_action"] == "update"
    posted = real_bot.slack.wait_for("chat.postMessage")
    trades = real_bot.oms.get("/trades").json()["trades"]
    assert len(trades) == 1 and trades[0]["status"] == "filled"
    assert trades[0]["requested_by"] == TRADER
    assert len(real_bot.slack.calls("chat.postMessage")) == 1
    message = text_of(posted[0].args)
    assert trades[0]["client_order_id"] in message
    assert "filled" in message.lower() and f"<@{TRADER}>" in message


def test_trade_form_field_errors_name_the_field_and_send_nothing(real_bot: Bot) -> None:
    answer = real_bot.submit(ids.TRADE_FORM, trade_values(**{ids.AMOUNT: "-5"}), FORM_META)
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {ids.AMOUNT}
    answer = real_bot.submit(
        ids.TRADE_FORM, trade_values(**{ids.ORDER_TYPE: static_select("limit")}), FORM_META
    )
    assert answer["response_action"] == "errors" and ids.LIMIT_PRICE in answer["errors"]
    assert real_bot.oms.get("/trades").json()["trades"] == []


def test_trade_form_reports_what_the_oms_says_about_the_symbol(real_bot: Bot) -> None:
    answer = real_bot.submit(ids.TRADE_FORM, trade_values(**{ids.SYMBOL: "ZZZZZ"}), FORM_META)
    assert answer["response_action"] == "errors"
    assert "ZZZZZ" in answer["errors"][ids.SYMBOL] or "symbol" in answer["errors"][ids.SYMBOL]


def test_insufficient_buying_power_is_told_plainly(real_bot: Bot) -> None:
    # Within main's capital, beyond what the account has left: the broker refuses it.
    real_bot.oms.sim.control.set_cash("100")
    answer = real_bot.submit(ids.TRADE_FORM, trade_values(**{ids.AMOUNT: "10"}), FORM_META)
    real_bot.submit(ids.TRADE_CONFIRM, {}, answer["view"]["private_metadata"])
    told = real_bot.slack.wait_for("chat.postEphemeral")
    assert "buying power" in text_of(told[-1].args)


def test_unauthorised_user_is_refused_and_nothing_opens(real_bot: Bot) -> None:
    assert real_bot.command("/trade", "AAPL", user=STRANGER).status_code == 200
    real_bot.slack.wait_for("response_url")
    assert "not allowed" in text_of(real_bot.replies("trade")).lower()
    assert real_bot.slack.calls("views.open") == []
    answer = real_bot.submit(ids.TRADE_FORM, trade_values(), FORM_META, user=STRANGER)
    assert answer["response_action"] == "errors"


def test_bad_signature_is_rejected_with_401(real_bot: Bot) -> None:
    body, headers = real_bot.signer.command("/trade", "AAPL", TRADER, CHANNEL, "http://x")
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    assert real_bot.server.post_signed(body, headers).status_code == 401
    assert real_bot.slack.calls() == []


# ----------------------------------------------------------------------------- /sell, /positions
def test_positions_then_sell_button_then_sell_flow(real_bot: Bot) -> None:
    assert real_bot.oms.trade(symbol="AAPL", qty="5").status_code == 201
    real_bot.command("/positions")
    real_bot.slack.wait_for("response_url")
    listing = real_bot.replies("positions")[-1]
    assert "AAPL" in text_of(listing) and ids.POSITION_SELL in text_of(listing)

    real_bot.click(
        ids.POSITION_SELL, json.dumps({"symbol": "AAPL", "qty": "5", "portfolio": "main"})
    )
    real_bot.slack.wait_for("views.update")
    view = real_bot.last_view()
    assert view["callback_id"] == ids.SELL_FORM and "AAPL" in text_of(view)

    position = static_select(json.dumps({"symbol": "AAPL", "qty": "5", "portfolio": "main"}))
    too_many = form_values(
        {
            ids.POSITION: position,
            ids.QTY: "6",
            ids.ORDER_TYPE: static_select("market"),
            ids.TIME_IN_FORCE: static_select("day"),
        }
    )
    answer = real_bot.submit(ids.SELL_FORM, too_many, FORM_META)
    assert answer["response_action"] == "errors" and ids.QTY in answer["errors"]

    ok = form_values(
        {
            ids.POSITION: position,
            ids.QTY: "2",
            ids.ORDER_TYPE: static_select("market"),
            ids.TIME_IN_FORCE: static_select("day"),
        }
    )
    answer = real_bot.submit(ids.SELL_FORM, ok, FORM_META)
    assert answer["response_action"] == "update"
    assert "Sell 2 AAPL" in text_of(answer["view"])
    real_bot.submit(ids.SELL_CONFIRM, {}, answer["view"]["private_metadata"])
    real_bot.slack.wait_for("chat.postMessage")
    book = real_bot.oms.get("/portfolio/main").json()
    assert [Decimal(p["qty"]) for p in book["positions"] if p["symbol"] == "AAPL"] == [3]


def test_sell_command_opens_the_form_on_the_position(real_bot: Bot) -> None:
    real_bot.oms.trade(symbol="MSFT", qty="4")
    real_bot.command("/sell", "MSFT")
    real_bot.slack.wait_for("views.update")
    view = real_bot.last_view()
    assert view["callback_id"] == ids.SELL_FORM and "MSFT" in text_of(view)


# ----------------------------------------------------------------------------- read commands
@pytest.mark.parametrize(
    ("command", "text", "expected"),
    [
        ("/account", "", "Buying power"),
        ("/quote", "AAPL", "AAPL"),
        ("/market", "", "open"),
        ("/orders", "", "AAPL"),
        ("/oms", "help", "/trade"),
        ("/oms", "what is this", "/positions"),
    ],
)
def test_read_commands_answer_with_the_oms_data(
    real_bot: Bot, command: str, text: str, expected: str
) -> None:
    real_bot.oms.trade(symbol="AAPL", qty="1")
    assert real_bot.command(command, text).status_code == 200
    real_bot.slack.wait_for("response_url")
    assert expected.lower() in text_of(real_bot.replies(command.strip("/"))).lower()


def test_cancel_button_cancels_a_working_order(real_bot: Bot) -> None:
    resting = real_bot.oms.trade(symbol="AAPL", qty="1", order_type="limit", limit_price="1.00")
    trade_id = resting.json()["id"]
    real_bot.command("/orders", "open")
    real_bot.slack.wait_for("response_url")
    assert ids.ORDER_CANCEL in text_of(real_bot.replies("orders"))
    real_bot.click(ids.ORDER_CANCEL, str(trade_id))
    real_bot.slack.wait_for("response_url", where=lambda c: c.target == "action")
    status = real_bot.oms.get(f"/trades/{trade_id}").json()["status"]
    assert status in ("pending_cancel", "canceled")


# ----------------------------------------------------------------------------- OMS mocked
def test_oms_down_reads_say_unavailable(mocked_bot: Bot, mocked_oms: respx.MockRouter) -> None:
    mocked_oms.get("/positions/by-portfolio").mock(side_effect=httpx.ConnectError("refused"))
    mocked_bot.command("/positions")
    mocked_bot.slack.wait_for("response_url")
    assert "OMS unavailable" in text_of(mocked_bot.replies("positions"))


def test_oms_down_at_confirmation_says_nothing_was_sent(
    mocked_bot: Bot, mocked_oms: respx.MockRouter
) -> None:
    from slack_bot.forms import TradeDraft, encode_metadata

    route = mocked_oms.post("/trade").mock(side_effect=httpx.ConnectError("refused"))
    draft = TradeDraft(
        portfolio="main",
        symbol="AAPL",
        side="buy",
        qty=Decimal(1),
        notional=None,
        order_type="market",
        time_in_force="day",
        limit_price=None,
        stop_price=None,
        take_profit=None,
        stop_loss=None,
        extended_hours=False,
        reason=None,
    )
    meta = encode_metadata(
        "a" * 32, draft, CHANNEL, TRADER, "trade", issued_at=mocked_bot.clock.now
    )
    mocked_bot.submit(ids.TRADE_CONFIRM, {}, meta)
    told = mocked_bot.slack.wait_for("chat.postEphemeral")
    assert "OMS unavailable — nothing was sent" in text_of(told[-1].args)
    assert route.call_count == 1
    assert route.calls[0].request.headers["Idempotency-Key"] == "a" * 32


def test_market_closed_warning_in_the_trade_modal(
    mocked_bot: Bot, mocked_oms: respx.MockRouter
) -> None:
    mocked_oms.get("/portfolios").respond(json=[{"name": "main", "status": "active"}])
    mocked_oms.get("/market-status").respond(
        json={
            "is_open": False,
            "timestamp": "2026-11-21T23:00:00Z",
            "next_open": "2026-11-23T14:30:00Z",
            "next_close": "2026-11-23T21:00:00Z",
        }
    )
    mocked_oms.get("/quote/AAPL").respond(
        json={
            "symbol": "AAPL",
            "price": "190.12",
            "bid": None,
            "ask": None,
            "timestamp": "2026-11-21T21:00:00Z",
        }
    )
    mocked_bot.command("/trade", "AAPL")
    mocked_bot.slack.wait_for("views.update")
    text = text_of(mocked_bot.last_view()).lower()
    assert "closed" in text and "23 nov" in text


def test_a_later_fill_updates_the_posted_message(
    mocked_bot: Bot, mocked_oms: respx.MockRouter, oms_trade_payload: Any = None
) -> None:
    from slack_bot.forms import TradeDraft, encode_metadata

    working = {
        "id": 7,
        "client_order_id": "bot-00000001-abc",
        "broker_order_id": "b-7",
        "portfolio": "main",
        "symbol": "AAPL",
        "side": "buy",
        "qty": "1",
        "notional": None,
        "order_type": "limit",
        "time_in_force": "day",
        "limit_price": "100",
        "stop_price": None,
        "status": "accepted",
        "filled_qty": "0",
        "filled_avg_price": None,
        "fills": [],
        "market_open": True,
        "next_open": None,
        "mode": "PAPER",
        "replayed": False,
        "created_at": "2026-11-21T15:00:00Z",
        "requested_by": TRADER,
    }
    mocked_oms.post("/trade").respond(201, json=working)
    mocked_oms.get("/trades/7").respond(
        json={**working, "status": "filled", "filled_qty": "1", "filled_avg_price": "99.5"}
    )
    draft = TradeDraft(
        portfolio="main",
        symbol="AAPL",
        side="buy",
        qty=Decimal(1),
        notional=None,
        order_type="limit",
        time_in_force="day",
        limit_price=Decimal(100),
        stop_price=None,
        take_profit=None,
        stop_loss=None,
        extended_hours=False,
        reason=None,
    )
    meta = encode_metadata(
        "b" * 32, draft, CHANNEL, TRADER, "trade", issued_at=mocked_bot.clock.now
    )
    mocked_bot.submit(ids.TRADE_CONFIRM, {}, meta)
    mocked_bot.slack.wait_for("chat.postMessage")
    updated = mocked_bot.slack.wait_for("chat.update")
    assert "99.5" in text_of(updated[-1].args) and "filled" in text_of(updated[-1].args).lower()


def test_socket_mode_app_needs_no_signing_secret_and_answers_commands() -> None:
    """Socket Mode delivers requests over Slack's authenticated websocket, unsigned: the same
    app, built without a signing secret, handles them (here handed over as the socket client
    would, through bolt's dispatch)."""
    from slack_bolt import BoltRequest

    with FakeSlackAPI() as slack:
        settings = BotSettings(
            slack_bot_token="xoxb-test",
            slack_app_token="xapp-test",
            slack_api_url=slack.base_url,
            oms_url=OMS_URL,
            oms_api_token=TOKEN,
            slack_trader_user_ids=[TRADER],
        )
        assert settings.socket_mode_ready and not settings.http_mode_ready
        app = build_app(settings, oms=OmsClient(OMS_URL, TOKEN))
        request = BoltRequest(
            body={
                "command": "/oms",
                "text": "help",
                "user_id": TRADER,
                "channel_id": CHANNEL,
                "team_id": "T1",
                "response_url": slack.response_url("socket"),
                "trigger_id": "1.2.3",
            },
            mode="socket_mode",
        )
        assert app.dispatch(request).status == 200
        reply = slack.wait_for("response_url")
        assert "/trade" in text_of(reply[-1].args)

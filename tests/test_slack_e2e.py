"""The Slack bot end to end, offline: the real bolt app behind its HTTP endpoint, requests
signed like Slack's, a local fake of Slack's Web API, and the OMS either real (on the
simulator) or mocked with respx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from slack_bot.app import build_app
from slack_bot.auth import Authorizer
from slack_bot.blocks import ids
from slack_bot.config import BotSettings
from slack_bot.deps import BotDeps
from slack_bot.oms_client import OmsClient
from slack_bot.server import create_http_app
from tests.oms import TOKEN
from tests.slack_fakes import (
    BotServer,
    FakeSlackAPI,
    SlackRequestSigner,
    block_action,
    checkboxes,
    form_values,
    radio_buttons,
    static_select,
    view_submission,
)

SECRET = "test-signing-secret"
TRADER, ADMIN, STRANGER = "UTRADER1", "UADMIN1", "USTRANGER"
CHANNEL = "CTRADING1"
OMS_URL = "http://oms.test"


class Bot:
    def __init__(self, server: BotServer, slack: FakeSlackAPI, deps: BotDeps) -> None:
        self.server, self.slack, self.deps = server, slack, deps
        self.signer = SlackRequestSigner(SECRET)

    def command(self, command: str, text: str = "", user: str = TRADER) -> httpx.Response:
        body, headers = self.signer.command(
            command, text, user, CHANNEL, self.slack.response_url(command.strip("/"))
        )
        return self.server.post_signed(body, headers)

    def submit(self, callback_id: str, values: dict, metadata: str, user: str = TRADER) -> dict:
        payload = view_submission(callback_id, values, metadata, user, view_id="VMODAL1")
        response = self.server.post_signed(*self.signer.interaction(payload))
        assert response.status_code == 200, response.text
        return response.json() if response.content else {}

    def click(self, action_id: str, value: str, user: str = TRADER) -> httpx.Response:
        payload = block_action(
            action_id, value, user, CHANNEL, None, self.slack.response_url("action")
        )
        return self.server.post_signed(*self.signer.interaction(payload))

    def replies(self, name: str) -> list[dict]:
        return [c.args for c in self.slack.calls("response_url") if c.target == name]

    def last_view(self) -> dict:
        return self.slack.last("views.update").args["view"]


def _text_of(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False)


@contextmanager
def running_bot(oms_client: OmsClient, **overrides: Any) -> Iterator[Bot]:
    with FakeSlackAPI() as slack:
        settings = BotSettings(
            slack_bot_token="xoxb-test",
            slack_signing_secret=SECRET,
            slack_api_url=slack.base_url,
            oms_url=OMS_URL,
            oms_api_token=TOKEN,
            slack_trader_user_ids=[TRADER],
            slack_admin_user_ids=[ADMIN],
            **overrides,
        )
        deps = BotDeps(
            settings=settings,
            oms=oms_client,
            authorizer=Authorizer(settings),
            fill_watch_interval=0,
            fill_watch_checks=3,
            sleep=lambda _seconds: None,
        )
        bolt = build_app(settings, deps=deps)
        with BotServer(create_http_app(settings, bolt_app=bolt)) as server:
            yield Bot(server, slack, deps)


@pytest.fixture
def real_bot(oms) -> Iterator[Bot]:
    """The bot talking to the real OMS app (in-process, on the simulator)."""
    client = OmsClient("http://testserver", TOKEN, transport=oms.client._transport)
    with running_bot(client) as bot:
        bot.oms = oms  # type: ignore[attr-defined]
        yield bot


@pytest.fixture
def mocked_oms() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=f"{OMS_URL}/api/v1", assert_all_called=False) as router:
        router.get(f"{OMS_URL}/health").respond(json={"mode": "PAPER", "status": "ok"})
        router.route(host="127.0.0.1").pass_through()  # the bot and the fake Slack API
        yield router


@pytest.fixture
def mocked_bot(mocked_oms) -> Iterator[Bot]:
    with running_bot(OmsClient(OMS_URL, TOKEN)) as bot:
        yield bot


def trade_values(**fields: Any) -> dict:
    base: dict[str, Any] = {
        ids.PORTFOLIO: static_select("main"),
        ids.SYMBOL: "AAPL",
        ids.SIDE: radio_buttons("buy"),
        ids.AMOUNT_KIND: radio_buttons("qty"),
        ids.AMOUNT: "3",
        ids.ORDER_TYPE: static_select("market"),
        ids.LIMIT_PRICE: None,
        ids.STOP_PRICE: None,
        ids.TIME_IN_FORCE: static_select("day"),
        ids.TAKE_PROFIT: None,
        ids.STOP_LOSS: None,
        ids.EXTENDED_HOURS: checkboxes([]),
        ids.REASON: "test trade",
    }
    base.update(fields)
    return form_values(base)


FORM_META = json.dumps({"channel_id": CHANNEL})


# ----------------------------------------------------------------------------- /trade
def test_trade_command_acks_and_opens_the_modal_with_price_and_market(real_bot: Bot) -> None:
    response = real_bot.command("/trade", "AAPL buy 10")
    assert response.status_code == 200
    real_bot.slack.wait_for("views.open")
    real_bot.slack.wait_for("views.update")
    view = real_bot.last_view()
    assert view["callback_id"] == ids.TRADE_FORM
    text = _text_of(view)
    assert "AAPL" in text and "10" in text
    assert "$" in text  # the latest price is shown
    assert "open" in text.lower()


def test_trade_confirm_step_then_double_submit_places_one_order(real_bot: Bot) -> None:
    answer = real_bot.submit(ids.TRADE_FORM, trade_values(), FORM_META)
    assert answer["response_action"] == "update"
    confirm = answer["view"]
    assert confirm["callback_id"] == ids.TRADE_CONFIRM
    assert "AAPL" in _text_of(confirm) and "SIMULATOR" in _text_of(confirm)
    assert real_bot.oms.get("/trades").json()["trades"] == []  # nothing sent before confirming

    for _ in range(2):  # a double click, or Slack retrying the submission
        again = real_bot.submit(ids.TRADE_CONFIRM, {}, confirm["private_metadata"])
        assert again["response_action"] == "update"
    posted = real_bot.slack.wait_for("chat.postMessage")
    trades = real_bot.oms.get("/trades").json()["trades"]
    assert len(trades) == 1 and trades[0]["status"] == "filled"
    assert trades[0]["requested_by"] == TRADER
    assert len(real_bot.slack.calls("chat.postMessage")) == 1
    message = _text_of(posted[0].args)
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
    answer = real_bot.submit(ids.TRADE_FORM, trade_values(**{ids.AMOUNT: "100000"}), FORM_META)
    real_bot.submit(ids.TRADE_CONFIRM, {}, answer["view"]["private_metadata"])
    told = real_bot.slack.wait_for("chat.postEphemeral")
    assert "buying power" in _text_of(told[-1].args)


def test_unauthorised_user_is_refused_and_nothing_opens(real_bot: Bot) -> None:
    assert real_bot.command("/trade", "AAPL", user=STRANGER).status_code == 200
    real_bot.slack.wait_for("response_url")
    assert "not allowed" in _text_of(real_bot.replies("trade")).lower()
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
    assert "AAPL" in _text_of(listing) and ids.POSITION_SELL in _text_of(listing)

    real_bot.click(
        ids.POSITION_SELL, json.dumps({"symbol": "AAPL", "qty": "5", "portfolio": "main"})
    )
    real_bot.slack.wait_for("views.update")
    view = real_bot.last_view()
    assert view["callback_id"] == ids.SELL_FORM and "AAPL" in _text_of(view)

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
    assert "Sell 2 AAPL" in _text_of(answer["view"])
    real_bot.submit(ids.SELL_CONFIRM, {}, answer["view"]["private_metadata"])
    real_bot.slack.wait_for("chat.postMessage")
    book = real_bot.oms.get("/portfolio/main").json()
    assert [Decimal(p["qty"]) for p in book["positions"] if p["symbol"] == "AAPL"] == [3]


def test_sell_command_opens_the_form_on_the_position(real_bot: Bot) -> None:
    real_bot.oms.trade(symbol="MSFT", qty="4")
    real_bot.command("/sell", "MSFT")
    real_bot.slack.wait_for("views.update")
    view = real_bot.last_view()
    assert view["callback_id"] == ids.SELL_FORM and "MSFT" in _text_of(view)


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
    assert expected.lower() in _text_of(real_bot.replies(command.strip("/"))).lower()


def test_cancel_button_cancels_a_working_order(real_bot: Bot) -> None:
    resting = real_bot.oms.trade(symbol="AAPL", qty="1", order_type="limit", limit_price="1.00")
    trade_id = resting.json()["id"]
    real_bot.command("/orders", "open")
    real_bot.slack.wait_for("response_url")
    assert ids.ORDER_CANCEL in _text_of(real_bot.replies("orders"))
    real_bot.click(ids.ORDER_CANCEL, str(trade_id))
    real_bot.slack.wait_for("response_url", where=lambda c: c.target == "action")
    status = real_bot.oms.get(f"/trades/{trade_id}").json()["status"]
    assert status in ("pending_cancel", "canceled")


# ----------------------------------------------------------------------------- OMS mocked
def test_oms_down_reads_say_unavailable(mocked_bot: Bot, mocked_oms: respx.MockRouter) -> None:
    mocked_oms.get("/positions").mock(side_effect=httpx.ConnectError("refused"))
    mocked_oms.get("/portfolios").mock(side_effect=httpx.ConnectError("refused"))
    mocked_bot.command("/positions")
    mocked_bot.slack.wait_for("response_url")
    assert "OMS unavailable" in _text_of(mocked_bot.replies("positions"))


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
    meta = encode_metadata("a" * 32, draft, CHANNEL, TRADER, "trade")
    mocked_bot.submit(ids.TRADE_CONFIRM, {}, meta)
    told = mocked_bot.slack.wait_for("chat.postEphemeral")
    assert "OMS unavailable — nothing was sent" in _text_of(told[-1].args)
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
    text = _text_of(mocked_bot.last_view()).lower()
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
    mocked_bot.submit(
        ids.TRADE_CONFIRM, {}, encode_metadata("b" * 32, draft, CHANNEL, TRADER, "trade")
    )
    mocked_bot.slack.wait_for("chat.postMessage")
    updated = mocked_bot.slack.wait_for("chat.update")
    assert "99.5" in _text_of(updated[-1].args) and "filled" in _text_of(updated[-1].args).lower()


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
        assert "/trade" in _text_of(reply[-1].args)

"""Socket Mode the way a new user runs it locally: `oms bot --socket` as a real process, with
only the two tokens and the OMS's address. It asks Slack's Web API (a local fake) for a
websocket URL with the app token (`apps.connections.open`), connects to Slack's Socket Mode
server (a local fake speaking the real protocol: hello, envelopes, acks) and answers a slash
command, a button and a modal submission, each acked over the websocket, against the real OMS
on the simulator. Nothing listens for HTTP and no signing secret is needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slack_bot.blocks import ids
from tests.cli_process import OmsProcess, clean_env
from tests.oms import TOKEN
from tests.slack_fakes import (
    FakeSlackAPI,
    FakeSocketModeServer,
    block_action,
    command_payload,
    view_submission,
)
from tests.slack_harness import (
    APP_TOKEN,
    CHANNEL,
    FORM_META,
    TRADER,
    buttons,
    oms_over_http,
    text_of,
    trade_values,
)

# The process starts Python, imports bolt and connects: generous, and never slept through.
START_SECONDS = 60.0


def test_oms_bot_in_socket_mode_answers_over_a_real_websocket(oms: Any, tmp_path: Path) -> None:
    oms.sim.control.set_price("AAPL", "190.00")
    oms.sim.control.configure(max_step_bps=0)
    resting = oms.trade(
        symbol="AAPL", qty="1", order_type="limit", limit_price="150", requested_by=TRADER
    ).json()

    with (
        FakeSlackAPI() as slack,
        FakeSocketModeServer() as socket,
        oms_over_http(oms) as oms_url,
    ):
        slack.socket_mode_url = socket.url
        env = clean_env(
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_APP_TOKEN=APP_TOKEN,
            SLACK_API_URL=slack.base_url,
            OMS_URL=oms_url,
            OMS_API_TOKEN=TOKEN,
            SLACK_TRADER_USER_IDS=TRADER,
        )
        with OmsProcess(["bot", "--socket"], env, tmp_path) as bot:
            bot.wait_for_line("Slack bot: Socket Mode", timeout=START_SECONDS)
            socket.wait_connected(timeout=START_SECONDS)  # after the server's hello
            [opened] = slack.calls("apps.connections.open")
            assert opened.token == APP_TOKEN

            # A slash command: acked at once (empty), answered at its response_url.
            orders = socket.send(
                "slash_commands",
                command_payload("/orders", "open", TRADER, CHANNEL, slack.response_url("orders")),
            )
            assert socket.wait_for_ack(orders, timeout=10) == {"envelope_id": orders}
            [listing] = slack.wait_for("response_url", where=lambda c: c.target == "orders")
            assert f"#{resting['id']}" in text_of(listing.args)
            assert f"_main_ · by <@{TRADER}> · nothing filled · <!date^" in text_of(listing.args)
            [cancel] = buttons(listing.args, ids.ORDER_CANCEL)

            # A button in that message: acked, then the result at the action's response_url.
            click = socket.send(
                "interactive",
                block_action(
                    cancel["action_id"],
                    cancel["value"],
                    TRADER,
                    CHANNEL,
                    None,
                    slack.response_url("cancel"),
                ),
            )
            assert socket.wait_for_ack(click, timeout=10)["envelope_id"] == click
            [result] = slack.wait_for("response_url", where=lambda c: c.target == "cancel")
            assert "cancel" in text_of(result.args).lower()

            # A modal submission: the answer (the confirmation view) rides on the ack itself.
            form = socket.send(
                "interactive",
                view_submission(ids.TRADE_FORM, trade_values(), FORM_META, TRADER, "V1"),
            )
            answer = socket.wait_for_ack(form, timeout=10)["payload"]
            assert answer["response_action"] == "update"
            assert answer["view"]["callback_id"] == ids.TRADE_CONFIRM
            assert "Buy 3 AAPL at market?" in text_of(answer["view"])
            assert "a local simulated broker" in text_of(answer["view"])
            bot.stop()

    assert oms.get(f"/trades/{resting['id']}").json()["status"] in ("pending_cancel", "canceled")
    assert slack.calls("views.open") == []  # nothing else was opened on the way

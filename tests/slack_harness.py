"""The Slack bot under test, shared by the end-to-end test files: the real bolt app behind its
HTTP endpoint (signed requests), a local fake of Slack's Web API, a manual wall clock, and the
OMS either real (on the simulator) or mocked with respx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import respx

from slack_bot.app import build_app
from slack_bot.auth import Authorizer
from slack_bot.blocks import ids
from slack_bot.config import BotSettings
from slack_bot.deps import BotDeps
from slack_bot.oms_client import OmsClient
from slack_bot.server import create_http_app
from tests.oms import OMS, TOKEN
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


class ManualClock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self, now: float = 1_795_000_000.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Bot:
    def __init__(
        self, server: BotServer, slack: FakeSlackAPI, deps: BotDeps, clock: ManualClock
    ) -> None:
        self.server, self.slack, self.deps, self.clock = server, slack, deps, clock
        self.signer = SlackRequestSigner(SECRET)

    def command(self, command: str, text: str = "", user: str = TRADER) -> httpx.Response:
        body, headers = self.signer.command(
            command, text, user, CHANNEL, self.slack.response_url(command.strip("/"))
        )
        return self.server.post_signed(body, headers)

    def submit(
        self,
        callback_id: str,
        values: dict,
        metadata: str,
        user: str = TRADER,
        view_id: str = "VMODAL1",
    ) -> dict:
        payload = view_submission(callback_id, values, metadata, user, view_id=view_id)
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


def text_of(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False)


@contextmanager
def running_bot(oms_client: OmsClient, **overrides: Any) -> Iterator[Bot]:
    clock = ManualClock()
    with FakeSlackAPI() as slack:
        values: dict[str, Any] = {
            "slack_bot_token": "xoxb-test",
            "slack_signing_secret": SECRET,
            "slack_api_url": slack.base_url,
            "oms_url": OMS_URL,
            "oms_api_token": TOKEN,
            "slack_trader_user_ids": [TRADER],
            "slack_admin_user_ids": [ADMIN],
        }
        settings = BotSettings(_env_file=None, **{**values, **overrides})  # type: ignore[call-arg]
        deps = BotDeps(
            settings=settings,
            oms=oms_client,
            authorizer=Authorizer(settings),
            fill_watch_interval=0,
            fill_watch_checks=3,
            sleep=lambda _seconds: None,
            clock=clock.time,
        )
        bolt = build_app(settings, deps=deps)
        with BotServer(create_http_app(settings, bolt_app=bolt)) as server:
            yield Bot(server, slack, deps, clock)


@contextmanager
def bot_on_real_oms(oms: OMS, **overrides: Any) -> Iterator[Bot]:
    """The bot talking to the real OMS app (in-process, on the simulator); `bot.oms` is it."""
    client = OmsClient("http://testserver", TOKEN, transport=oms.client._transport)
    with running_bot(client, **overrides) as bot:
        bot.oms = oms  # type: ignore[attr-defined]
        yield bot


@contextmanager
def mocked_oms_router() -> Iterator[respx.MockRouter]:
    """respx in place of the OMS at OMS_URL; the bot and the fake Slack API stay real."""
    with respx.mock(base_url=f"{OMS_URL}/api/v1", assert_all_called=False) as router:
        router.get(f"{OMS_URL}/health").respond(json={"mode": "PAPER", "status": "ok"})
        router.route(host="127.0.0.1").pass_through()  # the bot and the fake Slack API
        yield router


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


@contextmanager
def oms_over_http(oms: OMS, **server_options: Any) -> Iterator[str]:
    """The running OMS app (its lifespan already ran in the TestClient) served on a real port
    too, for clients in other processes (curl) or using the network (log checks); its URL.
    `server_options` go to BotServer (log_level, propagate_logs)."""
    with BotServer(oms.client.app, lifespan="off", **server_options) as server:
        yield server.url

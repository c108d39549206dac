"""The Slack bot under test, shared by the end-to-end test files: the real bolt app reached the
way Slack reaches it — over HTTP (signed requests to /slack/events) or over Socket Mode (a real
websocket from a local fake of Slack's Socket Mode server) — a local fake of Slack's Web API, a
manual wall clock, and the OMS either real (on the simulator) or mocked with respx."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import respx

from slack_bot.app import build_app
from slack_bot.auth import Authorizer
from slack_bot.blocks import ids
from slack_bot.config import BotSettings
from slack_bot.deps import BotDeps
from slack_bot.oms_client import OmsClient
from slack_bot.server import create_http_app, socket_mode_handler
from tests.oms import OMS, TOKEN
from tests.slack_fakes import (
    BotServer,
    FakeSlackAPI,
    FakeSocketModeServer,
    SlackRequestSigner,
    block_action,
    checkboxes,
    command_payload,
    form_values,
    radio_buttons,
    static_select,
    view_submission,
)
from tests.waiting import wait_until

SECRET = "test-signing-secret"
APP_TOKEN = "xapp" + "-1-test-app-token"  # a fake, split so no scanner takes it for one
MODES = ("http", "socket")  # the two ways Slack reaches the bot
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


@dataclass
class Ack:
    """What Slack got back for a request sent over Socket Mode (the envelope's ack), shaped
    like the HTTP answer the tests read: status 200 once acked, and the payload as JSON."""

    payload: dict[str, Any] | None
    status_code: int = 200

    @property
    def content(self) -> bytes:
        return json.dumps(self.payload).encode() if self.payload else b""

    def json(self) -> dict[str, Any]:
        return self.payload or {}


class Bot:
    """The bot in HTTP mode: requests signed with the signing secret, posted to
    /slack/events; `command`, `submit` and `click` return Slack's view of the answer."""

    mode = "http"

    def __init__(
        self, server: BotServer | None, slack: FakeSlackAPI, deps: BotDeps, clock: ManualClock
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

    def last_view(self) -> dict:
        return self.slack.last("views.update").args["view"]

    def click_button(self, button: dict, user: str = TRADER) -> Any:
        """Press a button element taken from a message the bot sent."""
        return self.click(button["action_id"], button["value"], user)

    def replies(self, name: str) -> list[dict]:
        return [c.args for c in self.slack.calls("response_url") if c.target == name]

    def wait_reply(self, name: str, count: int = 1, timeout: float = 10.0) -> dict:
        """The `count`-th message the bot posted to the response_url `name`."""
        calls = self.slack.wait_for(
            "response_url", count, timeout=timeout, where=lambda c: c.target == name
        )
        return calls[count - 1].args


class SocketBot(Bot):
    """The bot in Socket Mode: the same payloads delivered as envelopes over the websocket the
    bot opened (after apps.connections.open with the app token); answers are the acks."""

    mode = "socket"

    def __init__(
        self,
        socket: FakeSocketModeServer,
        slack: FakeSlackAPI,
        deps: BotDeps,
        clock: ManualClock,
    ) -> None:
        super().__init__(None, slack, deps, clock)
        self.socket = socket

    def _deliver(self, kind: str, payload: dict[str, Any]) -> Ack:
        acked = self.socket.wait_for_ack(self.socket.send(kind, payload), timeout=10)
        return Ack(acked.get("payload"))

    def command(self, command: str, text: str = "", user: str = TRADER) -> Ack:  # type: ignore[override]
        payload = command_payload(
            command, text, user, CHANNEL, self.slack.response_url(command.strip("/"))
        )
        return self._deliver("slash_commands", payload)

    def submit(
        self,
        callback_id: str,
        values: dict,
        metadata: str,
        user: str = TRADER,
        view_id: str = "VMODAL1",
    ) -> dict:
        payload = view_submission(callback_id, values, metadata, user, view_id=view_id)
        return self._deliver("interactive", payload).json()

    def click(self, action_id: str, value: str, user: str = TRADER) -> Ack:  # type: ignore[override]
        payload = block_action(
            action_id, value, user, CHANNEL, None, self.slack.response_url("action")
        )
        return self._deliver("interactive", payload)


def text_of(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False)


def buttons(payload: dict[str, Any], action_id: str) -> list[dict[str, Any]]:
    """The buttons with `action_id` in a message or view (accessories and actions blocks)."""
    found = []
    for block in payload.get("blocks") or []:
        elements = [block.get("accessory") or {}, *(block.get("elements") or [])]
        found += [e for e in elements if e.get("action_id") == action_id]
    return found


def unpaced(oms: OMS) -> OMS:
    """The OMS with a broker budget no test reaches, and the simulator's rate limit off (as
    the benchmarks run them): tests that place hundreds of orders are about the bot, not
    Alpaca's 200 requests a minute. The simulator is reset for every test."""
    from oms_api.broker.budget import make_budget

    oms.runtime.gateway.budget = make_budget(oms.runtime.engine, 100_000_000, 1_000_000)
    oms.sim.control.configure(rate_limit_per_minute=0)
    return oms


@contextmanager
def running_bot(oms_client: OmsClient, mode: str = "http", **overrides: Any) -> Iterator[Bot]:
    """The bot as `oms bot` runs it, in `mode` ("http" or "socket")."""
    clock = ManualClock()
    with FakeSlackAPI() as slack:
        values: dict[str, Any] = {
            "slack_bot_token": "xoxb-test",
            "slack_api_url": slack.base_url,
            "oms_url": OMS_URL,
            "oms_api_token": TOKEN,
            "slack_trader_user_ids": [TRADER],
            "slack_admin_user_ids": [ADMIN],
        }
        if mode == "http":
            values["slack_signing_secret"] = SECRET
        else:
            values["slack_app_token"] = APP_TOKEN
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
        if mode == "http":
            with BotServer(create_http_app(settings, bolt_app=bolt)) as server:
                yield Bot(server, slack, deps, clock)
            return
        with FakeSocketModeServer() as socket:
            slack.socket_mode_url = socket.url
            handler = socket_mode_handler(settings, bolt_app=bolt)
            handler.connect()  # apps.connections.open with the app token, then the websocket
            try:
                socket.wait_connected()
                yield SocketBot(socket, slack, deps, clock)
            finally:
                # Slack's side ends the session first: the client's reader, blocked in a
                # receive with a 3 s timeout, returns at once, and the close does not wait.
                handler.client.auto_reconnect_enabled = False
                socket.drop_connections()
                wait_until(lambda: not handler.client.is_connected(), what="the session to end")
                handler.close()


@dataclass
class OmsTraffic(httpx.BaseTransport):
    """The bot's requests to the OMS, recorded on their way through (`requests`), optionally
    held by `before(request)` (a test's hook, e.g. to see two requests overlap)."""

    inner: httpx.BaseTransport
    before: Callable[[httpx.Request], None] | None = None
    requests: list[httpx.Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
        if self.before is not None:
            self.before(request)
        return self.inner.handle_request(request)

    def paths(self, *, health: bool = False) -> list[str]:
        """The paths asked for (without /api/v1), in order; /health only when asked."""
        with self._lock:
            paths = [r.url.path.removeprefix("/api/v1") for r in self.requests]
        return [p for p in paths if health or p != "/health"]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()


@contextmanager
def bot_on_real_oms(oms: OMS, mode: str = "http", **overrides: Any) -> Iterator[Bot]:
    """The bot talking to the real OMS app (in-process, on the simulator); `bot.oms` is it and
    `bot.oms_traffic` records what the bot asked it."""
    traffic = OmsTraffic(oms.client._transport)
    client = OmsClient("http://testserver", TOKEN, transport=traffic)
    with running_bot(client, mode, **overrides) as bot:
        bot.oms = oms  # type: ignore[attr-defined]
        bot.oms_traffic = traffic  # type: ignore[attr-defined]
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

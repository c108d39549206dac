"""Secrets at DEBUG: with every logger at DEBUG (LOG_LEVEL=DEBUG, every library's logs on), no
Slack secret (bot token, app token, signing secret) and not the OMS token shows up in any log
record, whole or in part, while real requests go through HTTP mode and through Socket Mode.

Everything runs for real over the network: the bot's HTTP endpoint (uvicorn), the OMS app on a
port of its own (httpx, httpcore), a fake Slack Web API (slack_sdk's urllib client), and a fake
Socket Mode websocket that slack_sdk's own client connects to after apps.connections.open."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator

import pytest
from slack_bolt.adapter.socket_mode import SocketModeHandler

from slack_bot.app import build_app
from slack_bot.auth import Authorizer
from slack_bot.blocks import ids
from slack_bot.config import BotSettings
from slack_bot.deps import BotDeps
from slack_bot.oms_client import OmsClient
from slack_bot.server import create_http_app
from tests.oms import OMS
from tests.slack_fakes import (
    BotServer,
    FakeSlackAPI,
    FakeSocketModeServer,
    SlackRequestSigner,
    command_payload,
    view_submission,
)
from tests.slack_harness import CHANNEL, FORM_META, TRADER, oms_over_http, trade_values

# Distinctive values, so that any 8 characters of one found in a log came from it.
BOT_TOKEN = f"xoxb-{secrets.randbelow(10**12):012d}-{secrets.randbelow(10**12):012d}-" + (
    secrets.token_hex(12)
)
APP_TOKEN = (
    "xapp"
    + f"-1-A{secrets.token_hex(5).upper()}-{secrets.randbelow(10**12):012d}-"
    + (secrets.token_hex(32))
)
SIGNING_SECRET = secrets.token_hex(16)
OMS_TOKEN = "oms-" + secrets.token_urlsafe(24)
SECRETS = {
    "SLACK_BOT_TOKEN": BOT_TOKEN,
    "SLACK_APP_TOKEN": APP_TOKEN,
    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    "OMS_API_TOKEN": OMS_TOKEN,
}
FRAGMENT = 8  # "in part": any run of this many characters of a secret


@pytest.fixture
def every_log_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """LOG_LEVEL=DEBUG as the bot sets it (root at DEBUG), with no library turned down or cut
    off: every logger that exists is reset to inherit DEBUG and to propagate to the root."""
    saved = []
    for logger in [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]:
        saved.append((logger, logger.level, logger.propagate, logger.disabled))
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
        logger.disabled = False
    caplog.set_level(logging.DEBUG)
    try:
        yield caplog
    finally:
        for logger, level, propagate, disabled in saved:
            logger.setLevel(level)
            logger.propagate = propagate
            logger.disabled = disabled


def _record_text(record: logging.LogRecord) -> str:
    """Everything a handler could write out for the record."""
    parts = [record.getMessage()]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        parts.append(record.stack_info)
    for value in vars(record).values():  # `extra=` fields a handler may format
        try:
            if isinstance(value, str | bytes):
                parts.append(str(value))
        except ReferenceError:  # a weak proxy whose object is gone: it shows nothing
            continue
    return "\n".join(parts)


def assert_no_secret_logged(records: list[logging.LogRecord]) -> None:
    assert len(records) > 50, "expected the libraries' DEBUG logs; is the level set?"
    leaks = []
    for record in records:
        text = _record_text(record)
        for name, secret in SECRETS.items():
            if any(secret[i : i + FRAGMENT] in text for i in range(len(secret) - FRAGMENT + 1)):
                leaks.append(f"{name} in {record.name} {record.levelname}: {text[:200]!r}")
    assert not leaks, "\n".join(leaks)


def _oms_with_portfolio(oms_factory) -> Iterator[OMS]:
    with oms_factory(oms_api_token=OMS_TOKEN) as oms:
        created = oms.client.post(
            "/api/v1/portfolios",
            json={"name": "main", "allocated_capital": "10000"},
            headers={"Authorization": f"Bearer {OMS_TOKEN}"},
        )
        assert created.status_code == 201, created.text
        yield oms


@pytest.fixture
def oms_url(oms_factory) -> Iterator[str]:
    """The real OMS (token OMS_TOKEN, portfolio main) on a real port, logging at DEBUG too."""
    for oms in _oms_with_portfolio(oms_factory):
        with oms_over_http(oms, log_level="debug", propagate_logs=True) as url:
            yield url


def _settings(slack: FakeSlackAPI, oms_url: str) -> BotSettings:
    return BotSettings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=BOT_TOKEN,
        slack_app_token=APP_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.base_url,
        oms_url=oms_url,
        oms_api_token=OMS_TOKEN,
        slack_trader_user_ids=[TRADER],
        log_level="DEBUG",
    )


def _deps(settings: BotSettings) -> BotDeps:
    return BotDeps(
        settings=settings,
        oms=OmsClient.from_settings(settings),
        authorizer=Authorizer(settings),
        fill_watch_checks=0,
    )


def test_secrets_at_debug_never_logged_in_http_mode(
    every_log_at_debug: pytest.LogCaptureFixture, oms_url: str
) -> None:
    with FakeSlackAPI() as slack:
        settings = _settings(slack, oms_url)
        app = create_http_app(settings, bolt_app=build_app(settings, deps=_deps(settings)))
        with BotServer(app, log_level="debug", propagate_logs=True) as bot:
            signer = SlackRequestSigner(SIGNING_SECRET)
            command = signer.command("/trade", "AAPL", TRADER, CHANNEL, slack.response_url())
            assert bot.post_signed(*command).status_code == 200
            slack.wait_for("views.update")
            view_id = slack.last("views.update").args["view_id"]

            form = view_submission(ids.TRADE_FORM, trade_values(), FORM_META, TRADER, view_id)
            answer = bot.post_signed(*signer.interaction(form))
            confirm = answer.json()["view"]
            placed = view_submission(
                ids.TRADE_CONFIRM, {}, confirm["private_metadata"], TRADER, view_id
            )
            assert bot.post_signed(*signer.interaction(placed)).status_code == 200
            assert "filled" in json.dumps(slack.wait_for("chat.postMessage")[-1].args)

            positions = signer.command("/positions", "", TRADER, CHANNEL, slack.response_url())
            assert bot.post_signed(*positions).status_code == 200
            slack.wait_for("response_url")
            forged = SlackRequestSigner("not-the-secret").command(
                "/trade", "AAPL", TRADER, CHANNEL, slack.response_url()
            )
            assert bot.post_signed(*forged).status_code == 401
    assert_no_secret_logged(every_log_at_debug.records)


def test_secrets_at_debug_never_logged_in_socket_mode(
    every_log_at_debug: pytest.LogCaptureFixture, oms_url: str
) -> None:
    with FakeSlackAPI() as slack, FakeSocketModeServer() as socket_mode:
        slack.socket_mode_url = socket_mode.url
        settings = _settings(slack, oms_url)
        handler = SocketModeHandler(build_app(settings, deps=_deps(settings)), APP_TOKEN)
        handler.connect()  # apps.connections.open with the app token, then the websocket
        try:
            socket_mode.wait_connected()
            envelope = socket_mode.send(
                "slash_commands",
                command_payload("/trade", "AAPL", TRADER, CHANNEL, slack.response_url()),
            )
            socket_mode.wait_for_ack(envelope)
            slack.wait_for("views.update")
            view_id = slack.last("views.update").args["view_id"]

            form = view_submission(ids.TRADE_FORM, trade_values(), FORM_META, TRADER, view_id)
            answer = socket_mode.wait_for_ack(socket_mode.send("interactive", form))
            confirm = answer["payload"]["view"]
            placed = view_submission(
                ids.TRADE_CONFIRM, {}, confirm["private_metadata"], TRADER, view_id
            )
            socket_mode.wait_for_ack(socket_mode.send("interactive", placed))
            assert "filled" in json.dumps(slack.wait_for("chat.postMessage")[-1].args)
        finally:
            handler.close()
    assert slack.calls("apps.connections.open")[0].token == APP_TOKEN  # it did connect
    assert_no_secret_logged(every_log_at_debug.records)

"""The bolt app: commands, modals and buttons wired to the OMS client."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from slack_bot import listeners
from slack_bot.auth import Authorizer
from slack_bot.config import BotSettings
from slack_bot.deps import BotDeps
from slack_bot.oms_client import OmsClient

log = logging.getLogger(__name__)


def build_web_client(settings: BotSettings) -> WebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    kwargs: dict[str, Any] = {"token": token}
    if settings.slack_api_url:
        kwargs["base_url"] = settings.slack_api_url
    client = WebClient(**kwargs)
    # chat.postMessage is rate limited per channel: wait out a 429 instead of losing the message.
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    return client


def build_app(
    settings: BotSettings,
    *,
    oms: OmsClient | None = None,
    web_client: WebClient | None = None,
    deps: BotDeps | None = None,
) -> App:
    secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    )
    app = App(
        client=web_client or build_web_client(settings),
        signing_secret=secret or "socket-mode-has-no-signing-secret",
        # Socket Mode requests arrive over an authenticated websocket, not signed HTTP.
        request_verification_enabled=secret is not None,
        token_verification_enabled=False,  # no auth.test at start-up (offline tests, fast boot)
        # Acks come first in every listener; the executor only has to start them promptly.
        listener_executor=ThreadPoolExecutor(max_workers=16, thread_name_prefix="bolt"),
        logger=log,
    )
    deps = deps or BotDeps(
        settings=settings,
        oms=oms or OmsClient.from_settings(settings),
        authorizer=Authorizer(settings),
    )
    app.deps = deps  # type: ignore[attr-defined]

    @app.middleware
    def _inject_deps(context: Any, next: Any) -> None:
        context["deps"] = deps
        next()

    listeners.register(app)
    return app
